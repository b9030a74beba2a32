"""Imported QuickBooks records to change events for the apps: the store look-ups around
:func:`streams.two_way.news.decide`, one query per tenant and kind of look-up for a batch.

Returns :class:`Change` s: the record to send, and what to remember once it is sent; the
caller sends first and remembers after, so a crash in between delivers a change twice (its
``change_id`` is derived from the version, so consumers drop the copy) and never loses one.
A change of a two-way record carries a :class:`Guard`: an app change of the same record
still parked in the worker (waiting, or backing off after "record in use") is a conflict,
which only the agent can see (the parking table lives in its event loop).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from typing import Any

from connectors.store import DeliveredChange, Mapping, Store
from core.contracts import AvroCodec, EncodeError, InvalidEvent, from_json, to_json
from core.messages import Imported
from streams.parking import record_key
from streams.rules import SAME_LIST
from streams.tenant_settings import SettingsError, TenantSettings, load_settings
from streams.two_way.from_quickbooks import SHAPES, AppRecord, app_records
from streams.two_way.news import Deliver, Version, decide

__all__ = ["CHANGE", "Change", "Guard", "Reconciled", "Tenanted", "read", "reconcile"]

log = logging.getLogger(__name__)

CHANGE = "com.qbsync.events.QuickBooksChange"
# The version a deletion is delivered as (the store's delivered row, the change id): a
# deleted record has no EditSequence, and is deleted once.
DELETED = "deleted"
_CHANGE_IDS = uuid.UUID("6f1e0d1c-7a43-4c55-9a8e-5b2f3f0c1d2e")


@dataclass(frozen=True)
class Guard:
    """Hold the change back if the app's parked change of ``record`` wins under ``policy``."""

    record: bytes  # streams.parking.record_key of the app's record
    policy: str
    qb_changed_at: datetime | None


@dataclass(frozen=True)
class Change:
    """One change event, what to remember once it is sent, and its guard."""

    record: tuple[str, bytes, bytes]
    delivered: DeliveredChange
    mapping: Mapping | None  # the mapping at QuickBooks' EditSequence, for a mapped record
    guard: Guard | None = None


@dataclass
class Reconciled:
    """What a batch of imported records gives: changes, and how many records were dropped
    for which reason (for the log)."""

    changes: list[Change] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    # Records that could not become a change event (by position in the batch), and why.
    failed: list[tuple[int, str]] = field(default_factory=list)


def change_id(tenant_id: str, entity: str, qb_id: str, edit_sequence: str | None) -> str:
    """The same version of the same record always gets the same id."""
    return str(uuid.uuid5(_CHANGE_IDS, f"{tenant_id}/{entity}/{qb_id}/{edit_sequence}"))


@dataclass
class Tenanted:
    """One tenant's imported records in a batch, with what the store knows about them (read
    by :func:`read` before :func:`reconcile` decides)."""

    tenant_id: str
    records: list[tuple[int, Imported]]  # (position in the batch, record)
    settings: TenantSettings | None = None
    dropped: str | None = None  # why none of them is delivered ("no-tenant", ...)
    shaped: list[tuple[int, Imported, AppRecord]] = field(default_factory=list)
    mapped: dict[str, list[Mapping]] = field(default_factory=dict)
    theirs: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, qb id)
    apis: dict[str, str] = field(default_factory=dict)  # profile -> "qbo" | "qbxml"
    shaped_as: dict[int, set[str]] = field(default_factory=dict)  # position -> entities
    delivered: dict[tuple[str, str], DeliveredChange] = field(default_factory=dict)
    # Transactions deleted in QuickBooks that are the app's: (position, record, mapping).
    gone: list[tuple[int, Imported, Mapping]] = field(default_factory=list)
    unreadable: int = 0
    not_delivered: int = 0
    not_ours: int = 0  # deleted records the app never had


