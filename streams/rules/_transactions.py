"""Transactions: invoices, credit memos, estimates, payments, bills, vendor credits, expenses
paid at once, time entries and Procore's commitments and subcontractor invoices, plus when
each is not sent (``*_skip``) and which setting it cannot do without. Pure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from streams.rules._base import (
    CUSTOMER_OR_JOB,
    Refs,
    expense_lines,
    item_lines,
    named,
    nonempty,
    qb_address,
    sales_lines,
    text,
)
from streams.tenant_settings import TenantSettings

__all__ = [
    "bill_skip",
    "commitment",
    "commitment_ref_number",
    "commitment_skip",
    "draft",
    "expense",
    "expense_entity",
    "expense_invalid",
    "invoice_skip",
    "needs_explicit_id",
    "needs_retainage_item",
    "payment",
    "purchases",
    "sales",
    "subcontractor_invoice",
    "subcontractor_invoice_skip",
    "time_entry",
]


def sales(line_element: str, *, printed: bool, due: str | None) -> Callable[..., dict[str, Any]]:
    """Invoices, credit memos and estimates share a shape; only a few elements differ."""

    def values(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
        result: dict[str, Any] = {
            "CustomerRef": refs.ref(p.get("customer"), *CUSTOMER_OR_JOB),
            "ClassRef": refs.ref(p.get("class"), "class"),
            "TxnDate": p.get("txn_date"),
            "RefNumber": p.get("ref_number"),
            "ShipAddress": qb_address(p.get("ship_address")),
            "TermsRef": refs.ref(p.get("terms"), "terms"),
            "DueDate": p.get(due) if due else None,
            "SalesRepRef": refs.ref(p.get("sales_rep"), "sales_rep"),
            # The form's sales tax item: the record's own, else the tenant's (a file that
            # charges sales tax refuses a form without one when the customer has none).
            "ItemSalesTaxRef": refs.ref(p.get("sales_tax_item"), "sales_tax_item")
            or named(s.sales_tax_item),
            "Memo": p.get("memo"),
            line_element: nonempty(sales_lines(p.get("lines") or [], refs)),
        }
        if printed:
            result["ARAccountRef"] = named(s.ar_account)
            result["IsToBePrinted"] = bool(p.get("is_to_be_printed")) or s.invoices_to_be_printed
        return result

    return values


def draft(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    """Only the statuses the tenant syncs (``invoice_sync_statuses``) are sent."""
    status = p.get("status")
    if status is None or status in s.invoice_sync_statuses:
        return None
    if status == "DRAFT":
        return "drafts are not sent to QuickBooks"
    return f"status {status} is not one the tenant syncs ({', '.join(s.invoice_sync_statuses)})"


def invoice_skip(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    total = sum((Decimal(line.get("amount") or 0) for line in p.get("lines") or []), Decimal(0))
    if total == 0:
        return "$0 invoices are not sent to QuickBooks"
    return draft(p, s)


def payment(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    deposit = refs.ref(p.get("deposit_to"), "account")
    if deposit is None:
        deposit = named(s.deposit_account if s.deposit_to == "account" else "Undeposited Funds")
    return {
        "CustomerRef": refs.ref(p.get("customer"), *CUSTOMER_OR_JOB),
        "ARAccountRef": refs.ref(p.get("ar_account"), "account") or named(s.ar_account),
        "TxnDate": p.get("txn_date"),
        "RefNumber": p.get("reference"),
        "TotalAmount": p.get("amount"),
        "PaymentMethodRef": refs.ref(p.get("payment_method"), "payment_method"),
        "Memo": p.get("memo"),
        "DepositToAccountRef": deposit,
        "AppliedToTxnAdd": nonempty(
            [
                {"TxnID": refs.txn_id(applied["transaction"], "invoice"), "PaymentAmount": amount}
                for applied in p.get("applied_to") or []
                if (amount := applied.get("amount")) is not None
            ]
        ),
    }


# -- vendor transactions ----------------------------------------------------------------


def purchases(*, bill: bool) -> Callable[..., dict[str, Any]]:
    """Bills and vendor credits: vendor, dates, expense lines and item lines."""

    def values(p: Mapping[str, Any], _s: TenantSettings, refs: Refs) -> dict[str, Any]:
        result = {"VendorRef": refs.ref(p.get("vendor"), "vendor", "employee"), **_costs(p, refs)}
        if bill:
            result["DueDate"] = p.get("due_date")
            result["TermsRef"] = refs.ref(p.get("terms"), "terms")
        return result

    return values


def expense(p: Mapping[str, Any], _s: TenantSettings, refs: Refs) -> dict[str, Any]:
    """An expense paid at once: a Check (or, paid by card, a CreditCardCharge) from the
    account it was paid from, to the vendor or employee paid, with the bill's line shapes.
    The two requests name their elements alike; the builder puts them in each one's order."""
    return {
        "AccountRef": refs.ref(p.get("paid_from"), "account"),
        "PayeeEntityRef": refs.ref(p.get("payee"), "vendor", "employee"),
        **_costs(p, refs),
    }


def _costs(p: Mapping[str, Any], refs: Refs) -> dict[str, Any]:
    """What bills, vendor credits and expenses share: date, number, memo and the lines booked
    to accounts or for items (the builder puts each request's elements in its own order)."""
    return {
        "TxnDate": p.get("txn_date"),
        "RefNumber": p.get("ref_number"),
        "Memo": p.get("memo"),
        "ExpenseLineAdd": nonempty(expense_lines(p.get("expense_lines") or [], refs)),
        "ItemLineAdd": nonempty(item_lines(p.get("item_lines") or [], refs)),
    }


