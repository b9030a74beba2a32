"""QuickBooks Online shapes: the second column of an entity's rule (``EntityRule.qbo``).

The same payload, settings and references (:class:`Refs`: dependencies, waiting) as the
qbXML column; only the values differ, in the JSON form Intuit's v3 API takes (``Id`` and
``SyncToken`` are added for changes, which are sparse updates: only the fields sent change).
Pure: no I/O, no clock: rules only the company can answer (its start date, a worker's day in
QBO) are named in ``QboShape.checks`` and checked by the sender (``connectors.qbo._checks``).
Customers and their projects (sub-customers), invoices, payments, items, vendors,
employees, time, bills, expenses paid at once, accounts and classes (docs/qbo.md, "Modules
and directions").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.qbo import (
    ACCOUNT_TYPES,
    PROJECT_INCOME_ACCOUNT,
    QboEntityRequest,
    QboOperation,
    account_problem,
)
from connectors.store import Mapping as IdMapping
from streams.rules._base import (
    CUSTOMER_OR_JOB,
    Refs,
    cased,
    customer_name,
    job_name,
    person,
    text,
)
from streams.rules._lists import vendor_name
from streams.rules._transactions import draft
from streams.tenant_settings import TenantSettings

__all__ = [
    "QboShape",
    "account",
    "account_refused",
    "bill",
    "customer",
    "employee",
    "invoice",
    "invoice_withheld",
    "item",
    "job",
    "klass",
    "payment",
    "purchase",
    "time_activity",
    "time_refused",
    "time_skipped",
    "vendor",
]


@dataclass(frozen=True)
class QboShape:
    """``entity``: QBO's name for it; ``values``: the payload as QBO's JSON (create form);
    ``is_list``: lists are made inactive, transactions voided (QBO deletes neither kind when
    the app deactivates a record)."""

    entity: str
    values: Callable[[Mapping[str, Any], TenantSettings, Refs], dict[str, Any]]
    is_list: bool = True
    # Why a record synced once is never sent again (time entries), or None.
    once: str | None = None
    # Synced once, never updated, but sent again when it is missing in QBO (deleted there):
    # the sender reads it first (``QboOperation.ENSURE``); bills and payments (the issue).
    resend_if_missing: bool = False
    # The rules for QBO: why a record is refused (a dead letter with the reason) or
    # deliberately not sent; None when it may go.
    refuse: Callable[[Mapping[str, Any]], str | None] = lambda _payload: None
    skip: Callable[[Mapping[str, Any]], str | None] = lambda _payload: None
    # When set, replaces the rule's (Desktop's) ``skip`` for QBO: the QBO rules
    # differ (a $0 invoice with a discount or retainer is sent to QBO).
    withhold: Callable[[Mapping[str, Any], TenantSettings], str | None] | None = None
    # Rules only the company can answer, checked by the sender before the write
    # (``connectors.qbo._checks.CHECKS``): "start-date", "day-limit".
    checks: tuple[str, ...] = ()

    def request(
        self, values: Mapping[str, Any], mapping: IdMapping | None, *, deactivate: bool = False
    ) -> QboEntityRequest:
        """Create when not mapped yet; else a sparse update with the stored SyncToken; a
        deactivated transaction is voided."""
        if mapping is None:
            return QboEntityRequest(QboOperation.CREATE, self.entity, _clean(values), self.checks)
        token = {"Id": mapping.qb_id, "SyncToken": mapping.edit_sequence or "0"}
        if self.resend_if_missing and not deactivate:
            return QboEntityRequest(
                QboOperation.ENSURE,
                self.entity,
                {**_clean(values), "Id": mapping.qb_id},
                self.checks,
            )
        if deactivate and not self.is_list:
            return QboEntityRequest(QboOperation.VOID, self.entity, token)
        return QboEntityRequest(
            QboOperation.SPARSE, self.entity, {**_clean(values), **token}, self.checks
        )


def _clean(value: Any) -> Any:
    """JSON values: None dropped, dates as ISO text, decimals as numbers."""
    if isinstance(value, Mapping):
        cleaned = {k: _clean(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ref(found: Mapping[str, str] | None) -> dict[str, str] | None:
    """A qbXML-style reference (``ListID`` or ``FullName``) in QBO's form."""
    if not found:
        return None
    if "ListID" in found:
        return {"value": found["ListID"]}
    return {"name": found["FullName"]}


def _address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "Line1": address.get("line1"),
        "Line2": address.get("line2"),
        "City": address.get("city"),
        "CountrySubDivisionCode": address.get("state"),
        "PostalCode": address.get("postal_code"),
        "Country": address.get("country"),
    }


