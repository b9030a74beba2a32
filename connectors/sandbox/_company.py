"""A company file in SQLite that answers qbXML like QuickBooks does (customers, for now).

Persisted so a run can be inspected afterwards (``sqlite3 company.db 'select * from lists'``).
IDs follow QuickBooks' shapes: ListID ``8000002A-1700000000``, an EditSequence that changes
on every modification.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.qbxml import UnsafeXml, parse_xml

__all__ = ["CompanyFile"]

_SCHEMA = """
create table if not exists lists (
    list_id text primary key,
    kind text not null,
    name text not null,
    full_name text not null,
    is_active integer not null default 1,
    edit_sequence text not null,
    fields text not null,
    time_created real not null,
    time_modified real not null
);
create unique index if not exists lists_name on lists (kind, full_name collate nocase);
create table if not exists counters (name text primary key, value integer not null);
"""

_PARSE_ERROR = "0x80040400"


class CompanyFile:
    """One company file. Thread-safe: QuickBooks itself handles one request at a time."""

    def __init__(self, path: Path, *, company_name: str = "Sandbox Company") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.company_name = company_name
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- what a test or the demo inspects ----------------------------------------------

    def customers(self) -> list[dict[str, Any]]:
        rows = self._db.execute(
            "select list_id, full_name, is_active, edit_sequence from lists"
            " where kind = 'Customer' order by full_name"
        ).fetchall()
        return [
            {"ListID": r[0], "FullName": r[1], "IsActive": bool(r[2]), "EditSequence": r[3]}
            for r in rows
        ]

    def duplicate_names(self) -> int:
        """Records that share a name case-insensitively (QuickBooks forbids it; 0 expected)."""
        row = self._db.execute(
            "select count(*) - count(distinct kind || ':' || lower(full_name)) from lists"
        ).fetchone()
        return int(row[0])

    # -- the request processor ----------------------------------------------------------

    def process(self, request: str) -> tuple[str, str, str]:
        """Answer one qbXML request document: ``(response, hresult, message)``.

        An unparsable document is refused as a whole, as QuickBooks does (hresult
        0x80040400 and no response); otherwise every request gets its own status.
        """
        try:
            root = parse_xml(request)
        except UnsafeXml as exc:
            return "", _PARSE_ERROR, f"QuickBooks found an error when parsing the XML: {exc}"
        messages = root.find("QBXMLMsgsRq")
        if root.tag != "QBXML" or messages is None:
            return (
                "",
                _PARSE_ERROR,
                "QuickBooks found an error when parsing the XML: no QBXMLMsgsRq",
            )
        stop_on_error = messages.get("onError") == "stopOnError"
        out_root = etree.Element("QBXML")
        out = etree.SubElement(out_root, "QBXMLMsgsRs")
        with self._lock:
            for rq in messages:
                if not isinstance(rq.tag, str):
                    continue
                rs = self._dispatch(rq)
                if rq.get("requestID") is not None:
                    rs.set("requestID", rq.get("requestID", ""))
                out.append(rs)
                if stop_on_error and rs.get("statusSeverity") == "Error":
                    break
        body = etree.tostring(out_root, encoding="unicode")
        return f'<?xml version="1.0" ?>\n{body}', "", ""

    def _dispatch(self, rq: etree._Element) -> etree._Element:
        handlers = {
            "CustomerAddRq": self._customer_add,
            "CustomerModRq": self._customer_mod,
            "CustomerQueryRq": self._customer_query,
        }
        handler = handlers.get(rq.tag)
        name = rq.tag.removesuffix("Rq")
        if handler is None:
            return _status(name, 3250, f"This request ({rq.tag}) is not supported by the sandbox.")
        return handler(rq)

    def _next_list_id(self) -> str:
        self._db.execute(
            "insert into counters values ('list', 1) "
            "on conflict(name) do update set value = value + 1"
        )
        (value,) = self._db.execute("select value from counters where name='list'").fetchone()
        return f"{0x80000000 + value:X}-{int(time.time())}"

    def _customer_add(self, rq: etree._Element) -> etree._Element:
        add = rq.find("CustomerAdd")
        name = "" if add is None else (add.findtext("Name") or "")
        if add is None or not name:
            return _status("CustomerAdd", 3000, "The request has no Name.")
        exists = self._db.execute(
            "select 1 from lists where kind='Customer' and full_name = ? collate nocase", (name,)
        ).fetchone()
        if exists:
            return _status(
                "CustomerAdd", 3100, f'The name "{name}" of the list element is already in use.'
            )
        now = time.time()
        list_id = self._next_list_id()
        edit_sequence = str(int(now * 1000))
        active = add.findtext("IsActive") != "false"
        self._db.execute(
            "insert into lists values (?, 'Customer', ?, ?, ?, ?, ?, ?, ?)",
            (list_id, name, name, active, edit_sequence, _fields(add), now, now),
        )
        return self._customer_ret("CustomerAdd", list_id)

    def _customer_mod(self, rq: etree._Element) -> etree._Element:
        mod = rq.find("CustomerMod")
        list_id = "" if mod is None else (mod.findtext("ListID") or "")
        row = self._db.execute(
            "select edit_sequence, full_name from lists where list_id = ? and kind='Customer'",
            (list_id,),
        ).fetchone()
        if mod is None or row is None:
            return _status(
                "CustomerMod",
                3120,
                f'Object "{list_id}" specified in the request cannot be found.',
            )
        if mod.findtext("EditSequence") != row[0]:
            return _status(
                "CustomerMod",
                3200,
                f'The provided edit sequence "{mod.findtext("EditSequence")}" is out-of-date.',
            )
        name = mod.findtext("Name") or row[1]
        clash = self._db.execute(
            "select 1 from lists where kind='Customer' and full_name = ? collate nocase"
            " and list_id <> ?",
            (name, list_id),
        ).fetchone()
        if clash:
            return _status(
                "CustomerMod", 3100, f'The name "{name}" of the list element is already in use.'
            )
        now = time.time()
        edit_sequence = str(max(int(now * 1000), int(row[0]) + 1))
        active = mod.findtext("IsActive")
        self._db.execute(
            "update lists set name=?, full_name=?, edit_sequence=?, fields=?, time_modified=?,"
            " is_active = coalesce(?, is_active) where list_id=?",
            (
                name,
                name,
                edit_sequence,
                _fields(mod),
                now,
                None if active is None else active != "false",
                list_id,
            ),
        )
        return self._customer_ret("CustomerMod", list_id)

    def _customer_query(self, rq: etree._Element) -> etree._Element:
        names = [e.text or "" for e in rq.findall("FullName")]
        ids = [e.text or "" for e in rq.findall("ListID")]
        query = "select list_id from lists where kind='Customer'"
        args: list[str] = []
        if names or ids:
            keys = names or ids
            column = "full_name" if names else "list_id"
            query += f" and {column} collate nocase in ({','.join('?' * len(keys))})"
            args = keys
        found = [r[0] for r in self._db.execute(query, args).fetchall()]
        if not found:
            return _status("CustomerQuery", 1, "A query request did not find a matching object.")
        rs = _status("CustomerQuery", 0, "Status OK")
        for list_id in found:
            rs.append(self._customer_ret("CustomerQuery", list_id)[0])
        return rs

    def _customer_ret(self, name: str, list_id: str) -> etree._Element:
        row = self._db.execute(
            "select list_id, time_created, time_modified, edit_sequence, name, full_name,"
            " is_active from lists where list_id = ?",
            (list_id,),
        ).fetchone()
        rs = _status(name, 0, "Status OK")
        ret = etree.SubElement(rs, "CustomerRet")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(row[1]))
        modified = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(row[2]))
        for element, value in (
            ("ListID", row[0]),
            ("TimeCreated", stamp),
            ("TimeModified", modified),
            ("EditSequence", row[3]),
            ("Name", row[4]),
            ("FullName", row[5]),
            ("IsActive", "true" if row[6] else "false"),
        ):
            etree.SubElement(ret, element).text = value
        return rs


def _status(name: str, code: int, message: str) -> etree._Element:
    severity = "Info" if code < 500 else "Warn" if code < 1000 else "Error"
    return etree.Element(
        f"{name}Rs",
        statusCode=str(code),
        statusSeverity=severity,
        statusMessage=message,
    )


def _fields(element: etree._Element) -> str:
    return str(etree.tostring(element, encoding="unicode"))
