"""Reading a QBO company back: CDC since a watermark per entity, published on
``<prefix>.imports`` as the Desktop gateway's imports are, so the worker's ``reconcile``
agent gives the same ``QuickBooksChange`` events, echo suppression and conflict policies.

Per company, after its commands (the sender calls :meth:`QboReader.read` under the
company's drain lease):

1. **Due** entities (:func:`due`): never read, asked for (a webhook's hint or an app's
   ``import.sync_requested`` sets ``requested_at``), or read longer than ``interval`` ago.
   Watermarks are the Desktop imports' rows (``import_watermarks``), keyed by the import
   entity (``customer``, ``invoice``, ``receive_payment`` ...).
2. **One CDC request** for them all since the oldest watermark, rewound a minute (the
   worker drops what it saw: same SyncToken). A first read goes back ``lookback`` (CDC
   refuses more than 30 days).
   Entities CDC lacks (``TimeActivity``) are asked instead by query pages since their own
   watermark, the same way; their watermark is the newest ``LastUpdatedTime`` read.
3. **A truncated answer** (1,000 objects: CDC cannot page) is read again entity by entity
   with the query language, ordered by ``MetaData.LastUpdatedTime``, 1,000 a page, until a
   page is short.
4. Every record goes to every tenant of the company, **acknowledged by Kafka before the
   watermark moves**: a crash in between reads the same changes again, which the worker drops
   as seen. The watermark is the CDC answer's ``time`` (Intuit's clock, not ours), or after
   a paged read the newest ``LastUpdatedTime`` seen.
5. **Full reads** (``full_read`` on the watermark): the entity is read whole by query
   pages (CDC cannot go back further than 30 days), counted first, each page published and
   kept before the next is asked, its progress noted (``Store.note_import_progress``).
   "deliver" ("get all": an app's ``import.everything``, allowed once the tenant's mapping
   was confirmed) goes to the apps and moves the watermark to the newest
   ``LastUpdatedTime`` seen; "match" (``qbsync map refresh``) only refreshes what matching
   sees, moving nothing (the store's ``complete_import``).
6. **Deletion sweeps** for entities CDC lacks (``SWEPT``: ``TimeActivity``): a query cannot
   name what was deleted, so the time entries qbsync knows for the company (the apps'
   mapped ones and those kept for matching) are asked by id (``Id in (...)``, 100 a query)
   and those QBO no longer has are deleted transactions like CDC's. Due every
   ``sweep_interval`` (an hour: 100,000 known entries cost 1,000 requests an hour, 3% of
   the 500 a minute) or at once when a webhook says one was deleted (``webhook_hints``).
   Its own watermark row (``time_tracking:deleted``: ``sweep_key``) says when it ran.

Deleted records (``"status": "Deleted"``) carry only an id: QBO lists cannot be deleted
(made inactive instead, which arrives as a change), so such a row is skipped; a deleted
transaction goes on as an ``Imported`` marked ``deleted`` (``record_json`` ``{}``), and the
worker tells the app whose record it was (``QuickBooksChange.deleted``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, cast

from connectors.qbo._changes import CDC_LIMIT, NOT_IN_CDC, ChangedRecord, read_changes
from connectors.qbo._client import QboClient
from connectors.qbo._connections import QboConnections
from connectors.qbo._imports import READABLE, as_imported, deleted_as, is_list
from connectors.qbo._records import QboRequest
from connectors.qbo._webhooks import DataChange
from connectors.store import FullRead, Store
from core.contracts import AvroCodec

__all__ = [
    "SWEPT",
    "QboReader",
    "ReadReport",
    "ReaderConfig",
    "due",
    "due_sweeps",
    "imports_read",
    "sweep_key",
    "webhook_hints",
]

log = logging.getLogger(__name__)

IMPORTED = "com.qbsync.pipeline.Imported"

# QBO entities CDC lacks whose deletions a sweep finds, with the app entity whose mapped
# QuickBooks ids it checks (``core.contracts`` ``ENTITIES``; a deleted one is told to the
# app whose record it was, as CDC's deleted transactions are).
SWEPT: dict[str, str] = {"TimeActivity": "time_entry"}
_SWEEP_IDS = 100  # ids per "Id in (...)" query: a URL of 1-2 KB


class _Sink(Protocol):
    def send_all(
        self, records: Sequence[tuple[str, bytes | None, bytes]], *, timeout: float = ...
    ) -> int: ...


@dataclass(frozen=True)
class ReaderConfig:
    imports_topic: str
    # QBO entities read back, by their QBO names (``READABLE``).
    entities: tuple[str, ...] = ("Customer", "Vendor", "Employee", "Item", "Invoice", "Payment")
    interval: timedelta = timedelta(minutes=5)
    rewind: timedelta = timedelta(minutes=1)
    lookback: timedelta = timedelta(days=29)
    # How often the time entries qbsync knows are checked for deletions (``SWEPT``).
    sweep_interval: timedelta = timedelta(hours=1)

    def __post_init__(self) -> None:
        unknown = [e for e in self.entities if e not in READABLE]
        if unknown:
            raise ValueError(
                f"QBSYNC_QBO_READ_ENTITIES: cannot read {unknown[0]!r} back; "
                f"choose among {', '.join(READABLE)}"
            )


@dataclass(frozen=True)
class ReadReport:
    entities: tuple[str, ...]
    records: int  # read from QBO
    published: int  # Imported records acknowledged (one per record and tenant)
    skipped: int  # deleted, or an item type not read back
    watermark: datetime | None
    paged: bool  # the CDC answer was truncated and read again by queries


@dataclass
class _Tally:
    """What a read got so far: records read, Imported messages acknowledged, records not
    told (deleted lists, item types not read back), told per import entity."""

    records: int = 0
    published: int = 0
    skipped: int = 0
    counted: dict[str, int] = field(default_factory=dict)

    def add(self, other: _Tally) -> None:
        self.records += other.records
        self.published += other.published
        self.skipped += other.skipped
        for name, count in other.counted.items():
            self.counted[name] = self.counted.get(name, 0) + count


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _full_reads(entities: Sequence[str], marks: Mapping[str, Any]) -> dict[str, FullRead]:
    """The due entities with a full read pending, and which (the store's column is text
    written only by ``Store.request_import``, which checks it)."""
    found: dict[str, FullRead] = {}
    for entity in entities:
        mark = marks.get(READABLE[entity].entity)
        if mark is not None and mark.full_read in ("match", "deliver"):
            found[entity] = cast("FullRead", mark.full_read)
    return found


def imports_read(entities: Sequence[str]) -> tuple[str, ...]:
    """The import entities (``customer``, ``receive_payment`` ...) these QBO entities are
    read back as: what an app may ask to import from a QBO company."""
    return tuple(dict.fromkeys(READABLE[e].entity for e in entities if e in READABLE))


def _is_due(mark: Any, interval: timedelta, now: datetime) -> bool:
    completed = _aware(mark.completed_at) if mark is not None else None
    requested = mark is not None and mark.requested_at is not None
    return completed is None or requested or now - completed >= interval


def due(config: ReaderConfig, watermarks: Mapping[str, Any], now: datetime) -> list[str]:
    """The QBO entities to read now (``watermarks``: the store's rows by import entity)."""
    return [
        entity
        for entity in config.entities
        if _is_due(watermarks.get(READABLE[entity].entity), config.interval, now)
    ]


def sweep_key(entity: str) -> str:
    """The watermark row of ``entity``'s deletion sweep (``time_tracking:deleted``): its
    ``completed_at`` the last sweep, its ``requested_at`` a webhook's Delete."""
    return f"{READABLE[entity].entity}:deleted"


def due_sweeps(config: ReaderConfig, watermarks: Mapping[str, Any], now: datetime) -> list[str]:
    """The QBO entities read back whose deletion sweep (``SWEPT``) is due now."""
    return [
        entity
        for entity in config.entities
        if entity in SWEPT
        and _is_due(watermarks.get(sweep_key(entity)), config.sweep_interval, now)
    ]


class QboReader:
    def __init__(
        self,
        client: QboClient,
        store: Store,
        sink: _Sink,
        codec: AvroCodec,
        config: ReaderConfig,
    ) -> None:
        self._client = client
        self._store = store
        self._sink = sink
        self._codec = codec
        self._config = config

    @property
    def config(self) -> ReaderConfig:
        return self._config

    def read(self, profile_id: str, realm_id: str) -> ReadReport | None:
        """Read what is due for this company; None when nothing is. Errors (Intuit
        unreachable, CDC refused, the broker) propagate: no watermark has moved then."""
        now = datetime.now(UTC)
        marks = self._store.watermarks(profile_id)
        entities = due(self._config, marks, now)
        sweeps = due_sweeps(self._config, marks, now)
        if not entities and not sweeps:
            return None
        tenants = [tenant.id for tenant in self._store.tenants(profile_id)]
        # Full reads ("get all" once the mapping was confirmed, or a read for matching):
        # every record by query pages, since CDC cannot go back further than 30 days.
        full = _full_reads(entities, marks)
        # CDC has no TimeActivity: such entities are asked by query since their watermark.
        queried = [e for e in entities if e not in full and e in NOT_IN_CDC]
        changed = [e for e in entities if e not in full and e not in NOT_IN_CDC]
        records: list[ChangedRecord] = []  # told to the apps
        tally = _Tally()
        moved: dict[str, datetime | None] = {}
        paged = False
        # Deletions go ahead of what CDC and the queries find in this read (full reads
        # publish page by page as they go): a change an app is told after a deletion was
        # read after it.
        swept: dict[str, list[ChangedRecord]] = {}
        for entity in sweeps:
            swept[entity] = self._sweep(realm_id, profile_id, tenants, entity, now)
            records += swept[entity]
        if changed:
            found, watermark, paged = self._changes(realm_id, changed, marks, now)
            records += found
            moved |= dict.fromkeys(changed, watermark)
        for entity in queried:
            found = self._query_since(realm_id, entity, self._since(entity, marks, now))
            records += found
            moved[entity] = _newest(found)  # nothing read: the watermark stays
        for entity, mode in full.items():
            moved[entity] = self._full_read(profile_id, realm_id, tenants, entity, mode, now, tally)
        tally.add(self._deliver(profile_id, tenants, records, now))
        for entity, deleted in swept.items():
            self._store.complete_import(profile_id, sweep_key(entity), None, len(deleted))
        for entity in entities:
            name = READABLE[entity].entity
            self._store.complete_import(
                profile_id,
                name,
                moved[entity],
                tally.counted.get(name, 0),
                full_read=full.get(entity),
            )
        log.info(
            "qbo changes read",
            extra={"profile": profile_id, "records": tally.records, "paged": paged},
        )
        newest = max((m for m in moved.values() if m is not None), default=None)
        read = tuple(entities or sweeps)
        return ReadReport(read, tally.records, tally.published, tally.skipped, newest, paged)

    def _changes(
        self, realm_id: str, entities: list[str], marks: Mapping[str, Any], now: datetime
    ) -> tuple[list[ChangedRecord], datetime | None, bool]:
        """What changed since the oldest watermark of ``entities`` (one CDC request, read
        again by query pages when truncated): the records, the new watermark, paged."""
        since = min(self._since(entity, marks, now) for entity in entities)
        page = read_changes(self._client, realm_id, entities, since)
        if not page.truncated:
            return list(page.records), page.watermark, False
        records = []
        for entity in entities:
            records.extend(self._query_since(realm_id, entity, since))
        # Nothing newer than what was read can have been missed; with nothing read,
        # the watermark stays.
        newest = [r.last_updated for r in records if r.last_updated is not None]
        return records, max(newest) if newest else None, True

    def _since(self, entity: str, marks: Mapping[str, Any], now: datetime) -> datetime:
        """Where a read of ``entity`` starts: its watermark rewound a minute (QuickBooks'
        clock), at most ``lookback`` back (a first read; CDC refuses more than 30 days)."""
        floor = now - self._config.lookback
        mark = marks.get(READABLE[entity].entity)
        since = _aware(mark.modified_from) if mark is not None else None
        return floor if since is None else max(floor, since - self._config.rewind)

    def _query_since(
        self, realm_id: str, entity: str, since: datetime | None
    ) -> list[ChangedRecord]:
        """Every record of ``entity`` changed after ``since`` (None: every record), by
        pages of the query language (what CDC's 1,000-object answer could not hold)."""
        return [record for page in self._pages(realm_id, entity, since) for record in page]

    @staticmethod
    def _where(entity: str, since: datetime | None) -> str:
        conditions = []
        if is_list(entity):  # a list's inactive records too (a customer made inactive)
            conditions.append("Active in (true, false)")
        if since is not None:
            stamp = since.astimezone(UTC).isoformat(timespec="seconds")
            conditions.append(f"MetaData.LastUpdatedTime > '{stamp}'")
        return f" where {' and '.join(conditions)}" if conditions else ""

    def _pages(
        self, realm_id: str, entity: str, since: datetime | None
    ) -> Iterator[list[ChangedRecord]]:
        """The records of ``entity`` changed after ``since``, a page (1,000) at a time,
        oldest change first."""
        where = self._where(entity, since)
        start = 1
        while True:
            text = (
                f"select * from {entity}{where} "  # noqa: S608
                f"orderby MetaData.LastUpdatedTime startposition {start} maxresults {CDC_LIMIT}"
            )
            answer = self._client.send(QboRequest.query(realm_id, text))
            if not answer.ok:
                raise RuntimeError(f"realm {realm_id}: the {entity} query was refused")
            rows = (answer.body.get("QueryResponse") or {}).get(entity) or []
            page = []
            for row in rows:
                meta = row.get("MetaData") or {}
                moment = _aware(_parse(meta.get("LastUpdatedTime")))
                page.append(ChangedRecord(entity, str(row.get("Id", "")), False, moment, row))
            yield page
            if len(rows) < CDC_LIMIT:
                return
            start += len(rows)

    def _full_read(
        self,
        profile_id: str,
        realm_id: str,
        tenants: Sequence[str],
        entity: str,
        mode: FullRead,
        now: datetime,
        tally: _Tally,
    ) -> datetime | None:
        """Every record of ``entity``, a page at a time: each page published ("deliver")
        and kept for matching before the next is asked (a list of 100,000 never sits in
        memory), then its progress noted (``qbsync tenant import-status``: read, and left
        of the total counted first). A read that stops keeps its progress; the next one
        starts over (the worker drops what it saw). The newest change read."""
        name = READABLE[entity].entity
        total = self._count(realm_id, entity, self._where(entity, None))
        newest: datetime | None = None
        read = 0
        for page in self._pages(realm_id, entity, None):
            tally.add(self._deliver(profile_id, tenants, page, now, tell=mode == "deliver"))
            read += len(page)
            newest = max((m for m in (newest, _newest(page)) if m is not None), default=None)
            left = None if total is None else max(total - read, 0)
            self._store.note_import_progress(profile_id, name, read, left)
        return newest

    def _deliver(
        self,
        profile_id: str,
        tenants: Sequence[str],
        records: Sequence[ChangedRecord],
        now: datetime,
        *,
        tell: bool = True,
    ) -> _Tally:
        """Publish ``records`` to the tenants (``tell``; acknowledged by Kafka when this
        returns), then keep what QuickBooks has for matching and reference checks (the
        Desktop import's ``save_qb_records``) and forget what it deleted: all before any
        watermark moves, so a crash reads them again."""
        tally = _Tally(records=len(records))
        if tell:
            messages, tally.counted, tally.skipped = self._messages(
                profile_id, tenants, records, now
            )
            if messages:
                self._sink.send_all(messages)
            tally.published = len(messages)
        for name, known in _known(records).items():
            self._store.save_qb_records(profile_id, name, known)
        for name, gone in _gone(records).items():
            self._store.forget_qb_records(profile_id, name, gone)
        return tally

    def _count(self, realm_id: str, entity: str, where: str) -> int | None:
        """How many records a query would page through (None: QBO would not say)."""
        text = f"select count(*) from {entity}{where}"  # noqa: S608
        answer = self._client.send(QboRequest.query(realm_id, text))
        counted = (answer.body.get("QueryResponse") or {}).get("totalCount") if answer.ok else None
        return counted if isinstance(counted, int) else None

    def _sweep(
        self, realm_id: str, profile_id: str, tenants: Sequence[str], entity: str, now: datetime
    ) -> list[ChangedRecord]:
        """The ``entity`` records qbsync knows for the company (the apps' mapped ones, those
        kept for matching) that QBO no longer has: deleted (a list record is made inactive,
        never deleted, so only transactions are swept)."""
        name = READABLE[entity].entity
        known = self._store.mapped_qb_ids(tenants, SWEPT[entity])
        known |= {record.qb_id for record in self._store.qb_records(profile_id, name)}
        wanted = sorted(known)
        gone: list[ChangedRecord] = []
        for start in range(0, len(wanted), _SWEEP_IDS):
            chunk = wanted[start : start + _SWEEP_IDS]
            listed = ", ".join("'" + qb_id.replace("'", "\\'") + "'" for qb_id in chunk)
            answer = self._client.send(
                QboRequest.query(
                    realm_id,
                    f"select * from {entity} where Id in ({listed}) "  # noqa: S608
                    f"maxresults {CDC_LIMIT}",
                )
            )
            if not answer.ok:
                raise RuntimeError(f"realm {realm_id}: the {entity} deletion sweep was refused")
            rows = (answer.body.get("QueryResponse") or {}).get(entity) or []
            present = {str(row.get("Id", "")) for row in rows}
            gone += [ChangedRecord(entity, i, True, now, {}) for i in chunk if i not in present]
        return gone

    def _messages(
        self,
        profile_id: str,
        tenants: Sequence[str],
        records: Sequence[ChangedRecord],
        now: datetime,
    ) -> tuple[list[tuple[str, bytes | None, bytes]], dict[str, int], int]:
        messages: list[tuple[str, bytes | None, bytes]] = []
        counted: dict[str, int] = {}
        skipped = 0
        for record in records:
            shaped: tuple[str, str, dict[str, Any]] | None
            if record.deleted:
                gone = deleted_as(record.entity)
                shaped = None if gone is None else (*gone, {})
            else:
                shaped = as_imported(record.entity, record.record)
            if shaped is None or not record.entity_id:
                skipped += 1
                continue
            entity, element, fields = shaped
            counted[entity] = counted.get(entity, 0) + 1
            body = json.dumps(fields, separators=(",", ":"), default=str)
            for tenant_id in tenants:
                value = {
                    "tenant_id": tenant_id,
                    "profile_id": profile_id,
                    "entity": entity,
                    "qb_id": record.entity_id,
                    "edit_sequence": fields.get("EditSequence"),
                    "time_modified": record.last_updated,
                    "record_type": element,
                    "record_json": body,
                    "imported_at": now,
                    "deleted": record.deleted,
                }
                messages.append(
                    (
                        self._config.imports_topic,
                        tenant_id.encode(),
                        self._codec.encode(IMPORTED, value),
                    )
                )
        return messages, counted, skipped


def _newest(records: Sequence[ChangedRecord]) -> datetime | None:
    return max((r.last_updated for r in records if r.last_updated is not None), default=None)


def _known(records: Sequence[ChangedRecord]) -> dict[str, list[dict[str, Any]]]:
    """Per import entity, the records as the store keeps them (``save_qb_records``)."""
    known: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        shaped = None if record.deleted else as_imported(record.entity, record.record)
        if shaped is None or not record.entity_id:
            continue
        entity, _element, fields = shaped
        known.setdefault(entity, []).append(
            {
                "qb_id": record.entity_id,
                "full_name": fields.get("FullName") or fields.get("Name"),
                "ref_number": fields.get("RefNumber"),
                "is_active": fields.get("IsActive") != "false",
                "edit_sequence": fields.get("EditSequence"),
                "time_modified": record.last_updated,
            }
        )
    return known


def _gone(records: Sequence[ChangedRecord]) -> dict[str, list[str]]:
    """Per import entity, the ids of deleted transactions (no longer kept for matching)."""
    gone: dict[str, list[str]] = {}
    for record in records:
        shaped = deleted_as(record.entity) if record.deleted else None
        if shaped is not None and record.entity_id:
            gone.setdefault(shaped[0], []).append(record.entity_id)
    return gone


def webhook_hints(
    connections: QboConnections, store: Store, config: ReaderConfig
) -> Callable[[list[DataChange]], None]:
    """``webhook_app``'s hint: a verified notification only asks for a CDC read of the
    entities it names, and for a deletion of an entity CDC lacks, its sweep
    (``requested_at`` on their watermarks, in the store, so a crash does not lose it); its
    contents are never used as data. Unknown realms and entities not read back are
    ignored."""

    def hint(changes: list[DataChange]) -> None:
        wanted: dict[str, set[str]] = {}
        for change in changes:
            if change.entity not in config.entities:
                continue
            company = connections.by_realm(change.realm_id)
            if company is None:
                log.warning("webhook for an unknown realm", extra={"realm": change.realm_id})
                continue
            names = wanted.setdefault(company.profile_id, set())
            names.add(READABLE[change.entity].entity)
            # What CDC cannot tell (a deleted time entry): its sweep, now.
            if change.entity in SWEPT and change.operation in ("Delete", "Void"):
                names.add(sweep_key(change.entity))
        for profile_id, names in wanted.items():
            store.request_import(profile_id, sorted(names))

    return hint


def _parse(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
