"""QBO's account types and subtypes, as data: which ``AccountSubType`` each ``AccountType``
accepts, and the app's account types (``com.qbsync.events.AccountType``) in QBO's words.

Source of the table: Intuit's Account entity reference, attribute ``AccountSubType``
(developer.intuit.com, .../api/accounting/all-entities/account: one list per account type,
"Default" and "Available with minor version: 13"; qbsync sends ``minorversion`` 75, so both
apply), as transcribed in public repositories; every name cross-checked against the
``AccountSubTypeEnum`` of Intuit's SDKs (QuickBooks-V3-Java-SDK ``Finance.xsd`` names 173 of
them, some without a type on the reference page: ``Communications``, ``DeferredRevenue``,
the ``Withholding*`` and ``*HomeOffice`` ones, ...; and the page's spellings such as
``AccruedLongLermLiabilities`` are Intuit's own).

Two readings of the table:

- :func:`account_problem`, the worker's rule, refuses before anything is sent only a
  subtype the table knows belongs to *other* account types (``Checking`` for an Expense
  account), naming the field and the valid values; a subtype the table does not know at all
  goes to QBO, which judges it (a newer or locale-specific subtype is not dead-lettered by
  qbsync's table being behind Intuit's).
- :func:`qbo_account_problem` is QBO's own strict answer (the sandbox's 2170): any subtype
  not in the type's list is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["ACCOUNT_SUB_TYPES", "ACCOUNT_TYPES", "account_problem", "qbo_account_problem"]

# The app's AccountType symbols -> QBO's AccountType (NON_POSTING has none in QBO).
ACCOUNT_TYPES: Mapping[str, str] = {
    "BANK": "Bank",
    "ACCOUNTS_RECEIVABLE": "Accounts Receivable",
    "OTHER_CURRENT_ASSET": "Other Current Asset",
    "FIXED_ASSET": "Fixed Asset",
    "OTHER_ASSET": "Other Asset",
    "ACCOUNTS_PAYABLE": "Accounts Payable",
    "CREDIT_CARD": "Credit Card",
    "OTHER_CURRENT_LIABILITY": "Other Current Liability",
    "LONG_TERM_LIABILITY": "Long Term Liability",
    "EQUITY": "Equity",
    "INCOME": "Income",
    "COST_OF_GOODS_SOLD": "Cost of Goods Sold",
    "EXPENSE": "Expense",
    "OTHER_INCOME": "Other Income",
    "OTHER_EXPENSE": "Other Expense",
}

ACCOUNT_SUB_TYPES: Mapping[str, tuple[str, ...]] = {
    "Bank": (
        "CashOnHand", "Checking", "MoneyMarket", "RentsHeldInTrust", "Savings", "TrustAccounts",
        # minorversion 13 and later
        "CashAndCashEquivalents", "OtherEarMarkedBankAccounts",
    ),
    "Other Current Asset": (
        "AllowanceForBadDebts", "DevelopmentCosts", "EmployeeCashAdvances", "OtherCurrentAssets",
        "Inventory", "Investment_MortgageRealEstateLoans", "Investment_Other",
        "Investment_TaxExemptSecurities", "Investment_USGovernmentObligations", "LoansToOfficers",
        "LoansToOthers", "LoansToStockholders", "PrepaidExpenses", "Retainage",
        "UndepositedFunds",
        # minorversion 13 and later
        "AssetsAvailableForSale", "BalWithGovtAuthorities", "CalledUpShareCapitalNotPaid",
        "ExpenditureAuthorisationsAndLettersOfCredit", "GlobalTaxDeferred", "GlobalTaxRefund",
        "InternalTransfers", "OtherConsumables", "ProvisionsCurrentAssets",
        "ShortTermInvestmentsInRelatedParties", "ShortTermLoansAndAdvancesToRelatedParties",
        "TradeAndOtherReceivables",
    ),
    "Fixed Asset": (
        "AccumulatedDepletion", "AccumulatedDepreciation", "DepletableAssets",
        "FixedAssetComputers", "FixedAssetCopiers", "FixedAssetFurniture", "FixedAssetPhone",
        "FixedAssetPhotoVideo", "FixedAssetSoftware", "FixedAssetOtherToolsEquipment",
        "FurnitureAndFixtures", "Land", "LeaseholdImprovements", "OtherFixedAssets",
        "AccumulatedAmortization", "Buildings", "IntangibleAssets", "MachineryAndEquipment",
        "Vehicles",
        # minorversion 13 and later
        "AssetsInCourseOfConstruction", "CapitalWip", "CumulativeDepreciationOnIntangibleAssets",
        "IntangibleAssetsUnderDevelopment", "LandAsset", "NonCurrentAssets",
        "ParticipatingInterests", "ProvisionsFixedAssets",
    ),
    "Other Asset": (
        "LeaseBuyout", "OtherLongTermAssets", "SecurityDeposits",
        "AccumulatedAmortizationOfOtherAssets", "Goodwill", "Licenses", "OrganizationalCosts",
        # minorversion 13 and later
        "AssetsHeldForSale", "AvailableForSaleFinancialAssets", "DeferredTax", "Investments",
        "LongTermInvestments", "LongTermLoansAndAdvancesToRelatedParties",
        "OtherIntangibleAssets", "OtherLongTermInvestments", "OtherLongTermLoansAndAdvances",
        "PrepaymentsAndAccruedIncome", "ProvisionsNonCurrentAssets",
    ),
    "Accounts Receivable": (
        "AccountsReceivable",
    ),
    "Equity": (
        "OpeningBalanceEquity", "PartnersEquity", "RetainedEarnings", "AccumulatedAdjustment",
        "OwnersEquity", "PaidInCapitalOrSurplus", "PartnerContributions", "PartnerDistributions",
        "PreferredStock", "CommonStock", "TreasuryStock", "EstimatedTaxes", "Healthcare",
        "PersonalIncome", "PersonalExpense",
        # minorversion 13 and later
        "AccumulatedOtherComprehensiveIncome", "CalledUpShareCapital", "CapitalReserves",
        "DividendDisbursed", "EquityInEarningsOfSubsiduaries", "InvestmentGrants",
        "MoneyReceivedAgainstShareWarrants", "OtherFreeReserves",
        "ShareApplicationMoneyPendingAllotment", "ShareCapital", "Funds",
    ),
    "Expense": (
        "AdvertisingPromotional", "BadDebts", "BankCharges", "CharitableContributions",
        "CommissionsAndFees", "Entertainment", "EntertainmentMeals", "EquipmentRental",
        "FinanceCosts", "GlobalTaxExpense", "Insurance", "InterestPaid", "LegalProfessionalFees",
        "OfficeExpenses", "OfficeGeneralAdministrativeExpenses", "OtherBusinessExpenses",
        "OtherMiscellaneousServiceCost", "PromotionalMeals", "RentOrLeaseOfBuildings",
        "RepairMaintenance", "ShippingFreightDelivery", "SuppliesMaterials", "Travel",
        "TravelMeals", "Utilities", "Auto", "CostOfLabor", "DuesSubscriptions", "PayrollExpenses",
        "TaxesPaid", "UnappliedCashBillPaymentExpense",
        # minorversion 13 and later
        "AmortizationExpense", "AppropriationsToDepreciation", "BorrowingCost",
        "DistributionCosts", "ExternalServices", "ExtraordinaryCharges", "IncomeTaxExpense",
        "LossOnDiscontinuedOperationsNetOfTax", "ManagementCompensation",
        "OtherCurrentOperatingCharges", "OtherExternalServices", "OtherRentalCosts",
        "OtherSellingExpenses", "ProjectStudiesSurveysAssessments", "PurchasesRebates",
        "ShippingAndDeliveryExpense", "StaffCosts", "Sundry",
        "TravelExpensesGeneralAndAdminExpenses", "TravelExpensesSellingExpense",
    ),
    "Other Expense": (
        "Depreciation", "ExchangeGainOrLoss", "OtherMiscellaneousExpense", "PenaltiesSettlements",
        "Amortization", "GasAndFuel", "HomeOffice", "HomeOwnerRentalInsurance",
        "OtherHomeOfficeExpenses", "MortgageInterest", "RentAndLease", "RepairsAndMaintenance",
        "ParkingAndTolls", "Vehicle", "VehicleInsurance", "VehicleLease", "VehicleLoanInterest",
        "VehicleLoan", "VehicleRegistration", "VehicleRepairs", "OtherVehicleExpenses",
        "Utilities", "WashAndRoadServices",
        # minorversion 13 and later
        "DeferredTaxExpense", "Depletion", "ExceptionalItems", "ExtraordinaryItems",
        "IncomeTaxOtherExpense", "MatCredit", "PriorPeriodItems", "TaxRoundoffGainOrLoss",
    ),
    "Cost of Goods Sold": (
        "EquipmentRentalCos", "OtherCostsOfServiceCos", "ShippingFreightDeliveryCos",
        "SuppliesMaterialsCogs", "CostOfLaborCos",
        # minorversion 13 and later
        "CostOfSales", "FreightAndDeliveryCost",
    ),
    "Accounts Payable": (
        "AccountsPayable",
        # minorversion 13 and later
        "OutstandingDuesMicroSmallEnterprise", "OutstandingDuesOtherThanMicroSmallEnterprise",
    ),
    "Credit Card": (
        "CreditCard",
    ),
    "Long Term Liability": (
        "NotesPayable", "OtherLongTermLiabilities", "ShareholderNotesPayable",
        # minorversion 13 and later
        "AccrualsAndDeferredIncome", "AccruedLongLermLiabilities", "AccruedVacationPayable",
        "BankLoans", "DebtsRelatedToParticipatingInterests", "DeferredTaxLiabilities",
        "GovernmentAndOtherPublicAuthorities", "GroupAndAssociates",
        "LiabilitiesRelatedToAssetsHeldForSale", "LongTermBorrowings", "LongTermDebit",
        "LongTermEmployeeBenefitObligations", "ObligationsUnderFinanceLeases",
        "OtherLongTermProvisions", "ProvisionForLiabilities", "ProvisionsNonCurrentLiabilities",
        "StaffAndRelatedLongTermLiabilityAccounts",
    ),
    "Other Current Liability": (
        "DirectDepositPayable", "LineOfCredit", "LoanPayable", "GlobalTaxPayable",
        "GlobalTaxSuspense", "OtherCurrentLiabilities", "PayrollClearing", "PayrollTaxPayable",
        "PrepaidExpensesPayable", "RentsInTrustLiability", "TrustAccountsLiabilities",
        "FederalIncomeTaxPayable", "InsurancePayable", "SalesTaxPayable",
        "StateLocalIncomeTaxPayable",
        # minorversion 13 and later
        "AccruedLiabilities", "CurrentLiabilities", "CurrentPortionEmployeeBenefitsObligations",
        "CurrentPortionOfObligationsUnderFinanceLeases", "CurrentTaxLiability",
        "DividendsPayable", "DutiesAndTaxes", "InterestPayables",
        "ProvisionForWarrantyObligations", "ProvisionsCurrentLiabilities", "ShortTermBorrowings",
        "SocialSecurityAgencies", "StaffAndRelatedLiabilityAccounts", "SundryDebtorsAndCreditors",
        "TradeAndOtherPayables",
    ),
    "Income": (
        "NonProfitIncome", "OtherPrimaryIncome", "SalesOfProductIncome", "ServiceFeeIncome",
        "DiscountsRefundsGiven", "UnappliedCashPaymentIncome",
        # minorversion 13 and later
        "CashReceiptIncome", "OperatingGrants", "OtherCurrentOperatingIncome",
        "OwnWorkCapitalized", "RevenueGeneral", "SalesRetail", "SalesWholesale",
        "SavingsByTaxScheme",
    ),
    "Other Income": (
        "DividendIncome", "InterestEarned", "OtherInvestmentIncome", "OtherMiscellaneousIncome",
        "TaxExemptInterest",
        # minorversion 13 and later
        "GainLossOnSaleOfFixedAssets", "GainLossOnSaleOfInvestments", "LossOnDisposalOfAssets",
        "OtherOperatingIncome", "UnrealisedLossOnSecuritiesNetOfTax",
    ),
}  # fmt: skip

# Every subtype the table names -> the account types that take it (``Utilities``: two).
_TYPES_OF: Mapping[str, frozenset[str]] = {
    sub: frozenset(kind for kind, subs in ACCOUNT_SUB_TYPES.items() if sub in subs)
    for subs in ACCOUNT_SUB_TYPES.values()
    for sub in subs
}


def qbo_account_problem(account_type: str | None, sub_type: str | None) -> str | None:
    """What is wrong with QBO's ``AccountType``/``AccountSubType`` pair, naming the field
    and the values it takes; None when QBO accepts it (a missing subtype: QBO picks one)."""
    valid = ACCOUNT_SUB_TYPES.get(account_type or "")
    if valid is None:
        return f"AccountType {account_type!r} is not one of: {', '.join(ACCOUNT_SUB_TYPES)}"
    if sub_type is not None and sub_type not in valid:
        return (
            f"AccountSubType {sub_type!r} is not valid for AccountType {account_type!r}; "
            f"one of: {', '.join(valid)}"
        )
    return None


def account_problem(app_type: str, sub_type: str | None) -> str | None:
    """The check in the app's words (``account_type``, ``sub_type``), with the fix: only a
    subtype known to belong to other account types is refused (see the module's docstring)."""
    kind = ACCOUNT_TYPES.get(app_type)
    if kind is None:
        return (
            f"account_type is {app_type}: QuickBooks Online has no such account type; "
            f"use one of: {', '.join(ACCOUNT_TYPES)}"
        )
    valid = ACCOUNT_SUB_TYPES[kind]
    elsewhere = _TYPES_OF.get(sub_type or "")
    if sub_type is not None and elsewhere is not None and kind not in elsewhere:
        return (
            f"sub_type {sub_type!r} is a QuickBooks Online subtype of "
            f"{' and '.join(sorted(elsewhere))}, not of account_type {app_type} ({kind}); "
            f"use one of: {', '.join(valid)}, or leave it empty"
        )
    return None