def read(store: Store, imported: Sequence[Imported]) -> list[Tenanted]:
    """Everything :func:`reconcile` needs from the store, one query per tenant and kind of
    look-up: the tenant, the mappings of the records and of what they name, what another
    tenant of a shared file holds, and the versions delivered already."""
    by_tenant: dict[str, Tenanted] = {}
    for position, record in enumerate(imported):
        by_tenant.setdefault(record.tenant_id, Tenanted(record.tenant_id, [])).records.append(
            (position, record)
        )
    for batch in by_tenant.values():
        tenant = store.tenant(batch.tenant_id)
        if tenant is None:
            batch.dropped = "no-tenant"
            continue
        try:
            batch.settings = load_settings(tenant.settings)
        except SettingsError:
            batch.dropped = "invalid-settings"
            log.warning("tenant settings invalid; imports not delivered")
            continue
        # The records themselves and everything they name (a payment's customer and
        # invoices, a bill line's job): one query.
        fields = [_fields(r) for _, r in batch.records]
        named = {r.qb_id for _, r in batch.records}.union(*(_ids(f) for f in fields))
        batch.mapped = store.mappings_by_qb_id(batch.tenant_id, sorted(named))
        resolve = partial(_resolve, batch.mapped)
        apis = batch.apis  # profile -> where its records were read
        for (position, record), found in zip(batch.records, fields, strict=True):
            if record.deleted:
                mapping = _deleted_mapping(batch.mapped, record)
                if mapping is None:
                    batch.not_ours += 1
                else:
                    batch.gone.append((position, record, mapping))
                continue
            if found is None:
                batch.unreadable += 1
                continue
            if record.profile_id not in apis:
                apis[record.profile_id] = "qbo" if store.is_qbo(record.profile_id) else "qbxml"
            shapes = app_records(record.record_type, found, resolve, apis[record.profile_id])
            if not shapes:
                batch.not_delivered += 1  # accounts, classes ...: for matching only
            batch.shaped += [(position, record, shape) for shape in shapes]
            batch.shaped_as[position] = {shape.entity for shape in shapes}
        # A shared company file: what another tenant of the file holds is never news here.
        # In QuickBooks Online only as an entity this record is shaped as (or one in the
        # same list): QBO numbers each entity apart, so an Invoice 42 does not hold a
        # Customer 42 (:func:`_other_tenant`); in Desktop an id is one record in the file.
        for api in set(apis.values()):
            keys = [
                (shape.entity, r.qb_id) for _, r, shape in batch.shaped if apis[r.profile_id] == api
            ]
            if keys:
                batch.theirs |= store.held_by_others(
                    batch.tenant_id, keys, kin=SAME_LIST.get(api, {}), by_id=api != "qbo"
                )
        wanted = [(shape.entity, r.qb_id) for _, r, shape in batch.shaped]
        wanted += [(m.entity, r.qb_id) for _, r, m in batch.gone]
        for entity in {entity for entity, _ in wanted}:
            ids = [qb_id for named_entity, qb_id in wanted if named_entity == entity]
            for qb_id, row in store.delivered(batch.tenant_id, entity, ids).items():
                batch.delivered[(entity, qb_id)] = row
    return list(by_tenant.values())


def _deleted_mapping(mapped: dict[str, list[Mapping]], record: Imported) -> Mapping | None:
    """The app's record a deleted transaction was: a mapping of its id as an entity its
    element is read as (``SHAPES``; QBO numbers each entity apart, so an Invoice 42 is not
    the app's Payment 42)."""
    entities = {shape.entity for shape in SHAPES.get(record.record_type, ())}
    return next((m for m in mapped.get(record.qb_id, []) if m.entity in entities), None)


def _resolve(mapped: dict[str, list[Mapping]], entity: str, qb_id: str | None) -> str | None:
    if qb_id is None:
        return None
    found = [m for m in mapped.get(qb_id, []) if m.entity == entity]
    return found[0].external_id if found else None


