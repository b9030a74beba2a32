"""Add, Mod and Del for every kind, driven by the catalog: one code path for customers,
items, accounts, invoices, bills ... and the rules QuickBooks applies to all of them.

A request element becomes a ``*Ret`` by renaming (``InvoiceLineAdd`` → ``InvoiceLineRet``),
resolving references, adding what QuickBooks computes (ids, times, EditSequence, FullName,
totals, balances) and sorting into schema order; unknown request-only elements drop out.
"""

from __future__ import annotations

import copy
import re
from datetime import timedelta

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox import _deposits as deposits
from connectors.sandbox import _payments as payments
from connectors.sandbox import _status as status
from connectors.sandbox._amounts import all_lines, entity_id, refresh_amounts, refs_of, save_txn
from connectors.sandbox._catalog import Kind
from connectors.sandbox._context import Context, Reference, write_ref
from connectors.sandbox._elements import (
    child_text,
    multiply,
    order,
    parse_date,
    ret_name,
    set_child,
)
from connectors.sandbox._shapes import SHAPES
from connectors.sandbox._store import Row

__all__ = ["add", "delete", "modify"]

_HEADER = ("ListID", "TxnID", "EditSequence")
_TRAILING_DIGITS = re.compile(r"(\d+)(\D*)$")


def add(ctx: Context, kind: Kind, body: etree._Element) -> str:
    """``<KindAdd>`` → the new record's ListID/TxnID; ``status.Failed`` when QuickBooks
    would refuse it (nothing is written then: the caller's savepoint rolls back)."""
    ctx.obj = kind.name
    return _add_list(ctx, kind, body) if kind.family == "list" else _add_txn(ctx, kind, body)


def modify(ctx: Context, kind: Kind, body: etree._Element) -> str:
    """``<KindMod>``: the elements it names replace the record's; returns the record's id."""
    ctx.obj = kind.name
    return _mod_list(ctx, kind, body) if kind.family == "list" else _mod_txn(ctx, kind, body)


def delete(ctx: Context, family: str, body: etree._Element) -> list[tuple[str, str]]:
    """ListDel / TxnDel: the ``(element, text)`` pairs of the answer."""
    return _del_list(ctx, body) if family == "list" else _del_txn(ctx, body)


# -- conversion ------------------------------------------------------------------------


def convert(element: etree._Element, tag: str) -> etree._Element:
    """``element`` renamed to ``tag``, its children renamed to their places in the answer;
    children the answer has no place for are left out."""
    out = etree.Element(tag)
    out.text = element.text
    if tag not in SHAPES:
        for child in element:
            out.append(copy.deepcopy(child))
        return out
    for child in element:
        if not isinstance(child.tag, str):
            continue
        target = ret_name(tag, child.tag)
        if target is not None:
            out.append(convert(child, target))
    return out


def _replace(ret: etree._Element, body: etree._Element, skip: set[str]) -> list[etree._Element]:
    """Mod: each element the request names replaces the answer's element(s) of that name."""
    changed: dict[str, list[etree._Element]] = {}
    for child in body:
        if not isinstance(child.tag, str) or child.tag in _HEADER or child.tag in skip:
            continue
        target = ret_name(str(ret.tag), child.tag)
        if target is not None:
            changed.setdefault(target, []).append(convert(child, target))
    for tag, elements in changed.items():
        for old in ret.findall(tag):
            ret.remove(old)
        ret.extend(elements)
    return [e for elements in changed.values() for e in elements]


# -- lists -----------------------------------------------------------------------------


def _name(kind: Kind, body: etree._Element) -> str:
    name = child_text(body, kind.name_element)
    if name:
        return name
    parts = [child_text(body, p) for p in ("FirstName", "MiddleName", "LastName")]
    return " ".join(p for p in parts if p)


def _parent(ctx: Context, kind: Kind, ref: etree._Element) -> Row:
    list_id = child_text(ref, "ListID")
    full_name = child_text(ref, "FullName")
    row = (
        ctx.store.list_by_id(list_id, (kind.name,))
        if list_id
        else ctx.store.list_by_name((kind.name,), full_name or "")
    )
    if row is None:
        raise status.bad_parent(kind.name, list_id or full_name or "")
    return row


