"""The per-entity part of translation, as data: one :class:`EntityRule` row per entity.

Why a table: every entity goes through the same plan (settings, dates, references, Add/Mod,
building) in :mod:`streams.translate`; what differs (where the payload sits, which QuickBooks
object, which settings group, which date, when not to send, how fields become qbXML values)
is a row here plus a small value function (``_lists``, ``_transactions``). Pure: no I/O, no
clock.
"""

from __future__ import annotations

from streams.rules import _lists as lists
from streams.rules import _qbo as qbo
from streams.rules import _transactions as transactions
from streams.rules._base import (
    EntityRule,
    NameCheck,
    Refs,
    Resolver,
    customer_name,
    job_name,
    online_only,
)

__all__ = [
    "ENTITY_RULES",
    "SAME_LIST",
    "EntityRule",
    "NameCheck",
    "Refs",
    "Resolver",
    "customer_name",
    "job_name",
]

ENTITY_RULES: dict[str, EntityRule] = {
    "customer": EntityRule(
        "customer", lists.customer, group="customers", qbo=qbo.QboShape("Customer", qbo.customer)
    ),
    "job": EntityRule(
        "job", lists.job, group="customer_jobs", qbo=qbo.QboShape("Customer", qbo.job)
    ),
    # The chart of accounts and classes: created in QuickBooks Online only (Desktop's are
    # matched, never created: ``streams.translate.MATCHED_ONLY``).
    "account": EntityRule(
        "account",
        online_only,
        "accounts_and_classes",
        desktop=False,
        qbo=qbo.QboShape("Account", qbo.account, refuse=qbo.account_refused),
    ),
    "class": EntityRule(
        "class",
        online_only,
        "accounts_and_classes",
        desktop=False,
        qbo=qbo.QboShape("Class", qbo.klass),
    ),
    "employee": EntityRule(
        "employee",
        lists.employee,
        "employees",
        qb_entity=lists.employee_entity,
        qbo=qbo.QboShape("Employee", qbo.employee),
    ),
    "sales_rep": EntityRule("sales_rep", lists.sales_rep, group="employees"),
    "vendor": EntityRule(
        "vendor", lists.vendor, group="vendors_and_bills", qbo=qbo.QboShape("Vendor", qbo.vendor)
    ),
    "item": EntityRule(
        "item",
        lists.item,
        "items_and_invoices",
        qb_entity=lists.item_entity,
        qbo=qbo.QboShape("Item", qbo.item, checks=("names",)),
    ),
    "invoice": EntityRule(
        "invoice",
        transactions.sales("InvoiceLineAdd", printed=True, due="due_date"),
        "items_and_invoices",
        date_field="txn_date",
        skip=transactions.invoice_skip,
        qbo=qbo.QboShape(
            "Invoice",
            qbo.invoice,
            is_list=False,
            withhold=qbo.invoice_withheld,
            checks=("start-date", "names", "project-items"),
        ),
    ),
    "credit_memo": EntityRule(
        "credit_memo",
        transactions.sales("CreditMemoLineAdd", printed=True, due=None),
        "credit_memos",
        date_field="txn_date",
        skip=transactions.draft,
    ),
    "estimate": EntityRule(
        "estimate",
        transactions.sales("EstimateLineAdd", printed=False, due="expiration_date"),
        "estimates",
        date_field="txn_date",
        skip=transactions.draft,
    ),
    "payment": EntityRule(
        "payment",
        transactions.payment,
        "payments",
        qb_entity="receive_payment",
        date_field="txn_date",
        qbo=qbo.QboShape(
            "Payment",
            qbo.payment,
            is_list=False,
            resend_if_missing=True,
            checks=("start-date", "names"),
        ),
    ),
    "bill": EntityRule(
        "bill",
        transactions.purchases(bill=True),
        "vendors_and_bills",
        date_field="txn_date",
        skip=transactions.bill_skip,
        qbo=qbo.QboShape(
            "Bill",
            qbo.bill,
            is_list=False,
            resend_if_missing=True,
            checks=("start-date", "names"),
        ),
    ),
    # Expenses paid at once: a Check or CreditCardCharge in Desktop, a Purchase in QBO. Like a
    # bill (the "expenses"): never updated once synced, sent again if deleted in QBO.
    "expense": EntityRule(
        "expense",
        transactions.expense,
        "vendors_and_bills",
        qb_entity=transactions.expense_entity,
        date_field="txn_date",
        invalid=transactions.expense_invalid,
        qbo=qbo.QboShape(
            "Purchase",
            qbo.purchase,
            is_list=False,
            resend_if_missing=True,
            checks=("start-date", "names"),
        ),
    ),
    "vendor_credit": EntityRule(
        "vendor_credit",
        transactions.purchases(bill=False),
        "vendors_and_bills",
        date_field="txn_date",
    ),
    "time_entry": EntityRule(
        "time_entry",
        transactions.time_entry,
        "time_entries",
        qb_entity="time_tracking",
        date_field="date",
        qbo=qbo.QboShape(
            "TimeActivity",
            qbo.time_activity,
            is_list=False,
            once="a time entry synced to QuickBooks Online is never re-sent",
            refuse=qbo.time_refused,
            skip=qbo.time_skipped,
            checks=("start-date", "day-limit"),
        ),
    ),
    "commitment": EntityRule(
        "commitment",
        transactions.commitment,
        "commitments",
        date_field="contract_date",
        skip=transactions.commitment_skip,
        refuse=transactions.needs_explicit_id,
    ),
    "subcontractor_invoice": EntityRule(
        "subcontractor_invoice",
        transactions.subcontractor_invoice,
        "commitments",
        date_field="billing_date",
        skip=transactions.subcontractor_invoice_skip,
        requires=transactions.needs_retainage_item,
    ),
}

# App entities whose records live in one QuickBooks list, by API: one id space there, so an
# id another tenant maps under any of them is the same QuickBooks record (``Store.holders``).
# Every other entity's ids are its own (QuickBooks Online numbers Customer 1 and Vendor 1
# apart). A job is a customer; in Desktop a 1099 worker (an employee) is a vendor and a
# subcontractor invoice is a bill.
_LISTS: dict[str, tuple[frozenset[str], ...]] = {
    "qbxml": (
        frozenset({"customer", "job"}),
        frozenset({"employee", "vendor"}),
        frozenset({"bill", "subcontractor_invoice"}),
    ),
    "qbo": (frozenset({"customer", "job"}),),
}
SAME_LIST: dict[str, dict[str, frozenset[str]]] = {
    api: {entity: group for group in groups for entity in group} for api, groups in _LISTS.items()
}