def reconcile(
    codec: AvroCodec, topic: str, batches: Sequence[Tenanted], now: datetime
) -> Reconciled:
    """The change events for what :func:`read` found: pure, no I/O."""
    out = Reconciled()
    for batch in batches:
        if batch.dropped is not None or batch.settings is None:
            out.dropped[batch.dropped or "invalid-settings"] += len(batch.records)
            continue
        for reason, count in (
            ("unreadable", batch.unreadable),
            ("not-delivered", batch.not_delivered),
            ("not-ours", batch.not_ours),
        ):
            if count:
                out.dropped[reason] += count
        delivered = dict(batch.delivered)
        for position, record, shape in batch.shaped:
            _one(out, codec, topic, batch, position, record, shape, delivered, now)
        for position, record, mapping in batch.gone:
            _deleted(out, codec, topic, position, record, mapping, delivered, now)
    return out


def _fields(record: Imported) -> dict[str, Any] | None:
    try:
        fields = json.loads(record.record_json)
    except ValueError:
        return None
    return fields if isinstance(fields, dict) else None


def _ids(fields: Any) -> set[str]:
    """Every ListID and TxnID in a record, its references' included."""
    if isinstance(fields, list):
        return set().union(*(_ids(item) for item in fields))
    if not isinstance(fields, dict):
        return set()
    found = {v for k, v in fields.items() if k in ("ListID", "TxnID") and isinstance(v, str)}
    return found.union(*(_ids(v) for v in fields.values() if isinstance(v, dict | list)))


def _one(
    out: Reconciled,
    codec: AvroCodec,
    topic: str,
    batch: Tenanted,
    position: int,
    record: Imported,
    shape: AppRecord,
    delivered: dict[tuple[str, str], DeliveredChange],
    now: datetime,
) -> None:
    tenant_id, qb_id, mapped = record.tenant_id, record.qb_id, batch.mapped
    settings = batch.settings
    assert settings is not None  # reconcile skips a tenant without settings
    imported = Version(record.edit_sequence, record.time_modified)
    mapping = next((m for m in mapped.get(qb_id, []) if m.entity == shape.entity), None)
    seen = delivered.get((shape.entity, qb_id))
    decision = decide(
        settings,
        shape,
        imported,
        ours=None if mapping is None else Version(mapping.edit_sequence, None),
        delivered=None if seen is None else Version(seen.edit_sequence, seen.changed_at),
        elsewhere=_elsewhere(batch, position, record, shape),
        other_tenant=_other_tenant(batch, position, record),
    )
    if not isinstance(decision, Deliver):
        out.dropped[decision.reason] += 1
        return
    entity_id = None if mapping is None else mapping.external_id
    change = _change_of(record, shape.entity, entity_id, decision.kind, imported, now)
    change["placeholders"] = list(shape.placeholders)
    change[shape.entity] = shape.payload
    try:
        value = codec.encode(CHANGE, change)
    except EncodeError:  # QuickBooks left out what the app's shape needs
        out.failed.append((position, f"{record.record_type} {qb_id}: {_problems(codec, change)}"))
        return
    row = _told(delivered, tenant_id, shape.entity, qb_id, imported, now)
    following = guard = None
    if mapping is not None:
        # The app now holds QuickBooks' version: its next edit is a Mod of this one.
        following = replace(mapping, edit_sequence=imported.edit_sequence)
        if settings.direction_of(shape.entity) == "two_way":
            key = record_key(tenant_id, mapping.entity, mapping.external_id)
            guard = Guard(key, settings.conflict_of(shape.entity), imported.changed_at)
    out.changes.append(Change((topic, tenant_id.encode(), value), row, following, guard))