def _check_name_free(ctx: Context, kind: Kind, full_name: str, own_id: str = "") -> None:
    clash = ctx.store.one(
        "select 1 from lists where namespace = ? and full_name = ? collate nocase and list_id <> ?",
        (kind.space, full_name, own_id),
    )
    if clash is not None:
        raise status.name_in_use(full_name)


def _add_list(ctx: Context, kind: Kind, body: etree._Element) -> str:
    name = _name(kind, body)
    if not name:
        raise status.missing_element(kind.name_element)
    parent_ref = body.find("ParentRef")
    parent = _parent(ctx, kind, parent_ref) if parent_ref is not None else None
    if parent is not None:
        ctx.check_locked(parent, status.save_failed(kind.name, "The parent is in use."))
    full_name = f"{parent['full_name']}:{name}" if parent is not None else name
    _check_name_free(ctx, kind, full_name)
    ret = convert(body, kind.ret)
    for old in ret.findall("ParentRef"):
        ret.remove(old)
    ctx.resolve_all(ret)
    list_id = ctx.new_list_id()
    edit_sequence = ctx.edit_sequence()
    for tag, value in (
        ("ListID", list_id),
        ("TimeCreated", ctx.stamp),
        ("TimeModified", ctx.stamp),
        ("EditSequence", edit_sequence),
        (kind.name_element, name),
    ):
        set_child(ret, tag, value)
    _write_hierarchy(kind, ret, full_name, parent)
    if ret.find("IsActive") is None:
        set_child(ret, "IsActive", "true")
    for tag, value in kind.defaults:
        if ret.find(tag) is None:
            set_child(ret, tag, value)
    order(ret)
    ctx.store.insert(
        "lists",
        {
            "list_id": list_id,
            "kind": kind.name,
            "namespace": kind.space,
            "name": name,
            "full_name": full_name,
            "parent_id": None if parent is None else parent["list_id"],
            "sublevel": 0 if parent is None else parent["sublevel"] + 1,
            "is_active": ret.findtext("IsActive") != "false",
            "edit_sequence": edit_sequence,
            "time_created": ctx.stamp,
            "time_modified": ctx.stamp,
            "modified_at": int(ctx.now),
            "ret": etree.tostring(ret, encoding="unicode"),
        },
    )
    ctx.store.set_refs(list_id, refs_of(ret))
    return list_id


def _write_hierarchy(kind: Kind, ret: etree._Element, full_name: str, parent: Row | None) -> None:
    shape = SHAPES.get(kind.ret, "").split()
    if "FullName" in shape:
        set_child(ret, "FullName", full_name)
    for old in ret.findall("ParentRef"):
        ret.remove(old)
    if parent is not None:
        write_ref(etree.SubElement(ret, "ParentRef"), parent["list_id"], parent["full_name"])
    if "Sublevel" in shape:
        set_child(ret, "Sublevel", str(0 if parent is None else parent["sublevel"] + 1))


def _mod_list(ctx: Context, kind: Kind, body: etree._Element) -> str:
    list_id = child_text(body, "ListID") or ""
    row = ctx.store.list_by_id(list_id, (kind.name,))
    if row is None:
        raise status.not_found(list_id)
    ctx.check_locked(row, status.list_in_use(kind.name, row["full_name"]))
    edit_sequence = child_text(body, "EditSequence") or ""
    if edit_sequence != row["edit_sequence"]:
        raise status.stale_edit_sequence(edit_sequence)
    ret = parse_xml(row["ret"])
    name = child_text(body, kind.name_element) or row["name"]
    parent: Row | None = (
        None if row["parent_id"] is None else ctx.store.list_by_id(row["parent_id"])
    )
    parent_ref = body.find("ParentRef")
    if parent_ref is not None:
        if parent_ref.find("ListID") is None and not child_text(parent_ref, "FullName"):
            parent = None  # an empty ParentRef makes the record top-level again
        else:
            parent = _parent(ctx, kind, parent_ref)
            if parent["list_id"] == list_id or parent["full_name"].casefold().startswith(
                f"{row['full_name']}:".casefold()
            ):
                raise status.bad_parent(kind.name, parent["full_name"])
    full_name = f"{parent['full_name']}:{name}" if parent is not None else name
    _check_name_free(ctx, kind, full_name, list_id)
    for element in _replace(ret, body, {"ParentRef"}):
        ctx.resolve_all(element)
    set_child(ret, kind.name_element, name)
    _write_hierarchy(kind, ret, full_name, parent)
    new_sequence = ctx.edit_sequence(row["edit_sequence"])
    set_child(ret, "EditSequence", new_sequence)
    set_child(ret, "TimeModified", ctx.stamp)
    order(ret)
    ctx.store.update(
        "lists",
        list_id,
        {
            "name": name,
            "full_name": full_name,
            "parent_id": None if parent is None else parent["list_id"],
            "sublevel": 0 if parent is None else parent["sublevel"] + 1,
            "is_active": ret.findtext("IsActive") != "false",
            "edit_sequence": new_sequence,
            "time_modified": ctx.stamp,
            "modified_at": int(ctx.now),
            "ret": etree.tostring(ret, encoding="unicode"),
        },
    )
    ctx.store.set_refs(list_id, refs_of(ret))
    if full_name != row["full_name"]:
        _rename_descendants(ctx, kind, list_id)
    return list_id


