"""Imports: reading lists back from QuickBooks through the Web Connector session.

After a file's pending commands are sent (writes first: what we just changed should come
back changed), the gateway pages through each import that is due with an iterator:
``<XQueryRq iterator="Start"><MaxReturned>150</MaxReturned><FromModifiedDate>...``, then
``iterator="Continue"`` until ``iteratorRemainingCount`` is 0. Every page's records are saved
as they come (saving twice is harmless); the watermark (the newest ``TimeModified`` seen)
advances only once every page was processed, so an interrupted import (the session ended,
QuickBooks closed, the gateway crashed) starts over from the old watermark next time.
Iterators live only within one session: the state is kept on the session row and dies with
it. The next import asks from a minute before the watermark, because QuickBooks stamps
``TimeModified`` with the workstation's clock.

**Deleted transactions** (``deleted_transactions`` in the list, after the transactions):
QuickBooks keeps a log of deleted transactions, read with ``TxnDeletedQueryRq`` for the
types of the transactions imported, since its own watermark (the newest ``TimeDeleted``).
One answer, no iterator. Each is published as an ``Imported`` marked ``deleted``; the worker
tells the app whose record it was, as it does for QBO's.

Pure functions over a plain-dict state, so the gateway stores it as JSON and tests need no
QuickBooks.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.qbxml import (
    DELETABLE,
    ENTITIES,
    PAGE_SIZE,
    ResponseStatus,
    build_deleted_query,
    build_query,
)

__all__ = ["DELETED", "ImportConfig", "absorb", "due", "import_request", "next_due", "start"]

# The import of QuickBooks' deletion log of the transactions imported (TxnDeletedQueryRq).
DELETED = "deleted_transactions"


@dataclass(frozen=True)
class ImportConfig:
    """Which entities each company file imports, how often, and the page size."""

    entities: tuple[str, ...] = ()
    interval: timedelta = timedelta(minutes=15)
    page_size: int = PAGE_SIZE
    rewind: timedelta = timedelta(minutes=1)
    # How far back a transaction is read at most, watermark or not: a file holds years of
    # them, and the apps want recent bills (job costs) and the payments of invoices qbsync
    # synced, not the file's history.
    windows: Mapping[str, timedelta] = field(
        default_factory=lambda: {
            "bill": timedelta(days=14),
            "invoice": timedelta(days=90),
            "receive_payment": timedelta(days=90),
            # Time entered in QuickBooks for the apps (direction.time_entry), when imported.
            "time_tracking": timedelta(days=30),
            # Deletions as far back as the longest window above: older ones are of records
            # no import read lately (and no app changes a 90-day-old invoice).
            DELETED: timedelta(days=90),
        }
    )
    # Extra elements of an entity's query: a bill's lines are its job costs.
    query_values: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: {"bill": {"IncludeLineItems": True}}
    )

    def __post_init__(self) -> None:
        unknown = [
            e
            for e in self.entities
            if e != DELETED and (e not in ENTITIES or "Query" not in ENTITIES[e].actions)
        ]
        if unknown:
            raise ValueError(f"cannot import {unknown[0]!r}: not a queryable qbXML entity")
        if DELETED in self.entities and not self.deleted_types:
            raise ValueError(
                f"cannot import {DELETED!r}: it reads the deletions of the transactions"
                " imported, and none is (add invoice, bill, receive_payment ... to the list)"
            )
        if not 1 <= self.page_size <= PAGE_SIZE:
            raise ValueError(f"page size {self.page_size} must be between 1 and {PAGE_SIZE}")

    @property
    def deleted_types(self) -> tuple[str, ...]:
        """The qbXML types (``Invoice``) whose deletions ``deleted_transactions`` reads: those
        of the transactions imported."""
        names = (ENTITIES[e].name for e in self.entities if e != DELETED)
        return tuple(dict.fromkeys(n for n in names if n in DELETABLE))

    def imported_as(self, qbxml_type: str) -> tuple[str, ...]:
        """The imports of a qbXML type (``Bill``: ``bill``, and ``subcontractor_invoice`` if
        imported too)."""
        return tuple(e for e in self.entities if e != DELETED and ENTITIES[e].name == qbxml_type)


def due(config: ImportConfig, watermarks: Mapping[str, Any], now: datetime) -> list[str]:
    """The configured entities to import now, in configuration order: never completed,
    requested, or completed longer than ``interval`` ago. ``watermarks`` maps an entity to
    a row with ``completed_at`` and ``requested_at`` (the store's ``ImportWatermark``)."""
    return [e for e in config.entities if _due_at(config, watermarks.get(e)) <= now]


def next_due(config: ImportConfig, watermarks: Mapping[str, Any]) -> datetime | None:
    """When :func:`due` first names an entity, from the same watermarks: ``due(config,
    watermarks, now)`` is non-empty exactly when this is not None and not after ``now``
    (a time long past when one is due whatever the time). None: no entity configured."""
    return min((_due_at(config, watermarks.get(e)) for e in config.entities), default=None)


# "Due whatever the time": an entity never completed, or requested.
_ALWAYS = datetime.min.replace(tzinfo=UTC)


def _due_at(config: ImportConfig, mark: Any) -> datetime:
    """When one entity's import falls due, from its watermark row (None: never read)."""
    completed = _aware(mark.completed_at) if mark is not None and mark.completed_at else None
    if completed is None or (mark is not None and mark.requested_at is not None):
        return _ALWAYS
    return completed + config.interval


def start(
    config: ImportConfig,
    entity: str,
    modified_from: datetime | None,
    now: datetime,
    *,
    full_read: str | None = None,
) -> dict[str, Any]:
    """The state of an import about to ask for its first page. ``full_read`` ("match":
    for matching only, "deliver": "get all", asked once the mapping was confirmed): every
    record, so neither the watermark nor the entity's window applies."""
    if full_read is not None:
        modified_from = None
    window = None if full_read is not None else config.windows.get(entity)
    return {
        "entity": entity,
        # Stored naive by SQLite: every stored time is UTC, and QuickBooks must get the offset
        # (without one it reads the workstation's local time).
        "from": _aware(modified_from).isoformat() if modified_from else None,
        "not_before": (now - window).isoformat() if window else None,
        "iterator_id": None,
        "page": 0,
        "seen": 0,
        "newest": None,
        "full_read": full_read,
    }


def import_request(config: ImportConfig, state: Mapping[str, Any]) -> tuple[str, str]:
    """``(requestID, XQueryRq)`` for the state's next page."""
    entity = state["entity"]
    since = datetime.fromisoformat(state["from"]) - config.rewind if state["from"] else None
    if state.get("not_before"):
        floor = datetime.fromisoformat(state["not_before"])
        since = floor if since is None else max(since, floor)
    if entity == DELETED:
        return f"import-{entity}-{state['page']}", build_deleted_query(config.deleted_types, since)
    continuing = state["iterator_id"] is not None
    # Short lists (classes, terms, sales tax codes ...) have no iterator in qbXML: one
    # answer holds them all.
    pageable = ENTITIES[entity].request("Query").iterator
    request = build_query(
        entity,
        None if continuing else config.query_values.get(entity),
        modified_from=None if continuing else since,
        active="All" if ENTITIES[entity].is_list and not continuing else None,
        max_returned=config.page_size if pageable else None,
        iterator=("Continue" if continuing else "Start") if pageable else None,
        iterator_id=state["iterator_id"],
    )
    return f"import-{entity}-{state['page']}", request


@dataclass(frozen=True)
class Absorbed:
    """What one answered page gives: records to save, the next state (None: this entity is
    finished), and for a finished entity its new watermark."""

    records: list[dict[str, Any]]
    state: dict[str, Any] | None
    watermark: datetime | None = None
    error: str | None = None
    total: int = 0  # records of this entity over every page, when finished
    remaining: int | None = None  # QuickBooks' iteratorRemainingCount, when not finished


def absorb(state: Mapping[str, Any], status: ResponseStatus | None) -> Absorbed:
    """Take one answered page. A refusal (no permission for the list, an expired iterator)
    ends this entity's import without moving its watermark; the reason is returned."""
    if status is None or not status.ok:
        reason = "no answer" if status is None else f"{status.status_code} {status.status_message}"
        return Absorbed([], None, error=f"import of {state['entity']} stopped: {reason}")
    records = [
        {
            "qb_id": record.qb_id,
            "full_name": record.full_name or record.name,
            "ref_number": record.ref_number,
            "is_active": record.is_active is not False,
            "edit_sequence": record.edit_sequence,
            "time_modified": record.time_modified,
        }
        for record in status.records
        if record.qb_id
    ]
    moments = (r.time_modified or r.time_deleted for r in status.records)
    stamps = [_aware(moment) for moment in moments if moment is not None]
    if state["newest"]:
        stamps.append(datetime.fromisoformat(state["newest"]))
    newest = max(stamps, default=None)
    if status.more:
        return Absorbed(
            records,
            {
                **state,
                "iterator_id": status.iterator_id,
                "page": state["page"] + 1,
                "seen": state["seen"] + len(records),
                "newest": newest.isoformat() if newest else None,
            },
            remaining=status.iterator_remaining_count,
        )
    return Absorbed(records, None, watermark=newest, total=state["seen"] + len(records))


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
