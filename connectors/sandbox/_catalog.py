"""What the sandbox's company file holds, as data: one row per QuickBooks object.

Everything the request processor does is driven by these rows and by the XSD-generated
shapes (``_shapes.py``): which list a ``*Ref`` points to, which names must be unique
together, what a transaction totals and what stays open on it. Adding an object means adding
a row here (and regenerating the shapes), not writing a handler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = [
    "ACCOUNT_RULES",
    "KINDS",
    "QUERY_GROUPS",
    "REF_TARGETS",
    "RET_ELEMENTS",
    "SEED",
    "Kind",
    "kind_of_ret",
]

Family = Literal["list", "txn"]


@dataclass(frozen=True)
class Kind:
    """One QuickBooks object (``Customer``, ``Invoice`` ...).

    Lists: ``namespace`` names the lists whose names must be unique together (QuickBooks
    keeps customers, vendors, employees and other names in one name list, and every item
    type in one item list); ``name_element`` is what the user types as the name.

    Transactions: ``entity_ref`` is the customer/vendor/employee the transaction belongs to;
    ``lines`` the line aggregates (``InvoiceLine`` → ``InvoiceLineAdd``/``Mod``/``Ret``);
    ``totals`` are set to the sum of the lines; ``zeros`` are amounts QuickBooks always
    writes (no sales tax in the sandbox); ``open_element`` is what remains to be paid or
    used, counted into the entity's balance with ``open_sign``; ``paid_element`` turns true
    when it reaches zero.
    """

    name: str
    family: Family
    namespace: str = ""
    name_element: str = "Name"
    balance: tuple[str, ...] = ()
    entity_ref: str = ""
    lines: tuple[str, ...] = ()
    totals: tuple[str, ...] = ()
    zeros: tuple[str, ...] = ()
    open_element: str = ""
    open_sign: int = 0
    paid_element: str = ""
    applied_element: str = ""
    auto_ref_number: bool = False
    due_from_terms: bool = False
    defaults: tuple[tuple[str, str], ...] = ()
    default_refs: tuple[tuple[str, str], ...] = ()

    @property
    def ret(self) -> str:
        return f"{self.name}Ret"

    @property
    def id_element(self) -> str:
        return "ListID" if self.family == "list" else "TxnID"

    @property
    def space(self) -> str:
        return self.namespace or self.name


def _list(
    name: str,
    namespace: str = "",
    *,
    name_element: str = "Name",
    balance: tuple[str, ...] = (),
    defaults: tuple[tuple[str, str], ...] = (),
) -> Kind:
    return Kind(
        name,
        "list",
        namespace,
        name_element=name_element,
        balance=balance,
        defaults=defaults,
    )


_PRINT = (("IsToBePrinted", "false"), ("IsToBeEmailed", "false"))

KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        _list(
            "Customer",
            "Entity",
            balance=("Balance", "TotalBalance"),
            defaults=(("JobStatus", "None"),),
        ),
        _list("Vendor", "Entity", balance=("Balance",)),
        _list("Employee", "Entity"),
        _list("OtherName", "Entity"),
        _list("SalesRep", name_element="Initial"),
        _list("ItemService", "Item"),
        _list("ItemInventory", "Item", defaults=(("QuantityOnHand", "0"),)),
        _list("ItemNonInventory", "Item"),
        _list("ItemOtherCharge", "Item"),
        _list("ItemSalesTax", "Item"),
        _list("ItemDiscount", "Item"),
        _list("ItemSubtotal", "Item"),
        _list("Account", balance=("Balance", "TotalBalance")),
        _list("Class"),
        _list("SalesTaxCode"),
        _list("StandardTerms", "Terms"),
        _list("DateDrivenTerms", "Terms"),
        _list("PaymentMethod"),
        _list("ShipMethod"),
        _list("CustomerType"),
        _list("VendorType"),
        _list("JobType"),
        _list("CustomerMsg"),
        Kind(
            "Invoice",
            "txn",
            lines=("InvoiceLine",),
            totals=("Subtotal",),
            zeros=("SalesTaxPercentage", "SalesTaxTotal"),
            open_element="BalanceRemaining",
            open_sign=1,
            paid_element="IsPaid",
            applied_element="AppliedAmount",
            due_from_terms=True,
            defaults=(("IsPending", "false"), ("IsFinanceCharge", "false"), *_PRINT),
            default_refs=(("ARAccountRef", "Accounts Receivable"),),
            entity_ref="CustomerRef",
            auto_ref_number=True,
        ),
        Kind(
            "CreditMemo",
            "txn",
            lines=("CreditMemoLine",),
            totals=("Subtotal", "TotalAmount"),
            zeros=("SalesTaxPercentage", "SalesTaxTotal"),
            open_element="CreditRemaining",
            open_sign=-1,
            defaults=(("IsPending", "false"), *_PRINT),
            default_refs=(("ARAccountRef", "Accounts Receivable"),),
            entity_ref="CustomerRef",
            auto_ref_number=True,
        ),
        Kind(
            "Estimate",
            "txn",
            lines=("EstimateLine",),
            totals=("Subtotal", "TotalAmount"),
            zeros=("SalesTaxPercentage", "SalesTaxTotal"),
            defaults=(("IsActive", "true"), *_PRINT),
            entity_ref="CustomerRef",
            auto_ref_number=True,
        ),
        Kind(
            "SalesReceipt",
            "txn",
            lines=("SalesReceiptLine",),
            totals=("Subtotal", "TotalAmount"),
            zeros=("SalesTaxPercentage", "SalesTaxTotal"),
            defaults=(("IsPending", "false"), *_PRINT),
            default_refs=(("DepositToAccountRef", "Undeposited Funds"),),
            entity_ref="CustomerRef",
            auto_ref_number=True,
        ),
        Kind(
            "ReceivePayment",
            "txn",
            entity_ref="CustomerRef",
            open_element="UnusedPayment",
            open_sign=-1,
            zeros=("UnusedCredits",),
            default_refs=(
                ("ARAccountRef", "Accounts Receivable"),
                ("DepositToAccountRef", "Undeposited Funds"),
            ),
        ),
        Kind(
            "Bill",
            "txn",
            entity_ref="VendorRef",
            lines=("ExpenseLine", "ItemLine"),
            totals=("AmountDue",),
            open_element="OpenAmount",
            open_sign=1,
            paid_element="IsPaid",
            due_from_terms=True,
            default_refs=(("APAccountRef", "Accounts Payable"),),
        ),
        Kind(
            "VendorCredit",
            "txn",
            entity_ref="VendorRef",
            lines=("ExpenseLine", "ItemLine"),
            totals=("CreditAmount",),
            open_element="OpenAmount",
            open_sign=-1,
            default_refs=(("APAccountRef", "Accounts Payable"),),
        ),
        # Expenses paid at once: the account paid from is ``AccountRef`` (a bank account or
        # a credit card), the payee any name; nothing stays open.
        Kind(
            "Check",
            "txn",
            entity_ref="PayeeEntityRef",
            lines=("ExpenseLine", "ItemLine"),
            totals=("Amount",),
            defaults=(("IsToBePrinted", "false"),),
        ),
        Kind(
            "CreditCardCharge",
            "txn",
            entity_ref="PayeeEntityRef",
            lines=("ExpenseLine", "ItemLine"),
            totals=("Amount",),
        ),
        Kind(
            "PurchaseOrder",
            "txn",
            entity_ref="VendorRef",
            lines=("PurchaseOrderLine",),
            totals=("TotalAmount",),
            auto_ref_number=True,
            due_from_terms=True,
            defaults=(("IsManuallyClosed", "false"), ("IsFullyReceived", "false"), *_PRINT),
        ),
        Kind("TimeTracking", "txn", entity_ref="EntityRef"),
        # A bank deposit; a line naming a payment takes it out of Undeposited Funds (a
        # summary deposit), after which QuickBooks refuses to change the payment (3160).
        Kind("Deposit", "txn", lines=("DepositLine",), totals=("DepositTotal",)),
    )
}

RET_ELEMENTS: tuple[str, ...] = tuple(k.ret for k in KINDS.values())

_ITEMS = tuple(k for k in KINDS if k.startswith("Item"))
_ENTITIES = ("Customer", "Vendor", "Employee", "OtherName")
_ACCOUNT = ("Account",)

# Queries that return several kinds at once (besides ``<Kind>QueryRq`` for each kind).
QUERY_GROUPS: dict[str, tuple[str, ...]] = {
    "ItemQuery": _ITEMS,
    "TermsQuery": ("StandardTerms", "DateDrivenTerms"),
    "EntityQuery": _ENTITIES,
}

# Which list(s) each ``*Ref`` element points to. A reference that is not here (a template,
# a currency, a price level ...) names a list the sandbox does not keep: it is echoed back
# unchecked.
REF_TARGETS: dict[str, tuple[str, ...]] = {
    "CustomerRef": ("Customer",),
    "VendorRef": ("Vendor",),
    "TaxVendorRef": ("Vendor",),
    "PrefVendorRef": ("Vendor",),
    "EmployeeRef": ("Employee",),
    "SupervisorRef": ("Employee",),
    "EntityRef": _ENTITIES,
    "PayeeEntityRef": _ENTITIES,
    "ShipToEntityRef": _ENTITIES,
    "SalesRepEntityRef": ("Employee", "Vendor", "OtherName"),
    "SalesRepRef": ("SalesRep",),
    "ItemRef": _ITEMS,
    "ItemServiceRef": ("ItemService",),
    "ItemSalesTaxRef": ("ItemSalesTax",),
    "ItemPurchaseTaxRef": ("ItemSalesTax",),
    "ClassRef": ("Class",),
    "DiscountClassRef": ("Class",),
    "SalesTaxCodeRef": ("SalesTaxCode",),
    "CustomerSalesTaxCodeRef": ("SalesTaxCode",),
    "PurchaseTaxCodeRef": ("SalesTaxCode",),
    "TermsRef": ("StandardTerms", "DateDrivenTerms"),
    "PaymentMethodRef": ("PaymentMethod",),
    "PreferredPaymentMethodRef": ("PaymentMethod",),
    "ShipMethodRef": ("ShipMethod",),
    "CustomerTypeRef": ("CustomerType",),
    "VendorTypeRef": ("VendorType",),
    "JobTypeRef": ("JobType",),
    "CustomerMsgRef": ("CustomerMsg",),
    "AccountRef": _ACCOUNT,
    "ARAccountRef": _ACCOUNT,
    "APAccountRef": _ACCOUNT,
    "DepositToAccountRef": _ACCOUNT,
    "IncomeAccountRef": _ACCOUNT,
    "ExpenseAccountRef": _ACCOUNT,
    "COGSAccountRef": _ACCOUNT,
    "AssetAccountRef": _ACCOUNT,
    "DiscountAccountRef": _ACCOUNT,
    "OverrideItemAccountRef": _ACCOUNT,
    "PrefillAccountRef": _ACCOUNT,
    "TaxOnPurchasesAccountRef": _ACCOUNT,
    "TaxOnSalesAccountRef": _ACCOUNT,
}

# References to accounts that must be of a given type, else QuickBooks answers 3140 (a
# payment "deposited" to an income account, an invoice posted to a bank account ...).
# ``UndepositedFunds`` is a special account type, not an account type.
ACCOUNT_RULES: dict[str, tuple[str, ...]] = {
    "ARAccountRef": ("AccountsReceivable",),
    "APAccountRef": ("AccountsPayable",),
    "DepositToAccountRef": ("Bank", "UndepositedFunds"),
    "COGSAccountRef": ("CostOfGoodsSold",),
}

# What a new company file holds, as QuickBooks' setup interview leaves it: the accounts the
# transactions default to, tax codes, terms and payment methods. ``(kind, elements)``.
SEED: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("Account", (("Name", "Checking"), ("AccountType", "Bank"))),
    (
        "Account",
        (
            ("Name", "Accounts Receivable"),
            ("AccountType", "AccountsReceivable"),
            ("SpecialAccountType", "AccountsReceivable"),
        ),
    ),
    (
        "Account",
        (
            ("Name", "Undeposited Funds"),
            ("AccountType", "OtherCurrentAsset"),
            ("SpecialAccountType", "UndepositedFunds"),
        ),
    ),
    (
        "Account",
        (
            ("Name", "Inventory Asset"),
            ("AccountType", "OtherCurrentAsset"),
            ("SpecialAccountType", "InventoryAssets"),
        ),
    ),
    (
        "Account",
        (
            ("Name", "Accounts Payable"),
            ("AccountType", "AccountsPayable"),
            ("SpecialAccountType", "AccountsPayable"),
        ),
    ),
    (
        "Account",
        (
            ("Name", "Sales Tax Payable"),
            ("AccountType", "OtherCurrentLiability"),
            ("SpecialAccountType", "SalesTaxPayable"),
        ),
    ),
    ("Account", (("Name", "Sales"), ("AccountType", "Income"))),
    ("Account", (("Name", "Services"), ("AccountType", "Income"))),
    (
        "Account",
        (
            ("Name", "Cost of Goods Sold"),
            ("AccountType", "CostOfGoodsSold"),
            ("SpecialAccountType", "CostOfGoodsSold"),
        ),
    ),
    ("Account", (("Name", "Job Materials"), ("AccountType", "Expense"))),
    ("Account", (("Name", "Subcontractors"), ("AccountType", "Expense"))),
    ("SalesTaxCode", (("Name", "Tax"), ("IsTaxable", "true"), ("Desc", "Taxable Sales"))),
    ("SalesTaxCode", (("Name", "Non"), ("IsTaxable", "false"), ("Desc", "Non-Taxable Sales"))),
    ("StandardTerms", (("Name", "Due on receipt"), ("StdDueDays", "0"))),
    ("StandardTerms", (("Name", "Net 15"), ("StdDueDays", "15"))),
    ("StandardTerms", (("Name", "Net 30"), ("StdDueDays", "30"))),
    ("PaymentMethod", (("Name", "Cash"), ("PaymentMethodType", "Cash"))),
    ("PaymentMethod", (("Name", "Check"), ("PaymentMethodType", "Check"))),
    ("PaymentMethod", (("Name", "Visa"), ("PaymentMethodType", "Visa"))),
    ("ShipMethod", (("Name", "UPS"),)),
)


def kind_of_ret(tag: str) -> Kind | None:
    return KINDS.get(tag.removesuffix("Ret")) if tag.endswith("Ret") else None
