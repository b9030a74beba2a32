"""Received payments: applying them to invoices, taking them off again.

QuickBooks' rules, as clients meet them: a payment applies only to an open invoice of the
same customer (anything else, an invoice already paid included, is "object not found",
3120); it may not apply more than an invoice still owes or than the payment itself; what is
left is the payment's UnusedPayment. Applying changes the invoice: its BalanceRemaining,
AppliedAmount, IsPaid and its EditSequence.
"""

from __future__ import annotations

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox import _status as status
from connectors.sandbox._amounts import save_txn
from connectors.sandbox._catalog import KINDS
from connectors.sandbox._context import Context
from connectors.sandbox._elements import cents, child_text, format_cents, set_child
from connectors.sandbox._store import Row

__all__ = ["apply", "reapply", "unlink"]

_RECEIVABLE = ("Invoice",)
_OBJ = "ReceivePayment"


def _plan(
    ctx: Context, body: etree._Element, tag: str, customer_id: str | None, total: int | None
) -> list[tuple[Row, int]]:
    plan: list[tuple[Row, int]] = []
    for applied in body.findall(tag):
        txn_id = child_text(applied, "TxnID") or ""
        row = ctx.store.txn_by_id(txn_id)
        if (
            row is None
            or row["kind"] not in _RECEIVABLE
            or row["entity_id"] != customer_id
            or row["open_cents"] <= 0
            or any(r["txn_id"] == txn_id for r, _ in plan)
        ):
            raise status.not_found(txn_id)
        if ctx.faults.take_lock(row["txn_id"], row["ref_number"]):
            raise status.save_failed(
                _OBJ, f'The transaction "{txn_id}" is in use by another QuickBooks user.'
            )
        given = child_text(applied, "PaymentAmount")
        amount = row["open_cents"] if given is None else cents(given)
        if amount <= 0:
            continue  # nothing applied to it
        if amount > row["open_cents"]:
            raise status.save_failed(
                _OBJ, f'The amount applied to "{txn_id}" is more than it still owes.'
            )
        plan.append((row, amount))
    if not plan and child_text(body, "IsAutoApply") == "true":
        remaining = total or 0
        for row in ctx.store.all(
            "select * from txns where kind in ('Invoice') and entity_id = ? and open_cents > 0"
            " order by txn_date, txn_number",
            (customer_id,),
        ):
            if remaining <= 0:
                break
            amount = min(remaining, row["open_cents"])
            plan.append((row, amount))
            remaining -= amount
    return plan


def apply(
    ctx: Context,
    ret: etree._Element,
    body: etree._Element,
    payment_id: str,
    customer_id: str | None,
    tag: str = "AppliedToTxnAdd",
) -> None:
    """Apply the payment being saved (``ret``) as ``body`` asks."""
    for old in ret.findall("AppliedToTxnRet"):
        ret.remove(old)
    given = child_text(ret, "TotalAmount")
    plan = _plan(ctx, body, tag, customer_id, None if given is None else cents(given))
    applied = sum(amount for _, amount in plan)
    total = applied if given is None else cents(given)
    if applied > total:
        raise status.save_failed(_OBJ, "The amounts applied are more than the payment amount.")
    set_child(ret, "TotalAmount", format_cents(total))
    for row, amount in plan:
        ctx.store.run("insert into links values (?, ?, ?)", (payment_id, row["txn_id"], amount))
        _save_receivable(ctx, row)
        element = etree.SubElement(ret, "AppliedToTxnRet")
        for name, value in (
            ("TxnID", row["txn_id"]),
            ("TxnType", row["kind"]),
            ("TxnDate", row["txn_date"]),
            ("RefNumber", row["ref_number"]),
            ("BalanceRemaining", format_cents(row["open_cents"] - amount)),
            ("Amount", format_cents(amount)),
        ):
            if value is not None:
                etree.SubElement(element, name).text = value


def reapply(
    ctx: Context,
    ret: etree._Element,
    body: etree._Element,
    payment_id: str,
    customer_id: str | None,
) -> None:
    """A payment Mod: new applications replace the old ones; a new TotalAmount alone keeps
    them (and may not fall below what is applied)."""
    if body.find("AppliedToTxnMod") is not None:
        _take_off(ctx, "txn_id", payment_id)
        apply(ctx, ret, body, payment_id, customer_id, "AppliedToTxnMod")
        return
    applied = ctx.store.one(
        "select coalesce(sum(amount_cents), 0) from links where txn_id = ?", (payment_id,)
    )
    if applied is not None and cents(ret.findtext("TotalAmount")) < int(applied[0]):
        raise status.save_failed(_OBJ, "The amounts applied are more than the payment amount.")


def unlink(ctx: Context, txn_id: str) -> None:
    """Before a transaction is deleted: a payment comes off its invoices; an invoice's
    payments become unused (their AppliedToTxnRet for it disappears)."""
    _take_off(ctx, "txn_id", txn_id)
    for link in ctx.store.all("select txn_id from links where applied_to = ?", (txn_id,)):
        payment = ctx.store.txn_by_id(link["txn_id"])
        ctx.store.run(
            "delete from links where txn_id = ? and applied_to = ?", (link["txn_id"], txn_id)
        )
        if payment is None:
            continue
        ret = parse_xml(payment["ret"])
        for applied in ret.findall("AppliedToTxnRet"):
            if applied.findtext("TxnID") == txn_id:
                ret.remove(applied)
        save_txn(ctx, KINDS[payment["kind"]], payment, ret)


def _take_off(ctx: Context, column: str, txn_id: str) -> None:
    links = ctx.store.all(f"select applied_to from links where {column} = ?", (txn_id,))  # noqa: S608 - column is ours
    ctx.store.run(f"delete from links where {column} = ?", (txn_id,))  # noqa: S608
    for link in links:
        row = ctx.store.txn_by_id(link["applied_to"])
        if row is not None:
            _save_receivable(ctx, row)


def _save_receivable(ctx: Context, row: Row) -> None:
    fresh = ctx.store.txn_by_id(row["txn_id"])
    assert fresh is not None
    save_txn(ctx, KINDS[fresh["kind"]], fresh, parse_xml(fresh["ret"]))