def customer(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "DisplayName": customer_name(p, s),
        "Active": p.get("is_active", True),
        "CompanyName": p.get("company_name"),
        "GivenName": p.get("first_name"),
        "FamilyName": p.get("last_name"),
        "BillAddr": _address(p.get("bill_address")),
        "ShipAddr": _address(p.get("ship_address")),
        "PrimaryPhone": {"FreeFormNumber": p["phone"]} if p.get("phone") else None,
        "PrimaryEmailAddr": {"Address": p["email"]} if p.get("email") else None,
        "SalesTermRef": _ref(refs.ref(p.get("terms"), "terms")),
    }


def job(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """A project is a sub-customer: a Customer with ``Job: true`` under its client
    (``ParentRef``), which must be in QBO first (the reference makes the event wait)."""
    return {
        "DisplayName": job_name(p, s),
        "Job": True,
        "ParentRef": _ref(refs.ref(p.get("parent_customer"), "customer")),
        "BillWithParent": True,
        "Active": p.get("is_active", True),
        "Notes": p.get("description"),
        "ShipAddr": _address(p.get("job_address")),
    }


def account(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """An account of the chart; the app's type is QBO's ``AccountType``, its optional
    ``sub_type`` QBO's ``AccountSubType`` (checked by :func:`account_refused`)."""
    kind = ACCOUNT_TYPES.get(str(p.get("account_type") or ""))
    return {
        "Name": cased(text(p.get("name")), s),
        "AcctNum": p.get("number"),
        "AccountType": kind,
        "AccountSubType": p.get("sub_type"),
        "Description": p.get("description"),
        "ParentRef": _ref(refs.ref(p.get("parent"), "account")),
        "SubAccount": True if p.get("parent") else None,
        "Active": p.get("is_active", True),
    }


def account_refused(p: Mapping[str, Any]) -> str | None:
    return account_problem(str(p.get("account_type") or ""), p.get("sub_type"))


def klass(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "Name": cased(text(p.get("name")), s),
        "ParentRef": _ref(refs.ref(p.get("parent"), "class")),
        "SubClass": True if p.get("parent") else None,
        "Active": p.get("is_active", True),
    }


def _named(name: str | None) -> dict[str, str] | None:
    """A reference by a configured name (the sender's ``names`` check makes it an Id)."""
    return {"name": name} if name else None


def invoice(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """Lines without a tax code get the project's (the invoice's customer, when it is a
    project with ``qbo_project_defaults``), else the tenant's ``qbo_item_defaults.tax_code``.
    A project with its own ``income_account``: each line names it beside its item, and the
    sender re-points the line at the project's copy of the item booked there (the
    ``project-items`` check, ``connectors.qbo._project_items``)."""
    project_id = (p.get("customer") or {}).get("id")
    tax_code = s.qbo_defaults(project_id).tax_code
    project = s.qbo_project_defaults.get(project_id or "")
    income = project.income_account if project is not None else None
    return {
        "CustomerRef": _ref(refs.ref(p.get("customer"), *CUSTOMER_OR_JOB)),
        "TxnDate": p.get("txn_date"),
        "DocNumber": p.get("ref_number"),
        "DueDate": p.get("due_date"),
        "PrivateNote": p.get("memo"),
        "ShipAddr": _address(p.get("ship_address")),
        "SalesTermRef": _ref(refs.ref(p.get("terms"), "terms")),
        "Line": [
            {
                "Amount": line.get("amount"),
                "Description": line.get("description"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": _ref(refs.ref(line.get("item"), "item")),
                    "Qty": line.get("quantity"),
                    "UnitPrice": line.get("rate"),
                    "TaxCodeRef": _tax_code(line, tax_code, s),
                    PROJECT_INCOME_ACCOUNT: income if line.get("item") else None,
                },
            }
            for line in p.get("lines") or []
        ],
    }


# A US company's sales tax codes, whose Ids are these words; any other code is the
# company's own (``GST``, ``Exempt`` ...), sent by name for the sender to look up.
_US_TAX_CODES = frozenset({"TAX", "NON"})


def _tax_code(line: Mapping[str, Any], default: str | None, s: TenantSettings) -> Any:
    own = (line.get("sales_tax_code") or {}).get("full_name")
    code = s.tax_code(own) if own else default
    if not code:
        return None
    if code.upper() in _US_TAX_CODES or code.isdigit():  # an Id already
        return {"value": code.upper()}
    return _named(code)


def _contact(p: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "PrimaryPhone": {"FreeFormNumber": p["phone"]} if p.get("phone") else None,
        "PrimaryEmailAddr": {"Address": p["email"]} if p.get("email") else None,
    }


def vendor(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "DisplayName": vendor_name(p, s),
        "Active": p.get("is_active", True),
        "CompanyName": p.get("company_name"),
        "GivenName": p.get("first_name"),
        "FamilyName": p.get("last_name"),
        "BillAddr": _address(p.get("address")),
        "TermRef": _ref(refs.ref(p.get("terms"), "terms")),
        "Vendor1099": p.get("is_1099"),
        **_contact(p),
    }


def employee(p: Mapping[str, Any], s: TenantSettings, _refs: Refs) -> dict[str, Any]:
    """QBO has no 1099-worker routing: a 1099 worker is sent as a vendor by the vendor rule
    when the app publishes it as one."""
    return {
        "DisplayName": cased(person(p, s), s),
        "Active": p.get("is_active", True),
        "GivenName": cased(text(p.get("first_name")), s) or None,
        "FamilyName": cased(text(p.get("last_name")), s) or None,
        "PrimaryAddr": _address(p.get("address")),
        **_contact(p),
    }


# QBO's item types (no "other charge": a non-inventory item is the nearest).
_ITEM_TYPES = {
    "SERVICE": "Service",
    "NON_INVENTORY": "NonInventory",
    "OTHER_CHARGE": "NonInventory",
    "INVENTORY": "Inventory",
}


def item(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    kind = _ITEM_TYPES[p.get("item_type") or "SERVICE"]
    defaults = s.qbo_item_defaults
    values = {
        "Name": cased(text(p.get("name")), s),
        "Type": kind,
        "Active": p.get("is_active", True),
        "Description": p.get("description"),
        "UnitPrice": p.get("price"),
        # The item's own accounts, else the tenant's defaults (by name: the sender's
        # ``names`` check sends the company's Id).
        "IncomeAccountRef": _ref(refs.ref(p.get("income_account"), "account"))
        or _named(defaults.income_account),
        "PurchaseDesc": p.get("purchase_description"),
        "PurchaseCost": p.get("cost"),
        "ExpenseAccountRef": _ref(refs.ref(p.get("expense_account"), "account"))
        or (_named(defaults.expense_account) if kind != "Service" else None),
        "ParentRef": _ref(refs.ref(p.get("parent"), "item")),
        "SubItem": True if p.get("parent") else None,
    }
    if kind == "Inventory":
        values |= {
            "TrackQtyOnHand": True,
            "AssetAccountRef": _ref(refs.ref(p.get("asset_account"), "account")),
        }
    return values


def payment(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """One Payment, one line per invoice it pays (each line linked to its invoice); an
    invoice not in QBO yet makes the payment wait (``Refs``). The deposit account: the
    payment's own, else the tenant's (``deposit_to=account``), else none, which QBO takes as
    Undeposited Funds."""
    deposit = _ref(refs.ref(p.get("deposit_to"), "account"))
    if deposit is None and s.deposit_to == "account" and s.deposit_account:
        deposit = {"name": s.deposit_account}
    return {
        "CustomerRef": _ref(refs.ref(p.get("customer"), *CUSTOMER_OR_JOB)),
        "TxnDate": p.get("txn_date"),
        "TotalAmt": p.get("amount"),
        "PaymentRefNum": p.get("reference"),
        "PaymentMethodRef": _ref(refs.ref(p.get("payment_method"), "payment_method")),
        "PrivateNote": p.get("memo"),
        "DepositToAccountRef": deposit,
        "Line": [
            {
                "Amount": amount,
                "LinkedTxn": [
                    {"TxnId": refs.txn_id(applied["transaction"], "invoice"), "TxnType": "Invoice"}
                ],
            }
            for applied in p.get("applied_to") or []
            if (amount := applied.get("amount")) is not None
        ],
    }


def _job_costing(line: Mapping[str, Any], refs: Refs) -> dict[str, Any]:
    """What a cost line says about the customer:job it is for (and whether it is billed on)."""
    return {
        "CustomerRef": _ref(refs.ref(line.get("customer"), *CUSTOMER_OR_JOB)),
        "ClassRef": _ref(refs.ref(line.get("class"), "class")),
        "BillableStatus": "Billable" if line.get("is_billable") else "NotBillable",
    }


def _expense_account(line: Mapping[str, Any], s: TenantSettings, refs: Refs) -> Any:
    """A cost line's account: its project's ``qbo_project_defaults.<job>.expense_account``
    when set (the project's costs go there, whatever account the line names), else the
    line's own, else the tenant's ``qbo_item_defaults.expense_account``; a setting by name
    (the sender's ``names`` check sends the company's Id)."""
    project = s.qbo_project_defaults.get((line.get("customer") or {}).get("id") or "")
    if project is not None and project.expense_account:
        return _named(project.expense_account)
    own = _ref(refs.ref(line.get("account"), "account"))
    return own if own is not None else _named(s.qbo_item_defaults.expense_account)


def _cost_lines(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> list[dict[str, Any]]:
    """A bill's or an expense's lines: those booked to accounts, then those for items, each
    with the customer:job it is for (job costing) and whether it is billable on."""
    expense = [
        {
            "Amount": line.get("amount"),
            "Description": line.get("memo"),
            "DetailType": "AccountBasedExpenseLineDetail",
            "AccountBasedExpenseLineDetail": {
                "AccountRef": _expense_account(line, s, refs),
                **_job_costing(line, refs),
            },
        }
        for line in p.get("expense_lines") or []
    ]
    items = [
        {
            "Amount": line.get("amount"),
            "Description": line.get("description"),
            "DetailType": "ItemBasedExpenseLineDetail",
            "ItemBasedExpenseLineDetail": {
                "ItemRef": _ref(refs.ref(line.get("item"), "item")),
                "Qty": line.get("quantity"),
                "UnitPrice": line.get("cost"),
                **_job_costing(line, refs),
            },
        }
        for line in p.get("item_lines") or []
    ]
    return expense + items


def bill(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """A vendor bill: what is owed the vendor, paid later."""
    return {
        "VendorRef": _ref(refs.ref(p.get("vendor"), "vendor", "employee")),
        "TxnDate": p.get("txn_date"),
        "DueDate": p.get("due_date"),
        "DocNumber": p.get("ref_number"),
        "PrivateNote": p.get("memo"),
        "SalesTermRef": _ref(refs.ref(p.get("terms"), "terms")),
        "Line": _cost_lines(p, s, refs),
    }


_PAYMENT_TYPES = {"CHECK": "Check", "CREDIT_CARD": "CreditCard", "CASH": "Cash"}


def purchase(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """An expense paid at once (QBO's ``Purchase``): how it was paid, the bank or card account
    it was paid from, the vendor or employee paid (``EntityRef`` says which), the bill's lines."""
    payee = _ref(refs.ref(p.get("payee"), "vendor", "employee"))
    if payee is not None and "value" in payee:
        paid = refs.mapped_as(p.get("payee"), "vendor", "employee")
        payee = {**payee, "type": "Employee" if paid == "employee" else "Vendor"}
    return {
        "PaymentType": _PAYMENT_TYPES[str(p.get("payment_type") or "CHECK")],
        "AccountRef": _ref(refs.ref(p.get("paid_from"), "account")),
        "EntityRef": payee,
        "TxnDate": p.get("txn_date"),
        "DocNumber": p.get("ref_number"),
        "PrivateNote": p.get("memo"),
        "Line": _cost_lines(p, s, refs),
    }


_DAY_MINUTES = 24 * 60


def time_activity(p: Mapping[str, Any], _s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """A TimeActivity for the employee (or, for a 1099 worker synced as a vendor, the
    vendor) who did the work, in whole hours and minutes."""
    worker = _ref(refs.ref(p.get("employee"), "employee", "vendor"))
    as_vendor = refs.mapped_as(p.get("employee"), "employee", "vendor") == "vendor"
    minutes = int(p.get("duration_minutes") or 0)
    return {
        "NameOf": "Vendor" if as_vendor else "Employee",
        "VendorRef" if as_vendor else "EmployeeRef": worker,
        "TxnDate": p.get("date"),
        "Hours": minutes // 60,
        "Minutes": minutes % 60,
        "CustomerRef": _ref(refs.ref(p.get("customer"), *CUSTOMER_OR_JOB)),
        "ItemRef": _ref(refs.ref(p.get("service_item"), "item")),
        "ClassRef": _ref(refs.ref(p.get("class"), "class")),
        "BillableStatus": "Billable" if p.get("is_billable") else "NotBillable",
        "Description": p.get("memo"),
    }


def time_refused(p: Mapping[str, Any]) -> str | None:
    minutes = int(p.get("duration_minutes") or 0)
    if minutes > _DAY_MINUTES:
        return (
            f"duration_minutes is {minutes}: more than 24 hours in one day is refused; "
            "split the entry by day in the app"
        )
    return None


def time_skipped(p: Mapping[str, Any]) -> str | None:
    if int(p.get("duration_minutes") or 0) < 0:
        return "negative hours are not sent to QuickBooks Online"
    approval = p.get("approval") or "APPROVED"
    if approval != "APPROVED":
        return (
            f"approval is {approval}: only approved time entries are sent to QuickBooks "
            "Online (sent once approved)"
        )
    return None


def invoice_withheld(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    """Drafts (statuses the tenant does not sync) are not sent; neither is a $0 invoice,
    unless a discount or retainer brings it to zero (a negative line: the work and what was
    taken off are the record the customer gets)."""
    amounts = [Decimal(line.get("amount") or 0) for line in p.get("lines") or []]
    if sum(amounts, Decimal(0)) == 0 and not any(a < 0 for a in amounts):
        return "$0 invoices are not sent to QuickBooks Online (unless a discount or retainer)"
    return draft(p, s)
