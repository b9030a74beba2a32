"""A stored record as QuickBooks answers with it *now*: current names of what it references,
current balances, payments linked to it, and only the parts the query asked for."""

from __future__ import annotations

from dataclasses import dataclass

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox._catalog import KINDS
from connectors.sandbox._context import iter_refs
from connectors.sandbox._elements import format_cents, order, set_child
from connectors.sandbox._store import Row, Store

__all__ = ["View", "render"]


@dataclass(frozen=True)
class View:
    """What a query asked to see: ``IncludeLineItems``, ``IncludeLinkedTxns``,
    ``IncludeRetElement`` (empty: everything)."""

    lines: bool = True
    linked: bool = False
    elements: frozenset[str] = frozenset()


def render(store: Store, row: Row, view: View = View()) -> etree._Element:
    ret = parse_xml(row["ret"])
    kind = KINDS[row["kind"]]
    _refresh_names(store, ret)
    if kind.balance:
        _balances(store, row, kind.balance, ret)
    if row["kind"] == "ReceivePayment":
        _refresh_applications(store, ret)
    for linked in ret.findall("LinkedTxn"):
        ret.remove(linked)
    if view.linked and kind.family == "txn":
        _linked(store, row["txn_id"], ret)
    if not view.lines:
        for node in list(ret):
            if str(node.tag).endswith(("LineRet", "LineGroupRet")):
                ret.remove(node)
    if view.elements:
        for node in list(ret):
            if node.tag not in view.elements:
                ret.remove(node)
    return order(ret)


def _refresh_names(store: Store, ret: etree._Element) -> None:
    """A reference shows the FullName its record has today (a customer renamed after the
    invoice was written shows its new name)."""
    for ref in [*iter_refs(ret), *ret.iter("ParentRef")]:
        list_id = ref.findtext("ListID")
        if not list_id:
            continue
        target = store.list_by_id(list_id)
        if target is not None:
            set_child(ref, "FullName", target["full_name"])


# A customer's or vendor's balance: what its transactions leave open (invoices and bills
# count up, credits and unused payments down), its own and with its jobs'.
_ENTITY_BALANCE = (
    "with recursive tree(id) as (select ?1 union all"  # the record and all under it
    " select list_id from lists join tree on lists.parent_id = tree.id)"
    " select coalesce(sum(case when entity_id = ?1 then balance_cents end), 0),"
    " coalesce(sum(balance_cents), 0) from txns where entity_id in (select id from tree)"
)

# An account's: A/R and A/P hold what their transactions leave open; a bank account or
# Undeposited Funds what was deposited to it. Other accounts stay at zero in the sandbox.
_ACCOUNT_BALANCE = (
    "with recursive tree(id) as (select ?1 union all"  # the record and all under it
    " select list_id from lists join tree on lists.parent_id = tree.id)"
    " select coalesce(sum(case when r.target_id = ?1 then r.value end), 0),"
    " coalesce(sum(r.value), 0) from (select refs.target_id, case when refs.element ="
    " 'DepositToAccountRef' then txns.amount_cents else txns.balance_cents end as value"
    " from refs join txns on txns.txn_id = refs.source_id where refs.element in"
    " ('ARAccountRef', 'APAccountRef', 'DepositToAccountRef')"
    " and refs.target_id in (select id from tree)) r"
)


def _balances(store: Store, row: Row, elements: tuple[str, ...], ret: etree._Element) -> None:
    query = _ACCOUNT_BALANCE if row["kind"] == "Account" else _ENTITY_BALANCE
    found = store.one(query, (row["list_id"],))
    own, total = (0, 0) if found is None else (int(found[0]), int(found[1]))
    values = {"Balance": own, "TotalBalance": total}
    for element in elements:
        set_child(ret, element, format_cents(values[element]))


def _refresh_applications(store: Store, ret: etree._Element) -> None:
    for applied in ret.findall("AppliedToTxnRet"):
        target = store.txn_by_id(applied.findtext("TxnID") or "")
        if target is not None:
            set_child(applied, "BalanceRemaining", format_cents(target["open_cents"]))


def _linked(store: Store, txn_id: str, ret: etree._Element) -> None:
    """Payments applied to this transaction, as QuickBooks lists them (negative amounts)."""
    for link in store.all(
        "select t.txn_id, t.kind, t.txn_date, t.ref_number, l.amount_cents from links l"
        " join txns t on t.txn_id = l.txn_id where l.applied_to = ? order by t.txn_number",
        (txn_id,),
    ):
        element = etree.SubElement(ret, "LinkedTxn")
        for name, value in (
            ("TxnID", link["txn_id"]),
            ("TxnType", link["kind"]),
            ("TxnDate", link["txn_date"]),
            ("RefNumber", link["ref_number"]),
            ("LinkType", "AMTTYPE"),
            ("Amount", format_cents(-int(link["amount_cents"]))),
        ):
            if value is not None:
                etree.SubElement(element, name).text = value
