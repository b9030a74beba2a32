"""Queries: filters, paging with iterators, and the statuses QuickBooks answers them with.

Statuses, as QuickBooks gives them: a filter that matches nothing is status 1 (fine); named
records (``FullName``) of which some are missing give 500 with the ones found; ids
(``ListID``/``TxnID``) of which none exist give 3120, some missing 500. ``RefNumber`` is a
filter (1 when nothing matches).

Iterators (``iterator="Start"``/``"Continue"``) page through a snapshot of the matching ids
taken at Start. They live in the company file's memory for one Web Connector session only:
:meth:`Iterators.clear` runs when the session ends, after which ``Continue`` fails (3000),
as it does in QuickBooks.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from lxml import etree

from connectors.sandbox import _status as status
from connectors.sandbox._catalog import Kind
from connectors.sandbox._elements import child_text, parse_datetime
from connectors.sandbox._render import View, render
from connectors.sandbox._store import Row, Store

__all__ = ["Answer", "Iterators", "deleted_txns", "run_query"]


@dataclass
class Answer:
    code: int
    message: str
    rets: list[etree._Element]
    attributes: dict[str, str]


@dataclass
class _Iterator:
    query: str
    table: str
    keys: list[str]


class Iterators:
    """Open iterators, by id; one session's worth."""

    def __init__(self) -> None:
        self._open: dict[str, _Iterator] = {}

    def clear(self) -> None:
        self._open.clear()

    def __len__(self) -> int:
        return len(self._open)

    def start(self, query: str, table: str, keys: list[str]) -> str:
        iterator_id = "{" + str(uuid.uuid4()) + "}"
        self._open[iterator_id] = _Iterator(query, table, keys)
        return iterator_id

    def get(self, iterator_id: str, query: str) -> _Iterator:
        found = self._open.get(iterator_id)
        if found is None or found.query != query:
            raise status.bad_iterator(iterator_id)
        return found

    def drop(self, iterator_id: str) -> None:
        self._open.pop(iterator_id, None)


def _view(rq: etree._Element, family: str) -> View:
    elements = frozenset(e.text or "" for e in rq.findall("IncludeRetElement"))
    if family == "list":
        return View(lines=True, linked=False, elements=elements)
    return View(
        lines=child_text(rq, "IncludeLineItems") == "true",
        linked=child_text(rq, "IncludeLinkedTxns") == "true",
        elements=elements,
    )


def _max(rq: etree._Element) -> int | None:
    text = child_text(rq, "MaxReturned")
    return int(text) if text and text.isdigit() else None


def _in(column: str, values: list[str] | tuple[str, ...]) -> tuple[str, list[str]]:
    return f"{column} in ({','.join('?' * len(values))})", list(values)


def _match(column: str, filter_: etree._Element, value_tag: str) -> tuple[str, list[str]]:
    criterion = child_text(filter_, "MatchCriterion") or "StartsWith"
    value = (child_text(filter_, value_tag) or "").replace("\\", "\\\\")
    value = value.replace("%", "\\%").replace("_", "\\_")
    pattern = {"StartsWith": f"{value}%", "Contains": f"%{value}%", "EndsWith": f"%{value}"}
    return f"{column} like ? escape '\\'", [pattern.get(criterion, f"{value}%")]


def _between(rq: etree._Element, path: str, column: str, where: list[str], args: list[Any]) -> None:
    """A ``From<path>``/``To<path>`` range on ``column`` (epoch seconds): a date alone as
    the upper bound means the whole of that day."""
    for side, op in (("From", ">="), ("To", "<=")):
        parent, _, tag = path.rpartition("/")
        text = rq.findtext(f"{parent}/{side}{tag}" if parent else f".//{side}{tag}")
        moment = parse_datetime(text) if text else None
        if moment is not None:
            if side == "To" and "T" not in (text or ""):
                moment += 86_399
            where.append(f"{column} {op} ?")  # column is ours, not input
            args.append(int(moment))


def _modified(rq: etree._Element, where: list[str], args: list[Any]) -> None:
    _between(rq, "ModifiedDate", "modified_at", where, args)


def _list_filters(rq: etree._Element) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    active = child_text(rq, "ActiveStatus") or "ActiveOnly"
    if active != "All":
        where.append("is_active = ?")
        args.append(1 if active == "ActiveOnly" else 0)
    _modified(rq, where, args)
    _text_filters(rq, "full_name", "Name", where, args)
    account_type = child_text(rq, "AccountType")
    if account_type:
        where.append("ret like ?")
        args.append(f"%<AccountType>{account_type}</AccountType>%")
    return where, args


