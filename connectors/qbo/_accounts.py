"""QBO's account types and subtypes, as data: which ``AccountSubType`` each ``AccountType``
accepts (Intuit's Account entity reference, "AccountType" and "AccountSubType" enumerations,
developer.intuit.com), and the app's account types (``com.qbsync.events.AccountType``) in
QBO's words. Used by the worker's rule (a clear refusal naming the bad field and the valid
values, before anything is sent) and by the QBO sandbox (Intuit's 2170 for the same).
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
    ),
    "Accounts Receivable": ("AccountsReceivable",),
    "Other Current Asset": (
        "AllowanceForBadDebts", "DevelopmentCosts", "EmployeeCashAdvances", "OtherCurrentAssets",
        "Inventory", "Investment_MortgageRealEstateLoans", "Investment_Other",
        "Investment_TaxExemptSecurities", "Investment_USGovernmentObligations",
        "LoansToOfficers", "LoansToOthers", "LoansToStockholders", "PrepaidExpenses",
        "Retainage", "UndepositedFunds",
    ),
    "Fixed Asset": (
        "AccumulatedDepletion", "AccumulatedDepreciation", "DepletableAssets",
        "FixedAssetComputers", "FixedAssetCopiers", "FixedAssetFurniture", "FixedAssetPhone",
        "FixedAssetPhotoVideo", "FixedAssetSoftware", "FixedAssetOtherToolsEquipment",
        "FurnitureAndFixtures", "Land", "LeaseholdImprovements", "OtherFixedAssets",
        "AccumulatedAmortization", "Buildings", "IntangibleAssets", "MachineryAndEquipment",
        "Vehicles",
    ),
    "Other Asset": (
        "LeaseBuyout", "OtherLongTermAssets", "SecurityDeposits",
        "AccumulatedAmortizationOfOtherAssets", "Goodwill", "Licenses", "OrganizationalCosts",
    ),
    "Accounts Payable": ("AccountsPayable",),
    "Credit Card": ("CreditCard",),
    "Other Current Liability": (
        "DirectDepositPayable", "LineOfCredit", "LoanPayable", "GlobalTaxPayable",
        "GlobalTaxSuspense", "OtherCurrentLiabilities", "PayrollClearing", "PayrollTaxPayable",
        "PrepaidExpensesPayable", "RentsInTrustLiability", "TrustAccountsLiabilities",
        "FederalIncomeTaxPayable", "InsurancePayable", "SalesTaxPayable",
        "StateLocalIncomeTaxPayable",
    ),
    "Long Term Liability": ("NotesPayable", "OtherLongTermLiabilities", "ShareholderNotesPayable"),
    "Equity": (
        "OpeningBalanceEquity", "PartnersEquity", "RetainedEarnings", "AccumulatedAdjustment",
        "OwnersEquity", "PaidInCapitalOrSurplus", "PartnerContributions", "PartnerDistributions",
        "PreferredStock", "CommonStock", "TreasuryStock", "EstimatedTaxes", "Healthcare",
        "PersonalIncome", "PersonalExpense",
    ),
    "Income": (
        "NonProfitIncome", "OtherPrimaryIncome", "SalesOfProductIncome", "ServiceFeeIncome",
        "DiscountsRefundsGiven", "UnappliedCashPaymentIncome",
    ),
    "Cost of Goods Sold": (
        "EquipmentRentalCos", "OtherCostsOfServiceCos", "ShippingFreightDeliveryCos",
        "SuppliesMaterialsCogs", "CostOfLaborCos",
    ),
    "Expense": (
        "AdvertisingPromotional", "BadDebts", "BankCharges", "CharitableContributions",
        "CommissionsAndFees", "Entertainment", "EntertainmentMeals", "EquipmentRental",
        "FinanceCosts", "GlobalTaxExpense", "Insurance", "InterestPaid",
        "LegalProfessionalFees", "OfficeExpenses", "OfficeGeneralAdministrativeExpenses",
        "OtherBusinessExpenses", "OtherMiscellaneousServiceCost", "PromotionalMeals",
        "RentOrLeaseOfBuildings", "RepairMaintenance", "ShippingFreightDelivery",
        "SuppliesMaterials", "Travel", "TravelMeals", "Utilities", "Auto", "CostOfLabor",
        "DuesSubscriptions", "PayrollExpenses", "TaxesPaid", "UnappliedCashBillPaymentExpense",
    ),
    "Other Income": (
        "DividendIncome", "InterestEarned", "OtherInvestmentIncome", "OtherMiscellaneousIncome",
        "TaxExemptInterest",
    ),
    "Other Expense": (
        "Depreciation", "ExchangeGainOrLoss", "OtherMiscellaneousExpense", "PenaltiesSettlements",
        "Amortization", "GasAndFuel", "HomeOffice", "HomeOwnerRentalInsurance",
        "OtherHomeOfficeExpenses", "MortgageInterest", "RentAndLease", "RepairsAndMaintenance",
        "ParkingAndTolls", "Vehicle", "VehicleInsurance", "VehicleLease", "VehicleLoanInterest",
        "VehicleLoan", "VehicleRegistration", "VehicleRepairs", "OtherVehicleExpenses",
        "Utilities", "WashAndRoadServices",
    ),
}  # fmt: skip


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
    """The same check in the app's words (``account_type``, ``sub_type``), with the fix."""
    kind = ACCOUNT_TYPES.get(app_type)
    if kind is None:
        return (
            f"account_type is {app_type}: QuickBooks Online has no such account type; "
            f"use one of: {', '.join(ACCOUNT_TYPES)}"
        )
    valid = ACCOUNT_SUB_TYPES[kind]
    if sub_type is not None and sub_type not in valid:
        return (
            f"sub_type {sub_type!r} is not a QuickBooks Online subtype of account_type "
            f"{app_type} ({kind}); use one of: {', '.join(valid)}, or leave it empty"
        )
    return None
