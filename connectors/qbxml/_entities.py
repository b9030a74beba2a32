"""Which QuickBooks object each qbsync entity becomes, and which requests it may use.

The element-level detail (order, lengths, types, versions) lives in the generated request
table (``_generated.py``); this table only names things. Adding an entity means adding a row
here (and its object to ``_generate.SELECTION`` if it is new), not writing a builder.

Accounts, classes, sales tax codes, terms, payment methods and the generic item list are
query-only: qbsync matches them by exact name and never creates them. Procore's commitments
and subcontractor invoices are aliases of purchase orders and bills (see ``docs/qbxml.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from connectors.qbxml._generated import REQUESTS
from connectors.qbxml._spec import FieldSpec, RequestSpec

__all__ = ["ENTITIES", "Action", "EntitySpec"]

Action = Literal["Add", "Mod", "Query"]


@dataclass(frozen=True)
class EntitySpec:
    """``name`` is the qbXML object (``Customer``); ids are ListID (lists) or TxnID."""

    name: str
    id_element: Literal["ListID", "TxnID"]
    actions: tuple[Action, ...] = ("Add", "Mod", "Query")
    # Elements qbsync insists on for an Add beyond what the schema requires (a job is a
    # customer with a parent).
    add_requires: tuple[str, ...] = ()
    about: str = ""

    def request(self, action: Action) -> RequestSpec:
        return REQUESTS[f"{self.name}{action}"]

    @property
    def fields(self) -> tuple[FieldSpec, ...]:
        """The elements of the Add (or, for query-only lists, of the Query), in order."""
        action: Action = "Add" if "Add" in self.actions else "Query"
        return self.request(action).body.children

    @property
    def is_list(self) -> bool:
        return self.id_element == "ListID"


def _list(
    name: str,
    about: str,
    *,
    actions: tuple[Action, ...] = ("Add", "Mod", "Query"),
    add_requires: tuple[str, ...] = (),
) -> EntitySpec:
    return EntitySpec(name, "ListID", actions, add_requires, about)


def _txn(name: str, about: str) -> EntitySpec:
    return EntitySpec(name, "TxnID", ("Add", "Mod", "Query"), (), about)


_QUERY: tuple[Action, ...] = ("Query",)

ENTITIES: dict[str, EntitySpec] = {
    "customer": _list("Customer", "a customer (company or person)"),
    "job": _list(
        "Customer",
        "a job or project: a customer with ParentRef; FullName is 'Customer:Job'",
        add_requires=("ParentRef",),
    ),
    "employee": _list("Employee", "an employee (a 1099 worker is a vendor instead)"),
    "sales_rep": _list("SalesRep", "a sales rep: initials pointing at an employee or vendor"),
    "vendor": _list("Vendor", "a vendor, supplier, installer or subcontractor"),
    "item_service": _list("ItemService", "a service item"),
    "item_non_inventory": _list("ItemNonInventory", "a non-inventory part"),
    "item_inventory": _list("ItemInventory", "an inventory part"),
    "item_other_charge": _list("ItemOtherCharge", "an other-charge item (e.g. retainage)"),
    "item": _list("Item", "any item, whatever its type (query only)", actions=_QUERY),
    "account": _list("Account", "chart of accounts (query only)", actions=_QUERY),
    "class": _list("Class", "a class (query only)", actions=_QUERY),
    "sales_tax_code": _list("SalesTaxCode", "a sales tax code (query only)", actions=_QUERY),
    "terms": _list("Terms", "payment terms, standard or date driven (query only)", actions=_QUERY),
    "payment_method": _list("PaymentMethod", "a payment method (query only)", actions=_QUERY),
    "invoice": _txn("Invoice", "an invoice"),
    "credit_memo": _txn("CreditMemo", "a credit memo"),
    "estimate": _txn("Estimate", "an estimate"),
    "receive_payment": _txn("ReceivePayment", "a customer payment, applied to invoices"),
    "bill": _txn("Bill", "a vendor bill"),
    "vendor_credit": _txn("VendorCredit", "a vendor credit"),
    "check": _txn("Check", "an expense paid by check or in cash"),
    "credit_card_charge": _txn("CreditCardCharge", "an expense paid by credit card"),
    "purchase_order": _txn("PurchaseOrder", "a purchase order"),
    "time_tracking": _txn("TimeTracking", "a time entry"),
    "commitment": _txn("PurchaseOrder", "a Procore commitment (subcontract or PO)"),
    "subcontractor_invoice": _txn(
        "Bill", "a Procore subcontractor invoice, retainage as a negative item line"
    ),
}