def expense_entity(p: Mapping[str, Any] | None, _s: TenantSettings) -> str:
    """Desktop keeps card charges apart from checks; a cash purchase is a check (from a cash
    account), as QuickBooks Online's own export does."""
    return "credit_card_charge" if (p or {}).get("payment_type") == "CREDIT_CARD" else "check"


def expense_invalid(p: Mapping[str, Any]) -> str | None:
    """QuickBooks adds an expense up from its lines and refuses one without any: no lines, or
    a ``total`` the lines do not make (the app sent part of it), would not land as paid."""
    lines = [*(p.get("expense_lines") or []), *(p.get("item_lines") or [])]
    if not lines:
        return (
            "expense_lines and item_lines are both empty: QuickBooks refuses an expense"
            " without lines; publish what was bought (a line booked to an account, or an item)"
        )
    total = p.get("total")
    added = sum((Decimal(line.get("amount") or 0) for line in lines), Decimal(0))
    if total is None or Decimal(total) == added:
        return None
    return (
        f"total is {Decimal(total)} but expense_lines and item_lines add up to {added}:"
        " QuickBooks totals an expense from its lines; publish every line, or the total"
        " the lines make"
    )


def bill_skip(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    if s.expense_export_status == "paid" and p.get("status") != "PAID":
        return "only paid bills are exported (expense_export_status=paid)"
    return None


def time_entry(p: Mapping[str, Any], _s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "TxnDate": p.get("date"),
        "EntityRef": refs.ref(p.get("employee"), "employee", "vendor"),
        "CustomerRef": refs.ref(p.get("customer"), *CUSTOMER_OR_JOB),
        "ItemServiceRef": refs.ref(p.get("service_item"), "item"),
        "Duration": timedelta(minutes=int(p.get("duration_minutes") or 0)),
        "ClassRef": refs.ref(p.get("class"), "class"),
        "Notes": p.get("memo"),
        "BillableStatus": "Billable" if p.get("is_billable") else "NotBillable",
    }


# -- Procore ----------------------------------------------------------------------------


def commitment(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    job = refs.ref(p.get("job"), "job")
    memo = " ".join(
        part
        for part in (
            text(p.get("title")),
            f"Retainage {p['retainage_percent']}%" if p.get("retainage_percent") else "",
        )
        if part
    )
    return {
        "VendorRef": refs.ref(p.get("vendor"), "vendor"),
        "TxnDate": p.get("contract_date"),
        "RefNumber": commitment_ref_number(p, s),
        "Memo": memo or None,
        "PurchaseOrderLineAdd": nonempty(
            [
                {
                    "ItemRef": refs.ref(line.get("cost_code"), "cost_code"),
                    "Desc": line.get("description"),
                    "Amount": line.get("amount"),
                    "CustomerRef": job,
                }
                for line in p.get("lines") or []
            ]
        ),
    }


def commitment_ref_number(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    """The purchase order's RefNumber by the tenant's ``commitment_id``."""
    if s.contract_number_as_id or s.commitment_id == "contract_number":
        return str(p.get("contract_number") or "") or None
    if s.commitment_id == "explicit":
        return str(p.get("quickbooks_ref_number") or "") or None
    return None  # QuickBooks numbers it


def needs_explicit_id(p: Mapping[str, Any], s: TenantSettings) -> str | None:
    """``commitment_id=explicit``: refused until the app gives the QuickBooks ref number."""
    if s.commitment_id != "explicit" or s.contract_number_as_id or p.get("quickbooks_ref_number"):
        return None
    return (
        f"commitment {p.get('contract_number')!r} has no quickbooks_ref_number, which the"
        " tenant's commitment_id=explicit requires (QuickBooks does not number it): publish it"
        " with quickbooks_ref_number, or set `commitment_id=contract_number` or"
        " `commitment_id=quickbooks`"
    )


def commitment_skip(p: Mapping[str, Any], _s: TenantSettings) -> str | None:
    status = p.get("status")
    if status in ("APPROVED", "COMPLETE"):
        return None
    return f"commitments are sent once approved (status {status})"


def subcontractor_invoice(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    job = refs.ref(p.get("job"), "job")
    lines = p.get("lines") or []
    items: list[dict[str, Any]] = [
        {
            "ItemRef": refs.ref(line.get("cost_code"), "cost_code"),
            "Desc": line.get("description"),
            "Amount": line.get("amount"),
            "CustomerRef": job,
        }
        for line in lines
    ]
    held = sum((Decimal(line.get("retainage_held") or 0) for line in lines), Decimal(0))
    released = sum((Decimal(line.get("retainage_released") or 0) for line in lines), Decimal(0))
    # Held back: a negative line; released: a positive one (see docs/qbxml.md, Procore).
    for amount, what in ((-held, "Retainage held"), (released, "Retainage released")):
        if amount:
            items.append(
                {
                    "ItemRef": named(s.retainage_item),
                    "Desc": what,
                    "Amount": amount,
                    "CustomerRef": job,
                    "BillableStatus": "NotBillable",
                }
            )
    return {
        "VendorRef": refs.ref(p.get("vendor"), "vendor"),
        "TxnDate": p.get("billing_date"),
        "RefNumber": p.get("invoice_number"),
        "ItemLineAdd": nonempty(items),
    }


def subcontractor_invoice_skip(p: Mapping[str, Any], _s: TenantSettings) -> str | None:
    status = p.get("status")
    if status in ("APPROVED", "APPROVED_AS_NOTED"):
        return None
    return f"subcontractor invoices are sent once approved (status {status})"


def needs_retainage_item(s: TenantSettings) -> str | None:
    if s.retainage_item:
        return None
    return (
        "subcontractor invoices need the tenant's retainage item: set it with"
        " `qbsync tenant set <tenant> retainage_item=<QuickBooks item name>`"
    )
