"""A transaction's money: totals from its lines, what is still open once payments apply,
whether it is paid. One place, used when a transaction is saved and when a payment changes
an invoice it is applied to.
"""

from __future__ import annotations

from lxml import etree

from connectors.sandbox._catalog import Kind
from connectors.sandbox._context import Context, iter_refs
from connectors.sandbox._elements import cents, format_cents, order, set_child
from connectors.sandbox._store import Row

__all__ = ["all_lines", "entity_id", "linked_cents", "refresh_amounts", "refs_of", "save_txn"]


def all_lines(kind: Kind, ret: etree._Element) -> list[etree._Element]:
    """The priced lines of a transaction's answer (lines inside line groups included)."""
    tags = {f"{base}Ret" for base in kind.lines}
    lines: list[etree._Element] = []
    for node in ret:
        if node.tag in tags:
            lines.append(node)
        elif str(node.tag).endswith("GroupRet"):
            lines.extend(n for n in node if n.tag in tags)
    return lines


def linked_cents(ctx: Context, txn_id: str) -> int:
    """What payments moved on this transaction (applied to it, or applied by it)."""
    row = ctx.store.one(
        "select coalesce(sum(amount_cents), 0) from links where txn_id = ?1 or applied_to = ?1",
        (txn_id,),
    )
    return 0 if row is None else int(row[0])


def entity_id(kind: Kind, ret: etree._Element) -> str | None:
    return ret.findtext(f"{kind.entity_ref}/ListID") if kind.entity_ref else None


def refs_of(ret: etree._Element) -> list[tuple[str, str]]:
    return [
        (str(ref.tag), ref.findtext("ListID") or "")
        for ref in iter_refs(ret)
        if ref.findtext("ListID")
    ]


def refresh_amounts(
    ctx: Context, kind: Kind, ret: etree._Element, txn_id: str
) -> dict[str, object]:
    """Set totals, open amount, applied amount and paid flag; return the row's columns."""
    if kind.totals:
        total = sum(cents(line.findtext("Amount")) for line in all_lines(kind, ret))
        for tag in kind.totals:
            set_child(ret, tag, format_cents(total))
    else:
        total = cents(ret.findtext("TotalAmount"))
        if ret.find("TotalAmount") is not None:
            set_child(ret, "TotalAmount", format_cents(total))
    for tag in kind.zeros:
        set_child(ret, tag, "0.00")
    linked = linked_cents(ctx, txn_id)
    open_cents = total - linked if kind.open_element else 0
    if kind.open_element:
        set_child(ret, kind.open_element, format_cents(open_cents))
    if kind.applied_element:
        set_child(ret, kind.applied_element, format_cents(-linked))
    if kind.paid_element:
        set_child(ret, kind.paid_element, "true" if open_cents <= 0 else "false")
    return {
        "amount_cents": total,
        "open_cents": open_cents,
        "balance_cents": open_cents * kind.open_sign,
        "is_paid": None if not kind.paid_element else open_cents <= 0,
    }


def save_txn(ctx: Context, kind: Kind, row: Row, ret: etree._Element) -> None:
    """Write a changed transaction back: new EditSequence and TimeModified, fresh amounts.

    Used for a Mod and when a payment is applied to (or taken off) an invoice: QuickBooks
    changes the invoice's EditSequence then too, so a client holding the old one gets 3200.
    """
    amounts = refresh_amounts(ctx, kind, ret, row["txn_id"])
    new_sequence = ctx.edit_sequence(row["edit_sequence"])
    set_child(ret, "EditSequence", new_sequence)
    set_child(ret, "TimeModified", ctx.stamp)
    order(ret)
    ctx.store.update(
        "txns",
        row["txn_id"],
        {
            "ref_number": ret.findtext("RefNumber"),
            "txn_date": ret.findtext("TxnDate") or "",
            "entity_id": entity_id(kind, ret),
            "edit_sequence": new_sequence,
            "time_modified": ctx.stamp,
            "modified_at": int(ctx.now),
            "ret": etree.tostring(ret, encoding="unicode"),
            **amounts,
        },
    )
    ctx.store.set_refs(row["txn_id"], refs_of(ret))
