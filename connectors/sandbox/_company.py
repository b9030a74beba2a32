"""A QuickBooks company file that answers qbXML as QuickBooks does, kept in SQLite.

Persisted so a run can be inspected afterwards (``qbsync sandbox show``, or ``sqlite3`` on the
file: see ``_store.py``). Every incoming document goes through the same gates as in
QuickBooks (well-formed, qbXML, the version it speaks, Intuit's schema when one is given),
then through the request processor; faults armed on :attr:`CompanyFile.faults` make it fail
the way production does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.sandbox import _records as records
from connectors.sandbox._catalog import KINDS, SEED
from connectors.sandbox._context import Context
from connectors.sandbox._elements import format_cents
from connectors.sandbox._errors import SandboxError
from connectors.sandbox._faults import Faults, FaultSpec, parse_fault_spec
from connectors.sandbox._host import HCP_REQUEST
from connectors.sandbox._processor import Processor
from connectors.sandbox._render import View, render
from connectors.sandbox._status import HRESULT_PARSE, PARSE_MESSAGE
from connectors.sandbox._store import Store
from connectors.sandbox._validation import Refused, load_schema

__all__ = ["QBXML_VERSIONS", "CompanyFile"]

# What QuickBooks 2014 and later report (see the strHCPResponse sample): every version up
# to 13.0, the schema the sandbox validates with.
QBXML_VERSIONS: tuple[str, ...] = (
    "1.0",
    "1.1",
    "2.0",
    "2.1",
    "3.0",
    "4.0",
    "4.1",
    "5.0",
    "6.0",
    "7.0",
    "8.0",
    "9.0",
    "10.0",
    "11.0",
    "12.0",
    "13.0",
)


class CompanyFile:
    """One company file. Thread-safe: QuickBooks itself handles one request at a time.

    ``validate_with``: Intuit's reference folder (``.../shared/qbxml``, holding
    ``xsd/13.0``) or a ``qbxmlops130.xsd``; every incoming document is then validated
    against the schema and refused, like QuickBooks refuses it, when invalid. ``clock`` and
    ``sleep`` are seams for tests (times, the "slow answers" fault).
    """

    def __init__(
        self,
        path: Path,
        *,
        company_name: str = "Sandbox Company",
        validate_with: Path | None = None,
        qbxml_versions: tuple[str, ...] = QBXML_VERSIONS,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.faults = Faults()
        self._sleep = sleep
        self._versions = qbxml_versions
        self._lock = threading.RLock()
        self._store = Store(path)
        self._processor = Processor(
            self._store,
            self.faults,
            clock=clock,
            company_name=lambda: self.company_name,
            versions=qbxml_versions,
            schema=None if validate_with is None else load_schema(validate_with),
        )
        # A file already set up is only read here (two readers never race for a write).
        if self._store.created or self._store.setting("company_name") is None:
            with self._lock, self._store.transaction():
                if self._store.setting("company_name") is None:
                    self._store.set_setting("company_name", company_name)
                if self._store.created:
                    self._seed(clock())

    def _seed(self, now: float) -> None:
        ctx = Context(self._store, Faults(), now)
        for kind_name, values in SEED:
            body = etree.Element(f"{kind_name}Add")
            for tag, text in values:
                etree.SubElement(body, tag).text = text
            records.add(ctx, KINDS[kind_name], body)

    def close(self) -> None:
        with self._lock:
            self._store.close()

    # -- settings ------------------------------------------------------------------------

    @property
    def company_name(self) -> str:
        with self._lock:
            return self._store.setting("company_name") or "Sandbox Company"

    @property
    def closing_date(self) -> date | None:
        with self._lock:
            text = self._store.setting("closing_date")
        return None if text is None else date.fromisoformat(text)

    def set_closing_date(self, closing: date | None) -> None:
        """Transactions dated on or before ``closing`` can no longer be added, changed or
        deleted (3171). ``None`` opens every period again."""
        with self._lock, self._store.transaction():
            self._store.set_setting(
                "closing_date", None if closing is None else closing.isoformat()
            )

    @property
    def charges_sales_tax(self) -> bool:
        with self._lock:
            return self._store.setting("sales_tax") == "on"

    def charge_sales_tax(self, on: bool = True) -> None:
        """Sales tax on (Edit > Preferences > Sales Tax): an invoice, sales receipt, credit
        memo or estimate must then name a sales tax item (``ItemSalesTaxRef``) or its
        customer must have a default one, else QuickBooks answers 3180 on an Add and 3170
        on a Mod, "The Transaction Sales Tax field cannot be left blank"."""
        with self._lock, self._store.transaction():
            self._store.set_setting("sales_tax", "on" if on else None)

    def apply_faults(self, spec: FaultSpec | str) -> FaultSpec:
        """Arm a fault spec (a :class:`FaultSpec` or its JSON text); returns it parsed."""
        parsed = parse_fault_spec(spec) if isinstance(spec, str) else spec
        if parsed.closing_date is not None:
            self.set_closing_date(parsed.closing_date)
        self.faults.install(parsed)
        return parsed

    # -- the request processor ---------------------------------------------------------

    def process(self, request: str) -> tuple[str, str, str]:
        """Answer one qbXML request document: ``(response, hresult, message)``.

        A document QuickBooks cannot or will not run is refused as a whole, as QuickBooks
        does (hresult 0x80040400 and no response); otherwise every request gets its own
        status. With the crash fault armed the changes are committed and
        :class:`QuickBooksCrashed` is raised instead of answering.
        """
        with self._lock:
            try:
                response = self._processor.process(request)
            except Refused as exc:
                return "", HRESULT_PARSE, f"{PARSE_MESSAGE} ({exc})"
            finally:
                delay = self.faults.take_delay()
                if delay:
                    self._sleep(delay)
        return response, "", ""

    def host_company_preferences(self, versions: tuple[str, ...] = ()) -> str:
        """What QuickBooks answers the Web Connector's Host/Company/Preferences queries: the
        ``strHCPResponse`` of a session's first ``sendRequestXML``. ``versions``: the qbXML
        versions this QuickBooks reports (default: all the company file accepts)."""
        reported = versions or self._versions
        request = HCP_REQUEST.format(version=min(reported[-1], "13.0", key=_version_key))
        with self._lock:
            return self._processor.process(request, internal=True, host_versions=reported)

    def begin_session(self) -> None:
        """A Web Connector session starts (QuickBooks opens a new session for it)."""
        with self._lock:
            self._processor.iterators.clear()

    def end_session(self) -> None:
        """The session ended: its iterators are gone, as in QuickBooks."""
        with self._lock:
            self._processor.iterators.clear()

    @property
    def open_iterators(self) -> int:
        with self._lock:
            return len(self._processor.iterators)

    # -- what a test, the demo or ``qbsync sandbox show`` inspects -----------------------

    def customers(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._store.all(
                "select list_id, full_name, is_active, edit_sequence from lists"
                " where kind = 'Customer' order by full_name"
            )
        return [
            {"ListID": r[0], "FullName": r[1], "IsActive": bool(r[2]), "EditSequence": r[3]}
            for r in rows
        ]

    def duplicate_names(self) -> int:
        """Records that share a name case-insensitively (QuickBooks forbids it; 0 expected)."""
        with self._lock:
            row = self._store.one(
                "select count(*) - count(distinct namespace || ':' || lower(full_name)) from lists"
            )
        return 0 if row is None else int(row[0])

    def records(self, *kinds: str) -> list[dict[str, Any]]:
        """Every record of these kinds (``"Customer"``, ``"Invoice"`` ...), summarised."""
        unknown = [k for k in kinds if k not in KINDS]
        if unknown:
            raise SandboxError(f"unknown kind {unknown[0]!r}; known: {', '.join(KINDS)}")
        marks = ",".join("?" * len(kinds))
        with self._lock:
            lists = self._store.all(
                f"select * from lists where kind in ({marks}) order by kind, full_name",  # noqa: S608
                kinds,
            )
            txns = self._store.all(
                "select t.*, l.full_name as entity from txns t left join lists l"  # noqa: S608
                f" on l.list_id = t.entity_id where t.kind in ({marks})"
                " order by t.kind, t.txn_number",
                kinds,
            )
            out = [self._list_summary(r) for r in lists]
        out += [
            {
                "Kind": r["kind"],
                "TxnID": r["txn_id"],
                "TxnNumber": r["txn_number"],
                "RefNumber": r["ref_number"],
                "TxnDate": r["txn_date"],
                "Entity": r["entity"],
                "Amount": format_cents(r["amount_cents"]),
                "Open": format_cents(r["open_cents"]),
                "IsPaid": None if r["is_paid"] is None else bool(r["is_paid"]),
                "EditSequence": r["edit_sequence"],
                "TimeModified": r["time_modified"],
            }
            for r in txns
        ]
        return out

    def _list_summary(self, row: Any) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "Kind": row["kind"],
            "ListID": row["list_id"],
            "FullName": row["full_name"],
            "IsActive": bool(row["is_active"]),
            "EditSequence": row["edit_sequence"],
            "TimeModified": row["time_modified"],
        }
        if KINDS[row["kind"]].balance:
            ret = render(self._store, row)
            summary["Balance"] = ret.findtext("Balance")
        return summary

    def record(
        self, identifier: str, *, lines: bool = True, linked: bool = True
    ) -> etree._Element | None:
        """The record with this ListID/TxnID as a query would return it now (its ``*Ret``)."""
        with self._lock:
            row = self._store.one("select * from lists where list_id = ?", (identifier,))
            if row is None:
                row = self._store.txn_by_id(identifier)
            if row is None:
                return None
            return render(self._store, row, View(lines=lines, linked=linked))

    def saved_message_set(self) -> tuple[str, str] | None:
        """``(newMessageSetID, response)`` of the last message set saved for recovery."""
        with self._lock:
            row = self._store.one("select message_set_id, response from message_sets")
        return None if row is None else (str(row[0]), str(row[1]))

    def sql(self, query: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL on the file, for tests and support (``select`` only)."""
        if not query.lstrip().lower().startswith(("select", "with")):
            raise SandboxError("only select statements may be run through CompanyFile.sql")
        with self._lock:
            return [tuple(r) for r in self._store.all(query, args)]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())