def _deleted(
    out: Reconciled,
    codec: AvroCodec,
    topic: str,
    position: int,
    record: Imported,
    mapping: Mapping,
    delivered: dict[tuple[str, str], DeliveredChange],
    now: datetime,
) -> None:
    """The app's transaction was deleted in QuickBooks: told once (whatever the entity's
    direction: it is the app's own record, which QuickBooks no longer has), as
    ``DEACTIVATED`` with ``deleted`` set, so an app on an older schema sees it made
    inactive. The mapping stays: a later change from the app meets QBO's 610 and creates
    the record anew, as a bill or payment sent again does."""
    tenant_id, entity, qb_id = record.tenant_id, mapping.entity, record.qb_id
    seen = delivered.get((entity, qb_id))
    if seen is not None and seen.edit_sequence == DELETED:
        out.dropped["seen"] += 1
        return
    told = Version(DELETED, record.time_modified)
    change = _change_of(record, entity, mapping.external_id, "DEACTIVATED", told, now)
    try:
        value = codec.encode(CHANGE, change)
    except EncodeError as exc:  # a bug: the change is all qbsync's own values
        out.failed.append((position, f"{record.record_type} {qb_id}: {exc}"))
        return
    row = _told(delivered, tenant_id, entity, qb_id, told, now)
    out.changes.append(Change((topic, tenant_id.encode(), value), row, None))


def _change_of(
    record: Imported,
    entity: str,
    entity_id: str | None,
    kind: str,
    told: Version,
    now: datetime,
) -> dict[str, Any]:
    """A ``QuickBooksChange`` telling ``told`` of ``record`` as ``entity``, without its
    payload; a deletion (``told`` is :data:`DELETED`) has no edit sequence and says
    ``deleted``."""
    deleted = told.edit_sequence == DELETED
    return {
        "change_id": change_id(record.tenant_id, entity, record.qb_id, told.edit_sequence),
        "tenant_id": record.tenant_id,
        "entity": entity,
        "entity_id": entity_id,
        "kind": kind,
        "deleted": deleted,
        "qb_id": record.qb_id,
        "qb_edit_sequence": None if deleted else told.edit_sequence,
        "qb_time_modified": told.changed_at,
        "detected_at": now,
        "conflict": None,
        "placeholders": [],
    }


def _told(
    delivered: dict[tuple[str, str], DeliveredChange],
    tenant_id: str,
    entity: str,
    qb_id: str,
    version: Version,
    now: datetime,
) -> DeliveredChange:
    """The row recording ``version`` of the record as told to the tenant; a later copy of
    it in the same batch is then "seen"."""
    row = DeliveredChange(
        tenant_id=tenant_id,
        entity=entity,
        qb_id=qb_id,
        edit_sequence=version.edit_sequence,
        changed_at=version.changed_at,
        delivered_at=now,
    )
    delivered[(entity, qb_id)] = row
    return row


def _other_tenant(batch: Tenanted, position: int, record: Imported) -> bool:
    """Another tenant of the file holds the record as any entity it is shaped as here (an
    item held by one tenant is not another's cost code either)."""
    return any((entity, record.qb_id) in batch.theirs for entity in batch.shaped_as[position])


def _elsewhere(batch: Tenanted, position: int, record: Imported, shape: AppRecord) -> bool:
    """The app has this QuickBooks record under another entity (a 1099 worker synced as an
    employee is a Desktop vendor; an item the app sent is not also a cost code). Desktop's
    ids name one record in the whole file; QuickBooks Online numbers each entity apart, so
    there only a mapping of an entity this record can be counts: one it is shaped as, or
    of the same list (``SAME_LIST``: a job is a customer), never an Invoice 42 for a
    Customer 42."""
    mapped = batch.mapped.get(record.qb_id, [])
    if batch.apis.get(record.profile_id) != "qbo":
        return bool(mapped)
    same = set(SAME_LIST["qbo"].get(shape.entity, {shape.entity}))
    same |= batch.shaped_as[position]
    return any(m.entity in same for m in mapped)


def _problems(codec: AvroCodec, change: dict[str, Any]) -> str:
    """Every field that does not fit, by path (fastavro's message dumps the schema)."""
    try:
        from_json(codec.schemas.standalone[CHANGE], to_json(change), what="the change")
    except InvalidEvent as exc:
        return "; ".join(str(problem) for problem in exc.problems)
    return "it does not match the QuickBooksChange schema"
