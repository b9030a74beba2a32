"""Host, Company and Preferences: what QuickBooks says about itself.

The Web Connector sends these three queries itself at the start of a session and hands the
answer to the server as ``strHCPResponse``; the sandbox answers them from here, so the
``strHCPResponse`` a gateway receives is what this company file really says.
"""

from __future__ import annotations

from lxml import etree

__all__ = ["HCP_REQUEST", "company_ret", "host_ret", "preferences_ret"]

PRODUCT = "QuickBooks Enterprise Solutions: Contractor 24.0 (sandbox)"

HCP_REQUEST = """<?xml version="1.0" encoding="utf-8"?>
<?qbxml version="{version}"?>
<QBXML><QBXMLMsgsRq onError="continueOnError">
<HostQueryRq requestID="0"/><CompanyQueryRq requestID="1"/><PreferencesQueryRq requestID="2"/>
</QBXMLMsgsRq></QBXML>"""


def _add(parent: etree._Element, *pairs: tuple[str, str]) -> None:
    for name, value in pairs:
        etree.SubElement(parent, name).text = value


def host_ret(versions: tuple[str, ...]) -> etree._Element:
    ret = etree.Element("HostRet")
    _add(ret, ("ProductName", PRODUCT), ("MajorVersion", "34"), ("MinorVersion", "0"))
    _add(ret, ("Country", "US"), *(("SupportedQBXMLVersion", v) for v in versions))
    _add(ret, ("IsAutomaticLogin", "false"), ("QBFileMode", "SingleUser"))
    return ret


def company_ret(name: str) -> etree._Element:
    ret = etree.Element("CompanyRet")
    _add(ret, ("IsSampleCompany", "false"), ("CompanyName", name), ("LegalCompanyName", name))
    address = etree.SubElement(ret, "Address")
    _add(address, ("City", "Mountain View"), ("State", "CA"), ("Country", "US"))
    _add(ret, ("FirstMonthFiscalYear", "January"), ("FirstMonthIncomeTaxYear", "January"))
    return ret


def preferences_ret(closing_date: str | None) -> etree._Element:
    ret = etree.Element("PreferencesRet")
    accounting = etree.SubElement(ret, "AccountingPreferences")
    _add(
        accounting,
        ("IsUsingAccountNumbers", "false"),
        ("IsRequiringAccounts", "true"),
        ("IsUsingClassTracking", "true"),
        ("IsUsingAuditTrail", "true"),
        ("IsAssigningJournalEntryNumbers", "true"),
    )
    if closing_date:
        _add(accounting, ("ClosingDate", closing_date))
    jobs = etree.SubElement(ret, "JobsAndEstimatesPreferences")
    _add(
        jobs,
        ("IsUsingEstimates", "true"),
        ("IsUsingProgressInvoicing", "false"),
        ("IsPrintingItemsWithZeroAmounts", "false"),
    )
    purchases = etree.SubElement(ret, "PurchasesAndVendorsPreferences")
    _add(
        purchases,
        ("IsUsingInventory", "true"),
        ("DaysBillsAreDue", "10"),
        ("IsAutomaticallyUsingDiscounts", "false"),
    )
    sales = etree.SubElement(ret, "SalesAndCustomersPreferences")
    _add(
        sales, ("IsTrackingReimbursedExpensesAsIncome", "false"), ("IsAutoApplyingPayments", "true")
    )
    time_tracking = etree.SubElement(ret, "TimeTrackingPreferences")
    _add(time_tracking, ("FirstDayOfWeek", "Monday"))
    rights = etree.SubElement(ret, "CurrentAppAccessRights")
    _add(rights, ("IsAutomaticLoginAllowed", "true"), ("IsPersonalDataAccessAllowed", "false"))
    return ret