def _entity_ids(store: Store, entity: etree._Element) -> list[str]:
    ids: list[str] = []
    for tag in ("ListID", "ListIDWithChildren", "FullName", "FullNameWithChildren"):
        for element in entity.findall(tag):
            value = (element.text or "").strip()
            row = (
                store.list_by_id(value)
                if tag.startswith("ListID")
                else store.one("select * from lists where full_name = ? collate nocase", (value,))
            )
            if row is None:
                continue
            ids.append(row["list_id"])
            if tag.endswith("WithChildren"):
                ids += [
                    r["list_id"]
                    for r in store.all(
                        "with recursive tree(id) as (select ?1 union all"
                        " select list_id from lists join tree on lists.parent_id = tree.id)"
                        " select id as list_id from tree where id <> ?1",
                        (row["list_id"],),
                    )
                ]
    return ids


def _txn_filters(store: Store, rq: etree._Element) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    _modified(rq, where, args)
    dates = rq.find("TxnDateRangeFilter")
    if dates is not None:
        for tag, op in (("FromTxnDate", ">="), ("ToTxnDate", "<=")):
            text = child_text(dates, tag)
            if text:
                where.append(f"txn_date {op} ?")
                args.append(text)
    entity = rq.find("EntityFilter")
    if entity is not None:
        clause, values = _in("entity_id", _entity_ids(store, entity) or ["-"])
        where.append(clause)
        args += values
    _text_filters(rq, "ref_number", "RefNumber", where, args)
    paid = child_text(rq, "PaidStatus")
    if paid in ("PaidOnly", "NotPaidOnly"):
        where.append("is_paid = ?")
        args.append(1 if paid == "PaidOnly" else 0)
    return where, args


def _select(
    store: Store, table: str, kinds: tuple[Kind, ...], where: list[str], args: list[Any]
) -> list[Row]:
    clause, values = _in("kind", tuple(k.name for k in kinds))
    order = "full_name collate nocase" if table == "lists" else "txn_number"
    sql = f"select * from {table} where {' and '.join([clause, *where])} order by {order}"  # noqa: S608 - built from our own fragments
    return store.all(sql, [*values, *args])


def _explicit(
    store: Store, table: str, kinds: tuple[Kind, ...], rq: etree._Element
) -> tuple[list[Row], list[str], bool] | None:
    """Rows named by ListID/TxnID/FullName, in the order asked; the names not found; whether
    they were ids. ``None`` when the query names nothing explicitly."""
    id_tag = "ListID" if table == "lists" else "TxnID"
    names = [(e.text or "").strip() for e in rq.findall(id_tag)]
    by_id = bool(names)
    if not names and table == "lists":
        names = [(e.text or "").strip() for e in rq.findall("FullName")]
    if not names:
        return None
    kind_names = tuple(k.name for k in kinds)
    found: list[Row] = []
    missing: list[str] = []
    column = "list_id" if table == "lists" else "txn_id"
    for name in names:
        if by_id:
            row = store.one(f"select * from {table} where {column} = ?", (name,))  # noqa: S608
        else:
            row = store.list_by_name(kind_names, name)
        if row is None or row["kind"] not in kind_names:
            missing.append(name)
        elif all(r[0] != row[0] for r in found):
            found.append(row)
    return found, missing, by_id


def _ref_numbers(rq: etree._Element) -> tuple[list[str], bool]:
    loose = [(e.text or "").strip() for e in rq.findall("RefNumber")]
    exact = [(e.text or "").strip() for e in rq.findall("RefNumberCaseSensitive")]
    return (exact, True) if exact else (loose, False)


