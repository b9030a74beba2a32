"""Rules the sender checks against the QBO company itself before a write, because only the
company knows the answer (the worker plans a company's commands before it is even connected).
The entity rule's QBO column names them (``QboShape.checks``); each command carries the
names (``QboEntityRequest.checks``); this table says what each one asks of the company.

- ``start-date``: a transaction dated before the company's start date
  (``CompanyInfo.CompanyStartDate``) is refused (the issue: "transactions dated before the
  QBO company's start date are refused with a clear reason").
- ``day-limit``: a time entry that would bring its worker's time in QBO for that day
  (every ``TimeActivity`` of the same employee or vendor on the same ``TxnDate``, this one
  included) above 24 hours is refused. After a crash between the entry's write and the
  commit, QBO already has the entry: the refusal then names the day's activities that may
  be that earlier write (the same fields, created since the command was queued,
  :attr:`Refusal.own_write`), and the sender asks Intuit by the write's ``requestid``
  (``connectors.qbo._sender``) before refusing.

- ``names``: references the worker could only give by name (``{"name": ...}``: a tenant's
  configured deposit account, an item's accounts or the tenant's defaults for them, a sales
  tax code such as ``GST``) are resolved to the company's ``Id`` (Intuit takes references by
  ``value``); a name the company lacks is refused naming the setting that gave it
  (:data:`NAMED`) and the names the company has. The company's accounts and tax codes are
  read once (one query per list, paged) and kept per realm (:class:`NameCache`: bounded,
  expiring; read again when a name is missing and the copy is older than a few seconds, and
  forgotten when QBO answers a write with 2500, an Id no longer valid), so a batch of
  invoices does not query the company again for every line.
- ``project-items``: an invoice line of a project with its own income account
  (``qbo_project_defaults.<job>.income_account``) is re-pointed at the project's copy of
  its item, found or made first (``connectors.qbo._project_items``); an account the company
  lacks is refused like a name (``-43``), an item that cannot be copied with ``-44``.

A refusal is an error result with its own code in the QBO catalog (``-41``, ``-42``,
``-43``), which the worker dead-letters with the reason, like a permanent fault: replayable
once fixed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.qbo._client import QboClient
from connectors.qbo._project_items import PROJECT_ITEMS, NoProjectItem, ProjectItems
from connectors.qbo._records import QboEntityRequest, QboOperation, QboRequest
from core.errors import QbsyncError
from core.status import Status

__all__ = [
    "BEFORE_START",
    "CHECKS",
    "DAY_MINUTES",
    "NAMED",
    "NO_PROJECT_ITEM",
    "OVER_A_DAY",
    "UNKNOWN_NAME",
    "CompanyChecks",
    "NameCache",
    "Refusal",
    "UnknownCheck",
]

BEFORE_START = Status.BEFORE_START
NO_PROJECT_ITEM = Status.NO_PROJECT_ITEM
OVER_A_DAY = Status.OVER_A_DAY
UNKNOWN_NAME = Status.UNKNOWN_NAME

# A reference field the worker may fill by name -> (the QBO entity it names, where that name
# comes from: what to correct). Top-level fields and lines' detail fields alike.
NAMED: Mapping[str, tuple[str, str]] = {
    "DepositToAccountRef": (
        "Account",
        "the tenant's setting deposit_account (or the payment's deposit_to)",
    ),
    "IncomeAccountRef": (
        "Account",
        "the item's income_account, or the tenant's setting qbo_item_defaults.income_account",
    ),
    "ExpenseAccountRef": (
        "Account",
        "the item's expense_account, or the tenant's setting qbo_item_defaults.expense_account",
    ),
    "AccountRef": (
        "Account",
        "an expense's paid_from, a bill line's project's setting"
        " qbo_project_defaults.<job id>.expense_account, or the tenant's setting"
        " qbo_item_defaults.expense_account",
    ),
    "TaxCodeRef": (
        "TaxCode",
        "the line's sales_tax_code (through the tenant's setting sales_tax_codes), or the "
        "tenant's setting qbo_project_defaults.<job id>.tax_code or qbo_item_defaults.tax_code",
    ),
}
DAY_MINUTES = 24 * 60
# How long a company's start date is trusted before it is read again (it rarely changes).
_START_TTL_S = 3600.0
# How much earlier than the command's creation (clocks differ) an activity may have been
# created and still be taken for the command's own write (then asked about by requestid).
_CLOCK_SLACK = timedelta(minutes=10)
# The fields that make two TimeActivity records the same entry.
_SAME_ENTRY = ("TxnDate", "Hours", "Minutes", "Description", "BillableStatus")
_SAME_REFS = ("EmployeeRef", "VendorRef", "CustomerRef", "ItemRef", "ClassRef")
# The company's names listed in a refusal, at most.
_LISTED = 25
_PAGE = 1000


class UnknownCheck(QbsyncError):
    """A command names a check this sender does not have: its drain stops there."""


@dataclass(frozen=True)
class Refusal:
    code: int
    reason: str
    # Day limit only: Ids of the day's activities identical to this one and created since
    # the command was queued, leaving out any one of which lets the entry go: perhaps its
    # own write before a crash.
    own_write: tuple[str, ...] = ()


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _minutes(activity: Mapping[str, Any]) -> int:
    return int(activity.get("Hours") or 0) * 60 + int(activity.get("Minutes") or 0)


def _worker(activity: Mapping[str, Any]) -> tuple[str, str] | None:
    for side in ("EmployeeRef", "VendorRef"):
        ref = activity.get(side)
        if isinstance(ref, Mapping) and ref.get("value"):
            return side, str(ref["value"])
    return None


@dataclass(frozen=True)
class _Names:
    """One list of one company: name -> Id (fully qualified names first), when read."""

    read_at: float
    ids: Mapping[str, str]
    names: tuple[str, ...]


@dataclass
class NameCache:
    """The company's accounts and tax codes by name, per realm: at most ``realms`` realms
    (the least recently used is dropped), each list trusted ``ttl_s`` seconds; a name not
    found reads the list again when the copy is older than ``recheck_s`` (a name created in
    QBO a moment ago is found; a batch naming the same missing name reads once)."""

    realms: int = 1024
    ttl_s: float = 600.0
    recheck_s: float = 30.0
    _lists: OrderedDict[str, dict[str, _Names]] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, realm_id: str, entity: str, now: float) -> _Names | None:
        with self._lock:
            lists = self._lists.get(realm_id)
            if lists is None:
                return None
            self._lists.move_to_end(realm_id)
            found = lists.get(entity)
        return found if found is not None and now - found.read_at < self.ttl_s else None

    def put(self, realm_id: str, entity: str, names: _Names) -> None:
        with self._lock:
            self._lists.setdefault(realm_id, {})[entity] = names
            self._lists.move_to_end(realm_id)
            while len(self._lists) > self.realms:
                self._lists.popitem(last=False)

    def forget(self, realm_id: str) -> None:
        with self._lock:
            self._lists.pop(realm_id, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._lists)


class CompanyChecks:
    """Runs the checks a command names, asking the company through ``client`` (so within
    Intuit's limits, like every other request)."""

    def __init__(
        self,
        client: QboClient,
        clock: Callable[[], float] = time.monotonic,
        names: NameCache | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._starts: dict[str, tuple[float, date | None]] = {}
        self._lock = threading.Lock()
        self._names = names if names is not None else NameCache()
        self._project_items = ProjectItems(client)

    def refused(
        self, realm_id: str, request: QboEntityRequest, queued_at: datetime | None = None
    ) -> Refusal | None:
        """The first check the write fails, or None; a delete or void is never refused.
        ``queued_at``: when the command was made (the day limit's own-write question)."""
        if request.operation in (QboOperation.DELETE, QboOperation.VOID):
            return None
        for name in request.checks:
            check = CHECKS.get(name)
            if check is None:  # a newer worker than this sender: stop, never skip
                raise UnknownCheck(
                    f"the command names the check {name!r}, which this sender does not know "
                    f"(known: {', '.join(CHECKS)}): upgrade the QBO sender"
                )
            refusal = check(self, realm_id, request, queued_at)
            if refusal is not None:
                return refusal
        return None

    def start_date(self, realm_id: str) -> date | None:
        """``CompanyInfo.CompanyStartDate``, cached an hour per realm."""
        now = self._clock()
        with self._lock:
            cached = self._starts.get(realm_id)
        if cached is not None and now - cached[0] < _START_TTL_S:
            return cached[1]
        answer = self._client.send(QboRequest.read(realm_id, "CompanyInfo", realm_id))
        info = answer.entity("CompanyInfo") if answer.ok else None
        found = _day(info.get("CompanyStartDate")) if info else None
        if answer.ok:
            with self._lock:
                self._starts[realm_id] = (now, found)
        return found

    def named(self, realm_id: str, request: QboEntityRequest) -> QboEntityRequest | Refusal:
        """``request`` with every reference given by name (:data:`NAMED`) as the company's
        ``Id``, or the refusal naming the first name the company lacks. Only when the command
        names the ``names`` check (else as it is)."""
        if "names" not in request.checks:
            return request
        problems: list[str] = []
        body = self._named(realm_id, request.body, problems)
        if problems:
            return Refusal(UNKNOWN_NAME, problems[0])
        notes: tuple[str, ...] = ()
        if PROJECT_ITEMS in request.checks:
            made = self._project_items.apply(
                realm_id, body, lambda name: self.id_of(realm_id, "Account", name)
            )
            if isinstance(made, NoProjectItem):
                return self._project_refusal(realm_id, made)
            body, notes = made[0], tuple(made[1])
        return QboEntityRequest(request.operation, request.entity, body, request.checks, notes)

    def _project_refusal(self, realm_id: str, problem: NoProjectItem) -> Refusal:
        source = "the project's setting qbo_project_defaults.<job id>.income_account"
        if problem.missing_account is not None:
            return Refusal(
                UNKNOWN_NAME,
                f"income account: {problem.reason} in the QuickBooks Online company (from "
                f"{source}); the company has: {self._listed(realm_id, 'Account')}. Create it "
                "in QuickBooks Online or correct the setting, then replay",
            )
        return Refusal(
            NO_PROJECT_ITEM,
            f"{problem.reason}; {source} books the project's invoice lines through a "
            "per-project copy of each line's item. Use a service or non-inventory item on "
            "the project's invoices, or unset the setting, then replay",
        )

    def forget_names(self, realm_id: str) -> None:
        """The company answered that an Id given is no longer valid (2500): its names are
        read again before the next use (its per-project items looked up again too)."""
        self._names.forget(realm_id)
        self._project_items.forget(realm_id)

    def _named(self, realm_id: str, value: Any, problems: list[str]) -> Any:
        if isinstance(value, list):
            return [self._named(realm_id, v, problems) for v in value]
        if not isinstance(value, Mapping):
            return value
        found: dict[str, Any] = {}
        for key, inner in value.items():
            wanted = NAMED.get(key)
            if (
                wanted
                and isinstance(inner, Mapping)
                and inner.get("name")
                and not inner.get("value")
            ):
                entity, source = wanted
                name = str(inner["name"])
                qb_id = self.id_of(realm_id, entity, name)
                if qb_id is None:
                    problems.append(
                        f"{key}: no {entity} named {name!r} in the QuickBooks Online company "
                        f"(from {source}); the company has: {self._listed(realm_id, entity)}. "
                        "Create it in QuickBooks Online or correct the setting, then replay"
                    )
                found[key] = {"value": qb_id, "name": name}
            else:
                found[key] = self._named(realm_id, inner, problems)
        return found

    def _listed(self, realm_id: str, entity: str) -> str:
        known = self._list(realm_id, entity).names
        if not known:
            return "none"
        more = len(known) - _LISTED
        return ", ".join(known[:_LISTED]) + (f" and {more} more" if more > 0 else "")

    def id_of(self, realm_id: str, entity: str, name: str) -> str | None:
        """The ``Id`` of the company's active ``entity`` of that name (``Parent:Child``: the
        fully qualified name), or None; from the realm's cached list (:class:`NameCache`)."""
        names = self._list(realm_id, entity)
        found = names.ids.get(name)
        if found is None and self._clock() - names.read_at >= self._names.recheck_s:
            found = self._list(realm_id, entity, again=True).ids.get(name)
        return found

    def _list(self, realm_id: str, entity: str, *, again: bool = False) -> _Names:
        now = self._clock()
        cached = None if again else self._names.get(realm_id, entity, now)
        if cached is not None:
            return cached
        rows: list[Mapping[str, Any]] = []
        start = 1
        while True:
            text = f"select * from {entity} startposition {start} maxresults {_PAGE}"  # noqa: S608
            answer = self._client.send(QboRequest.query(realm_id, text))
            if not answer.ok:  # never refused for want of an answer: the drain stops here
                raise QbsyncError(f"could not read the company's {entity} list: {answer.status}")
            page = (answer.body.get("QueryResponse") or {}).get(entity) or []
            rows.extend(page)
            if len(page) < _PAGE:
                break
            start += _PAGE
        active = [r for r in rows if r.get("Active") is not False and r.get("Id") is not None]
        ids: dict[str, str] = {}
        for row in active:  # a leaf name, unless a fully qualified name says otherwise
            if row.get("Name"):
                ids.setdefault(str(row["Name"]), str(row["Id"]))
        for row in active:
            if row.get("FullyQualifiedName"):
                ids[str(row["FullyQualifiedName"])] = str(row["Id"])
        listed = sorted({str(r.get("FullyQualifiedName") or r.get("Name")) for r in active})
        names = _Names(now, ids, tuple(listed))
        self._names.put(realm_id, entity, names)
        return names

    def day_activities(
        self, realm_id: str, worker: tuple[str, str], day: date
    ) -> list[Mapping[str, Any]]:
        """The worker's TimeActivity records in QBO on ``day``."""
        text = f"select * from TimeActivity where TxnDate = '{day.isoformat()}'"  # noqa: S608
        found: list[Mapping[str, Any]] = []
        start = 1
        while True:
            answer = self._client.send(
                QboRequest.query(realm_id, f"{text} startposition {start} maxresults 1000")
            )
            if not answer.ok:  # never refused for want of an answer: the drain stops here
                raise QbsyncError(f"could not read the day's time activities: {answer.status}")
            rows = (answer.body.get("QueryResponse") or {}).get("TimeActivity") or []
            found.extend(r for r in rows if _worker(r) == worker)
            if len(rows) < 1000:
                return found
            start += 1000


def _ref_value(ref: object) -> object:
    return ref.get("value") if isinstance(ref, Mapping) else ref


def _same_entry(row: Mapping[str, Any], body: Mapping[str, Any]) -> bool:
    return all(str(row.get(f) or "") == str(body.get(f) or "") for f in _SAME_ENTRY) and all(
        _ref_value(row.get(f)) == _ref_value(body.get(f)) for f in _SAME_REFS
    )


def _created(row: Mapping[str, Any]) -> datetime | None:
    meta = row.get("MetaData")
    text = meta.get("CreateTime") if isinstance(meta, Mapping) else None
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC) if text else None
    except ValueError:
        return None


def _start_date(
    checks: CompanyChecks,
    realm_id: str,
    request: QboEntityRequest,
    _queued_at: datetime | None,
) -> Refusal | None:
    day = _day(request.body.get("TxnDate"))
    if day is None:
        return None
    start = checks.start_date(realm_id)
    if start is None or day >= start:
        return None
    return Refusal(
        BEFORE_START,
        f"TxnDate {day.isoformat()} is before the QuickBooks Online company's start date "
        f"{start.isoformat()}: date the {request.entity.lower()} on or after it in the app, "
        "or move the company's start date in QuickBooks Online, then replay",
    )


def _day_limit(
    checks: CompanyChecks,
    realm_id: str,
    request: QboEntityRequest,
    queued_at: datetime | None,
) -> Refusal | None:
    day, worker = _day(request.body.get("TxnDate")), _worker(request.body)
    if day is None or worker is None or request.operation is not QboOperation.CREATE:
        return None
    this = _minutes(request.body)
    rows = checks.day_activities(realm_id, worker, day)
    already = sum(_minutes(r) for r in rows)
    if already + this <= DAY_MINUTES:
        return None
    own: tuple[str, ...] = ()
    if queued_at is not None and already <= DAY_MINUTES:  # one of them may be this entry
        since = queued_at - _CLOCK_SLACK
        own = tuple(
            str(r["Id"])
            for r in rows
            if _same_entry(r, request.body) and (_created(r) or since) >= since
        )
    return Refusal(
        OVER_A_DAY,
        f"duration: {this} minutes on {day.isoformat()} on top of {already} already in "
        "QuickBooks Online for the same person would be more than 24 hours in one day; "
        "correct the day's entries in the app, then replay",
        own,
    )


CHECKS: dict[
    str, Callable[[CompanyChecks, str, QboEntityRequest, datetime | None], Refusal | None]
] = {
    "start-date": _start_date,
    "day-limit": _day_limit,
    "names": lambda _checks, _realm, _request, _queued: None,  # CompanyChecks.named instead
    PROJECT_ITEMS: lambda _checks, _realm, _request, _queued: None,  # likewise
}