def _rename_descendants(ctx: Context, kind: Kind, list_id: str) -> None:
    """A renamed or moved customer renames its jobs (their FullName carries its name)."""
    parent = ctx.store.list_by_id(list_id)
    assert parent is not None
    for child in ctx.store.all("select * from lists where parent_id = ?", (list_id,)):
        full_name = f"{parent['full_name']}:{child['name']}"
        ret = parse_xml(child["ret"])
        _write_hierarchy(kind, ret, full_name, parent)
        order(ret)
        ctx.store.update(
            "lists",
            child["list_id"],
            {
                "full_name": full_name,
                "sublevel": parent["sublevel"] + 1,
                "ret": etree.tostring(ret, encoding="unicode"),
            },
        )
        _rename_descendants(ctx, kind, child["list_id"])


def _del_list(ctx: Context, body: etree._Element) -> list[tuple[str, str]]:
    kind_name = child_text(body, "ListDelType") or ""
    list_id = child_text(body, "ListID") or ""
    row = ctx.store.list_by_id(list_id, (kind_name,))
    if row is None:
        raise status.not_found(list_id)
    ctx.check_locked(row, status.list_in_use(kind_name, row["full_name"]))
    if ctx.store.in_use(list_id):
        raise status.cannot_delete(kind_name, row["full_name"])
    ctx.store.run("delete from lists where list_id = ?", (list_id,))
    ctx.store.set_refs(list_id, ())
    return [
        ("ListDelType", kind_name),
        ("ListID", list_id),
        ("TimeDeleted", ctx.stamp),
        ("FullName", row["full_name"]),
    ]


# -- transactions ----------------------------------------------------------------------


def _price_line(line: etree._Element) -> None:
    """QuickBooks computes a line's Amount from quantity and rate (or cost) when it is not
    given; a rate alone means a quantity of one."""
    if line.find("Amount") is not None:
        return
    price = child_text(line, "Rate") or child_text(line, "Cost")
    if price is None:
        set_child(line, "Amount", "0.00")
        return
    quantity = child_text(line, "Quantity") or "1"
    set_child(line, "Amount", multiply(price, quantity))


def _new_line(ctx: Context, line: etree._Element) -> None:
    set_child(line, "TxnLineID", ctx.new_txn_id())
    _price_line(line)


def _next_ref_number(ctx: Context, kind: Kind) -> str:
    """QuickBooks numbers invoices (estimates, purchase orders ...) on from the last one:
    ``INV-0009`` → ``INV-0010``; ``1`` when there is none."""
    last = ctx.store.one(
        "select ref_number from txns where kind = ? and ref_number is not null"
        " order by txn_number desc limit 1",
        (kind.name,),
    )
    if last is None:
        return "1"
    text = str(last[0])
    match = _TRAILING_DIGITS.search(text)
    if match is None:
        return f"{text}1"
    digits = match.group(1)
    bumped = str(int(digits) + 1).zfill(len(digits))
    return text[: match.start(1)] + bumped + match.group(2)