def run_query(
    store: Store,
    query: str,
    kinds: tuple[Kind, ...],
    rq: etree._Element,
    iterators: Iterators,
) -> Answer:
    """Answer ``<query>Rq`` over ``kinds`` (one kind, or a group such as every item type)."""
    table = "lists" if kinds[0].family == "list" else "txns"
    view = _view(rq, kinds[0].family)
    iterator = rq.get("iterator")
    if iterator in ("Continue", "Stop"):
        return _continue(store, query, rq, iterators, view, table, stop=iterator == "Stop")
    code, message = 0, "Status OK"
    explicit = _explicit(store, table, kinds, rq)
    refs, case_sensitive = _ref_numbers(rq) if table == "txns" else ([], False)
    if explicit is not None:
        rows, missing, by_id = explicit
        if missing and not rows and by_id:
            raise status.not_found(missing[0])
        if missing:
            code, message = status.partly_found(missing[0])
    elif refs:
        column = "ref_number" if case_sensitive else "ref_number collate nocase"
        clause, values = _in(column, refs)
        rows = _select(store, table, kinds, [clause], values)
    else:
        where, args = _list_filters(rq) if table == "lists" else _txn_filters(store, rq)
        rows = _select(store, table, kinds, where, args)
    limit = _max(rq)
    if not rows and code == 0:
        code, message = status.no_match()
    attributes: dict[str, str] = {}
    page, rest = (rows, []) if limit is None else (rows[:limit], rows[limit:])
    if iterator == "Start":
        attributes["iteratorRemainingCount"] = str(len(rest))
        keys = [r[0] for r in rest]
        attributes["iteratorID"] = (
            iterators.start(query, table, keys) if keys else "{" + str(uuid.uuid4()) + "}"
        )
    return Answer(code, message, [render(store, r, view) for r in page], attributes)


def _continue(
    store: Store,
    query: str,
    rq: etree._Element,
    iterators: Iterators,
    view: View,
    table: str,
    *,
    stop: bool,
) -> Answer:
    iterator_id = rq.get("iteratorID", "")
    current = iterators.get(iterator_id, query)
    if stop:
        iterators.drop(iterator_id)
        return Answer(
            0, "Status OK", [], {"iteratorRemainingCount": "0", "iteratorID": iterator_id}
        )
    limit = _max(rq) or len(current.keys)
    rets: list[etree._Element] = []
    column = "list_id" if table == "lists" else "txn_id"
    while current.keys and len(rets) < limit:
        key = current.keys.pop(0)
        row = store.one(f"select * from {table} where {column} = ?", (key,))  # noqa: S608
        if row is not None:  # deleted since Start: skipped, as QuickBooks does
            rets.append(render(store, row, view))
    if not current.keys:
        iterators.drop(iterator_id)
    code, message = (0, "Status OK") if rets else status.no_match()
    return Answer(
        code,
        message,
        rets,
        {"iteratorRemainingCount": str(len(current.keys)), "iteratorID": iterator_id},
    )


def _text_filters(
    rq: etree._Element, column: str, field: str, where: list[str], args: list[Any]
) -> None:
    """``<field>Filter`` (match criterion) and ``<field>RangeFilter`` (From/To), which
    qbXML spells the same way for names and RefNumbers."""
    exact = rq.find(f"{field}Filter")
    if exact is not None:
        clause, values = _match(column, exact, field)
        where.append(clause)
        args += values
    bounds = rq.find(f"{field}RangeFilter")
    if bounds is not None:
        for tag, op in ((f"From{field}", ">="), (f"To{field}", "<=")):
            text = child_text(bounds, tag)
            if text:
                where.append(f"{column} {op} ? collate nocase")  # column is ours, not input
                args.append(text)


def deleted_txns(store: Store, rq: etree._Element) -> Answer:
    """``TxnDeletedQueryRq``: the deleted transactions of the ``TxnDelType``s asked, deleted
    within ``DeletedDateRangeFilter`` (a date alone means that whole day), oldest first."""
    kinds = [element.text or "" for element in rq.findall("TxnDelType")]
    where, args = [_in("kind", kinds)[0]], list(kinds)
    _between(rq, "DeletedDateRangeFilter/DeletedDate", "deleted_at", where, args)
    rows = store.all(
        "select * from deleted_txns where "  # noqa: S608 - fixed clauses, values bound
        + " and ".join(where)
        + " order by deleted_at, txn_id",
        tuple(args),
    )
    rets = []
    for row in rows:
        ret = etree.Element("TxnDeletedRet")
        for name, value in (
            ("TxnDelType", row["kind"]),
            ("TxnID", row["txn_id"]),
            ("TimeCreated", row["time_created"]),
            ("TimeDeleted", row["time_deleted"]),
            ("RefNumber", row["ref_number"]),
        ):
            if value:
                etree.SubElement(ret, name).text = value
        rets.append(ret)
    code, message = (0, "Status OK") if rets else status.no_match()
    return Answer(code, message, rets, {})