def _due_date(ctx: Context, ret: etree._Element) -> None:
    if ret.find("DueDate") is not None:
        return
    terms = ret.findtext("TermsRef/ListID")
    txn_date = parse_date(ret.findtext("TxnDate"))
    row = ctx.store.list_by_id(terms) if terms else None
    if row is None or txn_date is None or row["kind"] != "StandardTerms":
        return
    days = parse_xml(row["ret"]).findtext("StdDueDays") or "0"
    set_child(ret, "DueDate", (txn_date + timedelta(days=int(days))).isoformat())


def _add_txn(ctx: Context, kind: Kind, body: etree._Element) -> str:
    ret = convert(body, kind.ret)
    lines = all_lines(kind, ret)
    if kind.lines and not lines:
        raise status.empty_transaction(kind.name)
    for line in lines:
        _new_line(ctx, line)
    refs = ctx.resolve_all(ret)
    for tag, name in kind.default_refs:
        found = ctx.default_ref(ret, tag, name)
        if found is not None:
            refs.append(found)
    ctx.check_used_records_free(refs, kind.name)
    _check_sales_tax(ctx, kind, ret, "add")
    if ret.find("TxnDate") is None:
        set_child(ret, "TxnDate", ctx.today.isoformat())
    ctx.check_closing_date(kind.name, ret.findtext("TxnDate"), "add")
    if kind.auto_ref_number and not child_text(ret, "RefNumber"):
        set_child(ret, "RefNumber", _next_ref_number(ctx, kind))
    if kind.due_from_terms:
        _due_date(ctx, ret)
    for tag, value in kind.defaults:
        if ret.find(tag) is None:
            set_child(ret, tag, value)
    txn_id = ctx.new_txn_id()
    edit_sequence = ctx.edit_sequence()
    entity = entity_id(kind, ret)
    if kind.name == "ReceivePayment":
        payments.apply(ctx, ret, body, txn_id, entity)
    if kind.name == "Deposit":
        deposits.add(ctx, ret, body, txn_id)
    amounts = refresh_amounts(ctx, kind, ret, txn_id)
    number = ctx.store.counter("txn_number")
    for tag, value in (
        ("TxnID", txn_id),
        ("TimeCreated", ctx.stamp),
        ("TimeModified", ctx.stamp),
        ("EditSequence", edit_sequence),
        ("TxnNumber", str(number)),
    ):
        set_child(ret, tag, value)
    order(ret)
    ctx.store.insert(
        "txns",
        {
            "txn_id": txn_id,
            "kind": kind.name,
            "txn_number": number,
            "ref_number": ret.findtext("RefNumber"),
            "txn_date": ret.findtext("TxnDate") or "",
            "entity_id": entity,
            "edit_sequence": edit_sequence,
            "time_created": ctx.stamp,
            "time_modified": ctx.stamp,
            "modified_at": int(ctx.now),
            "ret": etree.tostring(ret, encoding="unicode"),
            **amounts,
        },
    )
    ctx.store.set_refs(txn_id, refs_of(ret))
    return txn_id


def _load_txn(ctx: Context, kind_name: str, txn_id: str) -> Row:
    row = ctx.store.txn_by_id(txn_id)
    if row is None or row["kind"] != kind_name:
        raise status.not_found(txn_id)
    return row


def _mod_lines(
    ctx: Context, kind: Kind, ret: etree._Element, body: etree._Element
) -> list[etree._Element]:
    """Line mods: a line named by TxnLineID is changed, ``-1`` adds one, and lines of that
    type the request leaves out are deleted (QuickBooks' rule)."""
    touched: list[etree._Element] = []
    for base in kind.lines:
        mods = body.findall(f"{base}Mod")
        if not mods:
            continue
        existing = {line.findtext("TxnLineID"): line for line in ret.findall(f"{base}Ret")}
        for line in existing.values():
            ret.remove(line)
        for mod in mods:
            line_id = child_text(mod, "TxnLineID") or "-1"
            if line_id == "-1":
                line = convert(mod, f"{base}Ret")
                _new_line(ctx, line)
            else:
                old = existing.get(line_id)
                if old is None:
                    raise status.not_found(line_id)
                line = old
                changes = [c for c in convert(mod, f"{base}Ret") if c.tag != "TxnLineID"]
                tags = {str(c.tag) for c in changes}
                if "Amount" not in tags and tags & {"Quantity", "Rate", "Cost"}:
                    changes.append(etree.Element("Amount"))  # computed again below
                for change in changes:
                    for previous in line.findall(str(change.tag)):
                        line.remove(previous)
                    if change.tag != "Amount" or change.text:
                        line.append(change)
                _price_line(line)
            ret.append(line)
            touched.append(line)
    return touched


def _mod_txn(ctx: Context, kind: Kind, body: etree._Element) -> str:
    txn_id = child_text(body, "TxnID") or ""
    row = _load_txn(ctx, kind.name, txn_id)
    ctx.check_locked(row, status.txn_in_use(kind.name, txn_id))
    if kind.name == "Deposit":
        raise status.unsupported()  # the sandbox removes payments by deleting the deposit
    deposits.check_free(ctx, kind.name, txn_id, "modify")
    edit_sequence = child_text(body, "EditSequence") or ""
    if edit_sequence != row["edit_sequence"]:
        raise status.stale_edit_sequence(edit_sequence)
    ctx.check_closing_date(kind.name, row["txn_date"], "modify")
    ret = parse_xml(row["ret"])
    line_mods = {f"{base}Mod" for base in kind.lines}
    skip = line_mods | {"AppliedToTxnMod"}
    changed = _replace(ret, body, skip)
    changed += _mod_lines(ctx, kind, ret, body)
    refs: list[Reference] = []
    for element in changed:
        refs += ctx.resolve_all(element)
    ctx.check_used_records_free(refs, kind.name)
    _check_sales_tax(ctx, kind, ret, "modify")
    if kind.lines and not all_lines(kind, ret):
        raise status.empty_transaction(kind.name)
    ctx.check_closing_date(kind.name, ret.findtext("TxnDate"), "modify")
    if kind.name == "ReceivePayment" and (
        body.find("AppliedToTxnMod") is not None or body.find("TotalAmount") is not None
    ):
        payments.reapply(ctx, ret, body, txn_id, entity_id(kind, ret))
    save_txn(ctx, kind, row, ret)
    return txn_id


# Sales forms that carry a sales tax item when the company charges sales tax.
_TAXED_FORMS = frozenset({"Invoice", "SalesReceipt", "CreditMemo", "Estimate"})


def _check_sales_tax(ctx: Context, kind: Kind, ret: etree._Element, action: str) -> None:
    """With sales tax on, the form needs a sales tax item, its own or its customer's."""
    if kind.name not in _TAXED_FORMS or ctx.store.setting("sales_tax") != "on":
        return
    if ret.find("ItemSalesTaxRef") is not None:
        return
    customer_id = ret.findtext("CustomerRef/ListID")
    customer = ctx.store.list_by_id(customer_id) if customer_id else None
    if customer is not None and parse_xml(customer["ret"]).find("ItemSalesTaxRef") is not None:
        return
    raise status.sales_tax_blank(kind.name, action)


def _del_txn(ctx: Context, body: etree._Element) -> list[tuple[str, str]]:
    kind_name = child_text(body, "TxnDelType") or ""
    txn_id = child_text(body, "TxnID") or ""
    row = _load_txn(ctx, kind_name, txn_id)
    ctx.obj = kind_name
    ctx.check_locked(row, status.txn_in_use(kind_name, txn_id))
    ctx.check_closing_date(kind_name, row["txn_date"], "delete")
    deposits.check_free(ctx, kind_name, txn_id, "delete")
    deposits.forget(ctx, txn_id)
    payments.unlink(ctx, txn_id)
    ctx.store.run("delete from txns where txn_id = ?", (txn_id,))
    ctx.store.set_refs(txn_id, ())
    # What TxnDeletedQueryRq answers from (QuickBooks keeps a log of deleted transactions).
    ctx.store.run(
        "insert or replace into deleted_txns values (?, ?, ?, ?, ?, ?)",
        (txn_id, kind_name, row["ref_number"], row["time_created"], ctx.stamp, int(ctx.now)),
    )
    return [
        ("TxnDelType", kind_name),
        ("TxnID", txn_id),
        ("TimeDeleted", ctx.stamp),
        ("RefNumber", row["ref_number"] or ""),
    ]
