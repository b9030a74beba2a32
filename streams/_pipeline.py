"""The worker's steps, apart from Faust so they can be tested without a broker.

A :class:`Pipeline` method (decode -> look up context in the store -> the pure rules of
:mod:`streams.translate`) returns a :class:`Step`; :mod:`streams._runner` carries it out.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from connectors.qbo import explain_code
from connectors.qbxml import Category, Explanation, explain
from connectors.store import Mapping, Store, SyncLogEntry, Tenant
from core.conflicts import CONFLICT, winner
from core.contracts import AvroCodec, DecodeError
from core.settings import Settings
from core.status import Status
from streams._changes import IMPORTED, Change, reconcile
from streams._waits import Releases, log_waiting
from streams.from_quickbooks import ImportRefused, imports_for
from streams.parking import Kind, Parked, ParkingLot, record_key
from streams.translate import Context, Held, Paused, Skip, Waiting, plan

__all__ = ["Failure", "Pipeline", "PipelineObserver", "Record", "Source", "Step"]

log = logging.getLogger(__name__)

COMMAND = "com.qbsync.pipeline.Command"
RESULT = "com.qbsync.pipeline.Result"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"
SYNC_STATUS = "com.qbsync.events.SyncStatus"


Record = tuple[str, bytes | None, bytes]


@dataclass(frozen=True)
class Source:
    """Where a message came from: what its dead letter records, byte for byte."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, message: Any) -> Source:
        return cls(message.topic, message.partition, message.offset, message.key, message.value)

    @classmethod
    def parked(cls, entry: Parked) -> Source:
        return cls(entry.source_topic, entry.partition, entry.offset, entry.key, entry.value)


@dataclass
class Step:
    """What one message (or one sweep) asks of the agent, which alone does I/O with Kafka
    and the table: records to send, entries to park and unpark, records now mapped (their
    waiting entries are released), records now dead (their waiting entries follow them,
    marked "blocked by") and records a manual sync was requested for (what is held for
    them, and what they need, goes too)."""

    send: list[Record] = field(default_factory=list)
    unpark: list[bytes] = field(default_factory=list)
    park: list[Parked] = field(default_factory=list)
    touch: list[Parked] = field(default_factory=list)
    mapped: list[tuple[str, str]] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)
    requested: list[tuple[str, str]] = field(default_factory=list)
    # Change events for the apps, sent unless their guard holds them back, then remembered.
    changes: list[Change] = field(default_factory=list)


@dataclass
class _Writes:
    """Store writes of a batch of results, committed together."""

    mappings: list[Mapping] = field(default_factory=list)
    log: list[SyncLogEntry] = field(default_factory=list)
    forget: list[tuple[str, str, str]] = field(default_factory=list)  # stale mappings


@dataclass
class _Batch:
    """What one batch of events read from the store at once."""

    mappings: dict[tuple[str, str, str], Mapping]
    tenants: dict[str, Tenant | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """Why something is a dead letter: the catalog's words plus qbsync's own context."""

    code: str
    reason: str
    category: str = "rejected"
    explanation: str = ""
    remedy: str = ""
    attempts: int = 1
    first_failed_at: datetime | None = None
    blocked_by: str | None = None


def _exists(store: Store, profile_id: str, entity: str, full_name: str) -> bool:
    return store.qb_name_exists(profile_id, entity, full_name) is not False


def _explain(result: dict[str, Any]) -> Explanation:
    """The catalog entry for a result: QBO's codes for a QuickBooks Online company."""
    if result.get("api") == "qbo":
        return explain_code(str(result["status_code"]))
    return explain(result["status_code"], result["status_message"])


def _qb_changed_at(store: Store, tenant_id: str, entity: str, qb_id: str) -> datetime | None:
    row = store.delivered(tenant_id, entity, [qb_id]).get(qb_id)
    return None if row is None else row.changed_at


def _dead_by_hand(entry: Parked, by: str | None, now: float) -> Failure:
    """Support sent a parked record to the dead-letter topic (``qbsync parked dead-letter``,
    the console): it is not sent to QuickBooks; a replay brings it back."""
    waited = timedelta(seconds=round(now - entry.parked_at))
    return Failure(
        "withdrawn",
        f"{entry.entity} {entry.entity_id!r} was taken out of the parked records by"
        f" {by or 'support'} after waiting {waited} ({entry.kind}: {entry.reason})",
        category="withdrawn",
        explanation=entry.reason,
        remedy="Nothing was sent to QuickBooks. When what it waited for is fixed, replay this"
        " dead letter (`qbsync dlq replay` or the console's Dead letters page); it is planned"
        " again as it came in.",
        first_failed_at=datetime.fromtimestamp(entry.parked_at, UTC),
    )


def _requested(event: dict[str, Any]) -> dict[str, Any]:
    """The event as if a sync of its record was requested (manual mode)."""
    return {**event, "envelope": {**event["envelope"], "kind": "SYNC_REQUESTED"}}


def _references(outcome: object) -> list[str]:
    """Every record an outcome names: a command's dependencies, a wait's alternatives."""
    if isinstance(outcome, dict):
        return list(outcome.get("depends_on") or [])
    if isinstance(outcome, Waiting):
        return [alternative for wanted in outcome.on for alternative in wanted.split("|")]
    return []


class PipelineObserver(Protocol):
    """What the worker's metrics hear from the pipeline (streams.sensor); ids never."""

    def dead_lettered(self, code: str, category: str) -> None: ...

    def settled(self, occurred_at: datetime, answered_at: datetime) -> None: ...


class _Unobserved:
    def dead_lettered(self, code: str, category: str) -> None:
        pass

    def settled(self, occurred_at: datetime, answered_at: datetime) -> None:
        pass


class Pipeline:
    """The worker's steps, apart from Faust so they can be tested without a broker.

    ``translate`` (an event), ``settle`` (a result), ``replan`` (a parked event),
    ``blocked`` (a parked event whose dependency died) and ``sweep`` (the clock) return a
    :class:`Step`; they read the store but never Kafka. ``clock`` and ``rng`` are injected
    so backoff and expiry are tested without waiting.
    """

    def __init__(
        self,
        settings: Settings,
        store: Store,
        codec: AvroCodec,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        observer: PipelineObserver | None = None,
    ) -> None:
        self.settings = settings
        self.observer: PipelineObserver = observer or _Unobserved()
        self.store = store
        self.codec = codec
        self.clock = clock
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not security
        # Records dead-lettered lately: a command the gateway held back because of one of
        # them ("blocked") follows it to the dead-letter topic instead of being retried.
        self._dead: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._apis: dict[str, str] = {}
        self._releases = Releases(store)

    # -- context ----------------------------------------------------------------------

    def context(self, envelope: dict[str, Any], batch: _Batch | None = None) -> Context:
        """What planning needs from the store; ``batch`` holds what a batch read at once."""
        tenant_id = envelope["tenant_id"]
        if batch is None:
            tenant = self.store.tenant(tenant_id)
        else:
            if tenant_id not in batch.tenants:
                batch.tenants[tenant_id] = self.store.tenant(tenant_id)
            tenant = batch.tenants[tenant_id]
        if tenant is None:
            return Context(profile_id=None, mapping=None, settings={})
        key = (tenant.id, envelope["entity"], envelope["entity_id"])
        mapping = self.store.mapping(*key) if batch is None else batch.mappings.get(key)
        return Context(
            profile_id=tenant.profile_id,
            mapping=mapping,
            settings=tenant.settings,
            connected_on=tenant.created_at.date(),
            # An invoice's customer, a payment's invoices ...: what QuickBooks calls them.
            resolve=partial(self.store.mapping, tenant.id),
            # Whether a class or sales tax code exists, from the file's imports; unknown
            # (never imported) counts as existing: the name is sent and QuickBooks decides.
            exists=partial(_exists, self.store, tenant.profile_id),
            qb_changed_at=partial(_qb_changed_at, self.store, tenant.id),
            api=self._api(tenant.profile_id),
        )

    def _api(self, profile_id: str) -> str:
        """``qbo`` for a QuickBooks Online company, else ``qbxml``; a company's kind never
        changes, so it is asked once per profile."""
        if profile_id not in self._apis:
            self._apis[profile_id] = "qbo" if self.store.is_qbo(profile_id) else "qbxml"
        return self._apis[profile_id]

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    # -- dead letters -----------------------------------------------------------------

    def dead_letter(
        self,
        source: Source,
        failure: Failure,
        *,
        tenant_id: str | None = None,
        profile_id: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        dead_letter_id: str | None = None,
    ) -> Record:
        """``source``, byte for byte, on the dead-letter topic with why it is there."""
        log.info(
            "dead-lettered",
            extra={"code": failure.code, "topic": source.topic, "offset": source.offset},
        )
        self.observer.dead_lettered(failure.code, failure.category)
        now = self._now()
        record = {
            "dead_letter_id": dead_letter_id or str(uuid.uuid4()),
            "source_topic": source.topic,
            "source_partition": source.partition,
            "source_offset": source.offset,
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "code": failure.code,
            "reason": failure.reason,
            "original_key": source.key,
            "original_value": source.value,
            "failed_at": now,
            "entity": entity,
            "entity_id": entity_id,
            "category": failure.category,
            "explanation": failure.explanation,
            "remedy": failure.remedy,
            "attempts": failure.attempts,
            "first_failed_at": failure.first_failed_at or now,
            "blocked_by": failure.blocked_by,
        }
        return (
            self.settings.topics.dead_letters,
            source.key,
            self.codec.encode(DEAD_LETTER, record),
        )

    # -- imports: QuickBooks back to the apps -----------------------------------------

    def reconcile_many(self, messages: list[Any]) -> list[Step]:
        """Imported QuickBooks records in a batch: change events for what someone else
        changed, nothing for our own writes and what the app was told already
        (:mod:`streams.two_way`). The versions delivered are remembered after the events
        are sent."""
        step = Step()
        imported = []
        sources = []
        for message in messages:
            source = Source.of(message)
            try:
                imported.append(self.codec.decode(source.value or b"", expected=IMPORTED)[1])
                sources.append(source)
            except DecodeError as exc:
                failure = Failure("undecodable", f"The import could not be decoded: {exc}")
                step.send.append(self.dead_letter(source, failure))
        if imported:
            try:
                done = reconcile(
                    self.store, self.codec, self.settings.topics.changes, imported, self._now()
                )
            except Exception as exc:  # one batch must never stop the worker
                log.exception("imports failed")
                failure = Failure("internal-error", f"qbsync failed on this import: {exc!r}")
                return [Step(send=[self.dead_letter(Source.of(m), failure) for m in messages])]
            step.changes += done.changes
            for position, reason in done.failed:
                failure = Failure("unshapeable", f"Not delivered to the app: {reason}")
                record = imported[position]
                step.send.append(
                    self.dead_letter(
                        sources[position],
                        failure,
                        tenant_id=record["tenant_id"],
                        profile_id=record["profile_id"],
                        entity=record["entity"],
                        entity_id=record["qb_id"],
                    )
                )
            log.info(
                "imports reconciled",
                extra={
                    "changes": len(done.changes),
                    **{f"dropped_{k}": v for k, v in done.dropped.items()},
                },
            )
        return [step]

    def held_back(self, change: Change, parked: Parked | None) -> bool:
        """Whether an app change of the record, still parked here, wins over QuickBooks'
        change under the tenant's policy: then the app is not told QuickBooks' version
        (the parked change, once sent, meets 3200 and the gateway decides the same way)."""
        guard = change.guard
        if guard is None or parked is None:
            return False
        app_changed_at = self._source_updated_at(parked)
        if winner(guard.policy, app_changed_at, guard.qb_changed_at) != "app":
            return False
        log.info("quickbooks change held back", extra={"kind": parked.kind})
        return True

    def _source_updated_at(self, parked: Parked) -> datetime | None:
        try:
            name, value = self.codec.decode(parked.value)
        except DecodeError:
            return None
        if name == COMMAND:
            return value.get("source_updated_at")
        return (value.get("envelope") or {}).get("source_updated_at")

    def remember(self, changes: list[Change]) -> None:
        """Once sent: the versions the apps were told about, and the mappings following."""
        self.store.record_delivered(
            [c.delivered for c in changes], [c.mapping for c in changes if c.mapping]
        )

    # -- events -----------------------------------------------------------------------

    def translate_many(self, messages: list[Any]) -> list[Step]:
        """Events in a batch, in order: one thread hop, one look-up per tenant and one
        query for the mappings of every record in the batch (the worker's first
        bottleneck was a round trip per event, see docs/performance.md)."""
        decoded = [self._decode(message) for message in messages]
        envelopes = [event["envelope"] for _, event in decoded if isinstance(event, dict)]
        # Local to this call, never on self: settling and rechecks plan in other threads
        # meanwhile, and must read the store, not this batch's snapshot.
        batch = _Batch(
            mappings=self.store.mappings_of(
                [(e["tenant_id"], e["entity"], e["entity_id"]) for e in envelopes]
            )
        )
        return [
            self._plan(source, event, parked=None, batch=batch)
            if isinstance(event, dict)
            else event
            for source, event in decoded
        ]

    def translate(self, message: Any) -> Step:
        """One event message: a command, a parked entry, a dead letter, or nothing (a
        setting or the record's state says it is not to be sent)."""
        source, event = self._decode(message)
        return self._plan(source, event, parked=None) if isinstance(event, dict) else event

    def _decode(self, message: Any) -> tuple[Source, dict[str, Any] | Step]:
        """The event, or the step that dead-letters what is not one."""
        source = Source.of(message)
        try:
            _, event = self.codec.decode(source.value or b"")
            event["envelope"]["tenant_id"]  # a domain event, not some other record
        except (DecodeError, KeyError, TypeError) as exc:
            failure = Failure("undecodable", f"The event could not be decoded: {exc}")
            return source, Step(send=[self.dead_letter(source, failure)])
        return source, event

    def replan(self, entry: Parked, *, requested: bool = False) -> Step:
        """A parked event, planned again (its dependency is mapped, or time passed);
        ``requested``: as if a sync of it was requested (manual mode's "sync job")."""
        if entry.extra.get("command"):
            return self.replan_command(entry)
        source = Source.parked(entry)
        try:
            _, event = self.codec.decode(source.value)
        except DecodeError as exc:  # it decoded when parked: only a lost schema gets here
            failure = Failure("undecodable", f"The parked event could not be decoded: {exc}")
            return Step(unpark=[entry.record], send=[self.dead_letter(source, failure)])
        if requested or entry.extra.get("requested"):
            event = _requested(event)
        return self._plan(source, event, parked=entry)

    def _plan(
        self,
        source: Source,
        event: dict[str, Any],
        parked: Parked | None,
        batch: _Batch | None = None,
    ) -> Step:
        envelope = event["envelope"]
        tenant_id, entity, entity_id = (
            envelope["tenant_id"],
            envelope["entity"],
            envelope["entity_id"],
        )
        record = record_key(tenant_id, entity, entity_id)
        where = {"tenant_id": tenant_id, "entity": entity, "entity_id": entity_id}
        if entity == "import":
            return self._import_requested(source, event, where)
        try:
            context = self.context(envelope, batch)
            outcome = plan(event, context, command_id=str(uuid.uuid4()), now=self._now())
        except Exception as exc:  # one message must never stop the worker
            log.exception("event failed", extra={"offset": source.offset})
            failure = Failure(
                "internal-error", f"qbsync failed on this event: {type(exc).__name__}"
            )
            return Step(send=[self.dead_letter(source, failure, **where)])
        if isinstance(outcome, dict) and envelope["kind"] != "SYNC_REQUESTED":
            # Sent: whatever was parked for this record is superseded.
            return Step(unpark=[record], send=[self._command_record(outcome)])
        if isinstance(outcome, Skip) and outcome.code == "manual-sync":
            return self._hold_for_request(source, event, context, parked)
        if isinstance(outcome, Skip):
            log.info("event skipped", extra={"code": outcome.code, "offset": source.offset})
            return Step(unpark=[record])
        step = Step()
        if envelope["kind"] == "SYNC_REQUESTED":
            # Manual mode's "sync job": what this record needs and what needs it (a job's
            # customer; its invoices, their payments, its bills) goes with it.
            step.requested.append((tenant_id, f"{entity}:{entity_id}"))
            step.requested += [(tenant_id, d) for d in _references(outcome)]
        if isinstance(outcome, dict):
            step.unpark.append(record)
            step.send.append(self._command_record(outcome))
            return step
        if isinstance(outcome, Held):
            # A class or tax code QuickBooks lacks: a person must create it (or fix the
            # name in the app), so it is a dead letter they see at once, replayed after.
            failure = Failure(
                "held",
                f"{entity} {entity_id!r} was not sent: {outcome.reason}.",
                category="held",
                explanation="The record names a class or sales tax code that the company file"
                " does not have under exactly that name (as of the file's last import).",
                remedy="Create it in QuickBooks under that exact name (or correct the name in"
                " the app and publish the record again), let the file sync once, then"
                " `qbsync dlq replay --code held`.",
            )
            step.unpark += [record] if parked else []
            self._log_event(envelope, context.profile_id, "held", failure.reason)
            step.send.append(
                self.dead_letter(source, failure, profile_id=context.profile_id, **where)
            )
            return step
        if isinstance(outcome, Waiting | Paused):
            now = self.clock()
            kind: Kind = "paused" if isinstance(outcome, Paused) else "waiting"
            entry = Parked(
                kind=kind,
                tenant_id=tenant_id,
                entity=entity,
                entity_id=entity_id,
                value=source.value,
                key=source.key,
                source_topic=source.topic,
                partition=source.partition,
                offset=source.offset,
                parked_at=parked.parked_at if parked and parked.kind == kind else now,
                checked_at=now,
                reason=outcome.reason,
                waiting_on=outcome.on if isinstance(outcome, Waiting) else (),
                profile_id=context.profile_id,
                # A requested sync stays requested while it waits (manual mode).
                extra={"requested": True} if envelope["kind"] == "SYNC_REQUESTED" else {},
            )
            if parked is not None and (parked.kind, parked.waiting_on, parked.value) == (
                entry.kind,
                entry.waiting_on,
                entry.value,
            ):
                step.touch.append(entry)  # still waiting for the same: nothing to write
                return step
            log.info("event parked", extra={"kind": kind, "offset": source.offset})
            if parked is None or (parked.kind, parked.waiting_on) != (kind, entry.waiting_on):
                # Seen in the sync log at once, not only when the wait expires (once per
                # wait: a newer version waiting for the same is no news).
                self._log_event(envelope, context.profile_id, kind, outcome.reason)
            step.park.append(entry)
            return step
        failure = Failure(outcome.code, outcome.reason)
        self._log_event(
            envelope, context.profile_id, "rejected", f"{outcome.code}: {outcome.reason}"
        )
        step.unpark += [record] if parked else []
        step.send.append(self.dead_letter(source, failure, profile_id=context.profile_id, **where))
        return step

    def _import_requested(
        self, source: Source, event: dict[str, Any], where: dict[str, str]
    ) -> Step:
        """``import.sync_requested``: the file reads these back at its next session."""
        tenant = self.store.tenant(where["tenant_id"])
        if tenant is None:
            failure = Failure("unknown-tenant", f"tenant {where['tenant_id']!r} is not connected")
            return Step(send=[self.dead_letter(source, failure, **where)])
        wanted = (event.get("import") or {}).get("entities") or []
        try:
            imports = imports_for(wanted, self.settings.gateway.import_entities)
        except ImportRefused as exc:
            return Step(send=[self.dead_letter(source, Failure(exc.code, str(exc)), **where)])
        self.store.request_import(tenant.profile_id, imports)
        log.info("import requested", extra={"entities": ",".join(imports)})
        return Step()

    def _command_record(self, command: dict[str, Any]) -> Record:
        return (
            self.settings.topics.commands(command["profile_id"]),
            command["tenant_id"].encode(),
            self.codec.encode(COMMAND, command),
        )

    def _hold_for_request(
        self, source: Source, event: dict[str, Any], context: Context, parked: Parked | None
    ) -> Step:
        """Manual sync: the record's latest state waits (kind ``manual``, never expires)
        until a sync is requested for it or for the job it belongs to. It is planned as if
        requested only to learn what it references, so a "sync job" finds it."""
        envelope = event["envelope"]
        probe = plan(_requested(event), context, command_id="probe", now=self._now())
        now = self.clock()
        entry = Parked(
            kind="manual",
            tenant_id=envelope["tenant_id"],
            entity=envelope["entity"],
            entity_id=envelope["entity_id"],
            value=source.value,
            key=source.key,
            source_topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            parked_at=parked.parked_at if parked and parked.kind == "manual" else now,
            checked_at=now,
            reason="manual sync: sent when a sync of it (or of its job) is requested",
            waiting_on=tuple(_references(probe)),
            profile_id=context.profile_id,
        )
        log.info("event held for a manual sync", extra={"offset": source.offset})
        return Step(park=[entry])

    def blocked(self, entry: Parked, dependency: str, dead_letter_id: str) -> Step:
        """A parked event whose dependency went to the dead-letter topic follows it."""
        failure = Failure(
            "blocked",
            f"{entry.entity} {entry.entity_id!r} needs {dependency}, which QuickBooks refused"
            f" (dead letter {dead_letter_id}).",
            category="blocked",
            explanation=entry.reason,
            remedy="Fix and replay the dead letter it is blocked by; then replay this one.",
            first_failed_at=datetime.fromtimestamp(entry.parked_at, UTC),
            blocked_by=dead_letter_id,
        )
        return self._dead_parked(entry, failure)

    def _dead_parked(self, entry: Parked, failure: Failure) -> Step:
        """A parked entry leaves the lot for the dead-letter topic, as it came in."""
        self._log_event(
            {"tenant_id": entry.tenant_id, "entity": entry.entity, "entity_id": entry.entity_id},
            entry.profile_id,
            failure.code,
            failure.reason,
        )
        return Step(
            unpark=[entry.record],
            send=[
                self.dead_letter(
                    Source.parked(entry),
                    failure,
                    tenant_id=entry.tenant_id,
                    profile_id=entry.profile_id,
                    entity=entry.entity,
                    entity_id=entry.entity_id,
                )
            ],
        )

    # -- the clock --------------------------------------------------------------------

    def sweep(self, lot: ParkingLot) -> tuple[Step, list[Parked]]:
        """Due retries are sent again, expired waits dead-lettered; returns the step and the
        waiting or paused entries to plan again (the agent plans them in a thread)."""
        now = self.clock()
        worker = self.settings.worker
        step = Step()
        for entry in lot.due(now):
            self._resend(entry, step)
        for entry in lot.expired(now, worker.park_limit_s):
            waited = timedelta(seconds=round(now - entry.parked_at))
            failure = Failure(
                "expired",
                f"{entry.entity} {entry.entity_id!r} waited {waited} for"
                f" {', '.join(entry.waiting_on)} to be in QuickBooks; it never arrived.",
                category="expired",
                explanation=entry.reason,
                remedy="Make what it waits for exist: a class or sales tax code in QuickBooks"
                " under exactly that name; a record by syncing it from the app, or by mapping it"
                " to an existing QuickBooks record (`qbsync map match`). Then replay this one.",
                first_failed_at=datetime.fromtimestamp(entry.parked_at, UTC),
            )
            dead = self._dead_parked(entry, failure)
            step.unpark += dead.unpark
            step.send += dead.send
        released, withdrawn = self._releases.due(lot, now, set(step.unpark))
        for entry in [e for e in released if e.kind == "retry"]:
            self._resend(entry, step)  # released by hand: due now (it holds a command)
        released = [e for e in released if e.kind != "retry"]
        for entry, by in withdrawn:
            gone = self._dead_parked(entry, _dead_by_hand(entry, by, now))
            step.unpark += gone.unpark
            step.send += gone.send
        leaving = set(step.unpark) | {e.record for e in released}
        recheck = [
            entry
            for entry in lot.stale(now, worker.recheck_s, limit=500)
            if entry.record not in leaving
        ]
        return step, recheck + released

    def _resend(self, entry: Parked, step: Step) -> None:
        """A parked retry's command, sent to its company file again."""
        assert entry.profile_id is not None  # a retry always knows its company file
        step.unpark.append(entry.record)
        step.send.append((self.settings.topics.commands(entry.profile_id), entry.key, entry.value))

    # -- results ----------------------------------------------------------------------

    def settle(self, message: Any) -> Step:
        """One result: on success the mapping, a sync log row, a status event and the
        release of what waited for the record; on a passing failure a retry (parked with
        backoff); on a lasting one the command on the dead-letter topic, with what
        depended on it."""
        return self.settle_many([message])[0]

    def settle_many(self, messages: list[Any]) -> list[Step]:
        """Results in a batch: one store transaction for all their mappings and log rows
        (written before any step is carried out, so a release finds the mapping)."""
        writes = _Writes()
        steps = [self._settle_one(message, writes) for message in messages]
        self.store.save_outcomes(writes.mappings, writes.log, forget=writes.forget)
        return steps

    def _settle_one(self, message: Any, writes: _Writes) -> Step:
        source = Source.of(message)
        try:
            _, result = self.codec.decode(source.value or b"", expected=RESULT)
        except DecodeError as exc:
            failure = Failure("undecodable", f"The result could not be decoded: {exc}")
            return Step(send=[self.dead_letter(source, failure)])
        tenant_id, entity, entity_id = result["tenant_id"], result["entity"], result["entity_id"]
        dependency = f"{entity}:{entity_id}"
        code = result["status_code"]
        ok = result["status_severity"] != "Error" and 0 <= code < 1000
        if ok and result["action"] == "ADD" and result["qb_id"]:
            holder = self._holder(writes, tenant_id, entity, result["qb_id"])
            if holder is not None and holder != entity_id:
                return self._name_taken(source, result, holder, writes)
        if ok:
            if result["qb_id"]:
                writes.mappings.append(
                    Mapping(
                        tenant_id=tenant_id,
                        entity=entity,
                        external_id=entity_id,
                        qb_id=result["qb_id"],
                        edit_sequence=result["edit_sequence"],
                        full_name=result["full_name"],
                    )
                )
            self._dead.pop((tenant_id, dependency), None)
            writes.log.append(self._log(result, "synced"))
            self._observe_latency(result)
            return Step(send=[self._status(result, ok=True)], mapped=[(tenant_id, dependency)])
        if code == CONFLICT:
            # Both sides changed it and QuickBooks' version wins: not an error, nothing to
            # retry; the mapping keeps our version, so the next import delivers QuickBooks'.
            writes.log.append(self._log(result, "conflict"))
            status = self._status(result, ok=False, explanation=result["status_message"], remedy="")
            return Step(send=[status])
        command = self._command(result)
        catalog = _explain(result)
        attempts = command["attempt"] if command else 1
        first = (command or {}).get("first_failed_at") or result["processed_at"]
        blocked_by = self._blocker(result, command) if code == Status.BLOCKED else None
        passing = code == Status.BLOCKED or catalog.category is Category.TRANSIENT
        if passing and blocked_by is None and command is not None and self._may_retry(command):
            writes.log.append(self._log(result, "retrying"))
            return Step(park=[self._retry(source, result, command)])
        if catalog.action == "create-reference" and command is not None:
            recreate = self._recreate_reference(source, result, command, writes)
            if recreate is not None:
                return recreate
        failure = Failure(
            str(code),
            f"QuickBooks refused {entity} {entity_id!r}: {result['status_message']}"
            + (f" (after {attempts} attempts)" if attempts > 1 else ""),
            category="blocked" if blocked_by else str(catalog.category),
            explanation=catalog.explanation,
            remedy=catalog.remedy,
            attempts=attempts,
            first_failed_at=first,
            blocked_by=blocked_by,
        )
        return self._refused(source, result, failure, writes)

    def _refused(
        self,
        source: Source,
        result: dict[str, Any],
        failure: Failure,
        writes: _Writes,
        *,
        status_code: int | None = None,
    ) -> Step:
        """A lasting failure: the command itself (carried in the result) is the dead letter
        support replays; the source app hears why; what waits for the record follows it."""
        tenant_id, entity, entity_id = result["tenant_id"], result["entity"], result["entity_id"]
        dependency = f"{entity}:{entity_id}"
        dead_letter_id = str(uuid.uuid4())
        if result.get("command"):
            source = Source(
                self.settings.topics.commands(result["profile_id"]),
                0,
                source.offset,
                tenant_id.encode(),
                result["command"],
            )
        self._dead[(tenant_id, dependency)] = dead_letter_id
        while len(self._dead) > 10_000:
            self._dead.popitem(last=False)
        writes.log.append(self._log(result, "failed"))
        told = result if status_code is None else {**result, "status_code": status_code}
        return Step(
            send=[
                self._status(
                    told, ok=False, explanation=failure.explanation, remedy=failure.remedy
                ),
                self.dead_letter(
                    source,
                    failure,
                    tenant_id=tenant_id,
                    profile_id=result["profile_id"],
                    entity=entity,
                    entity_id=entity_id,
                    dead_letter_id=dead_letter_id,
                ),
            ],
            dead=[(tenant_id, dependency, dead_letter_id)],
        )

    def _name_taken(
        self, source: Source, result: dict[str, Any], holder: str, writes: _Writes
    ) -> Step:
        """An Add answered with a record another app record is mapped to (a list record of
        the same name adopted instead of a 3100): nothing was added in QuickBooks, and two
        app records must not share one QuickBooks record."""
        entity = result["entity"]
        failure = Failure(
            "name-taken",
            f"{entity} {result['entity_id']!r} has the QuickBooks name"
            f" {result['full_name']!r}, which {entity} {holder!r} is already synced to"
            f" ({result['qb_id']}). Nothing was added in QuickBooks.",
            category="permanent",
            explanation="Two records of the app would become one QuickBooks record: QuickBooks"
            " names are unique within a list.",
            remedy=f"Give one of them a different name in the app (or, if they are the same"
            f" {entity}, merge them there), then replay.",
        )
        return self._refused(source, result, failure, writes, status_code=3100)

    def _recreate_reference(
        self, source: Source, result: dict[str, Any], command: dict[str, Any], writes: _Writes
    ) -> Step | None:
        """3140 naming a record qbsync mapped (deleted or merged in QuickBooks since): the
        stale mapping is forgotten, so the record's next event creates it again; the source
        app is told to re-publish it (its status event); the command waits for the new
        mapping and is sent again with the new id. None when the reference is not one of
        ours (an account, a class ...): then it is a dead letter for a person."""
        tenant_id = result["tenant_id"]
        for dependency in command.get("depends_on") or []:
            entity, _, source_id = dependency.partition(":")
            mapping = self.store.mapping(tenant_id, entity, source_id)
            if mapping is None or f'"{mapping.qb_id}"' not in result["status_message"]:
                continue
            writes.forget.append((tenant_id, entity, source_id))
            writes.log.append(self._log(result, "waiting"))
            now = self.clock()
            entry = Parked(
                kind="waiting",
                tenant_id=tenant_id,
                entity=result["entity"],
                entity_id=result["entity_id"],
                value=result["command"],
                key=tenant_id.encode(),
                # Expired, it is a dead letter replayable as the command it is.
                source_topic=self.settings.topics.commands(result["profile_id"]),
                partition=source.partition,
                offset=source.offset,
                parked_at=now,
                checked_at=now,
                reason=f"{dependency} is no longer in QuickBooks (3140); waiting for it to be"
                " created again",
                waiting_on=(dependency,),
                profile_id=result["profile_id"],
                extra={"command": True, "replace": {mapping.qb_id: dependency}},
            )
            gone = {
                **result,
                "entity": entity,
                "entity_id": source_id,
                "qb_id": mapping.qb_id,
                "full_name": mapping.full_name,
                "ref_number": None,
            }
            status = self._status(
                gone,
                ok=False,
                explanation=f"QuickBooks no longer has this {entity} ({mapping.qb_id}): it was"
                " deleted or merged there. qbsync forgot the old mapping; "
                f"{result['entity']} {result['entity_id']!r} waits for it.",
                remedy=f"Publish this {entity} again from the app (an upsert event): qbsync"
                " creates it in QuickBooks, then sends what waits for it.",
            )
            log.info("stale reference forgotten", extra={"entity": entity})
            return Step(park=[entry], send=[status])
        return None

    def replan_command(self, entry: Parked) -> Step:
        """A parked command (its reference was created again): the old ids replaced by the
        new mappings, sent to its file. Still unmapped: it keeps waiting."""
        _, command = self.codec.decode(entry.value, expected=COMMAND)
        xml = command["request_xml"]
        for old, dependency in entry.extra.get("replace", {}).items():
            entity, _, source_id = dependency.partition(":")
            mapping = self.store.mapping(entry.tenant_id, entity, source_id)
            if mapping is None:
                return Step(touch=[entry.checked(self.clock())])
            xml = xml.replace(f">{old}<", f">{mapping.qb_id}<")
        request = {**command, "request_xml": xml, "attempt": int(command["attempt"]) + 1}
        return Step(unpark=[entry.record], send=[self._command_record(request)])

    def _holder(self, writes: _Writes, tenant_id: str, entity: str, qb_id: str) -> str | None:
        """The app record already mapped to ``qb_id`` (this batch's writes first); on a
        shared company file, another tenant's record is named ``tenant/id``."""
        for mapping in reversed(writes.mappings):
            if (mapping.tenant_id, mapping.entity, mapping.qb_id) == (tenant_id, entity, qb_id):
                return mapping.external_id
        own = self.store.external_id_of(tenant_id, entity, qb_id)
        other = None if own else self.store.held_by_others(tenant_id, [qb_id]).get(qb_id)
        if other is not None:
            return f"{other}/{self.store.external_id_of(other, entity, qb_id) or '?'}"
        return own

    def _observe_latency(self, result: dict[str, Any]) -> None:
        """Event published -> QuickBooks answered, for the command the result answers."""
        command = self._command(result)
        occurred_at = (command or {}).get("occurred_at")
        if isinstance(occurred_at, datetime):
            self.observer.settled(occurred_at, result["processed_at"])

    def _command(self, result: dict[str, Any]) -> dict[str, Any] | None:
        raw = result.get("command")
        if not raw:
            return None
        try:
            return self.codec.decode(raw, expected=COMMAND)[1]
        except DecodeError:
            return None

    def _blocker(self, result: dict[str, Any], command: dict[str, Any] | None) -> str | None:
        for dependency in (command or {}).get("depends_on") or []:
            found = self._dead.get((result["tenant_id"], dependency))
            if found is not None:
                return found
        return None

    def _may_retry(self, command: dict[str, Any]) -> bool:
        return int(command["attempt"]) < self.settings.worker.retry_attempts

    def _retry(self, source: Source, result: dict[str, Any], command: dict[str, Any]) -> Parked:
        """The command again, attempt + 1, due after exponential backoff with jitter."""
        worker = self.settings.worker
        attempt = int(command["attempt"])
        delay = min(worker.retry_max_s, worker.retry_base_s * 2 ** (attempt - 1))
        delay = self.rng.uniform(delay / 2, delay)
        first = command.get("first_failed_at") or result["processed_at"]
        again = {**command, "attempt": attempt + 1, "first_failed_at": first}
        now = self.clock()
        log.info("retry parked", extra={"code": result["status_code"], "attempt": attempt})
        return Parked(
            kind="retry",
            tenant_id=result["tenant_id"],
            entity=result["entity"],
            entity_id=result["entity_id"],
            value=self.codec.encode(COMMAND, again),
            key=result["tenant_id"].encode(),
            source_topic=source.topic,
            partition=source.partition,
            offset=source.offset,
            parked_at=now,
            checked_at=now,
            reason=f"QuickBooks answered {result['status_code']}: {result['status_message']}",
            due_at=now + delay,
            profile_id=result["profile_id"],
            attempts=attempt,
            first_failed_at=first.timestamp(),
        )

    def _log_event(
        self, envelope: dict[str, Any], profile_id: str | None, status: str, message: str
    ) -> None:
        log_waiting(self.store, self._now(), envelope, profile_id, status, message)

    def _log(self, result: dict[str, Any], status: str) -> SyncLogEntry:
        return SyncLogEntry(
            at=result["processed_at"],
            tenant_id=result["tenant_id"],
            profile_id=result["profile_id"],
            entity=result["entity"],
            entity_id=result["entity_id"],
            command_id=str(result["command_id"]),
            action=result["action"],
            status=status,
            code=result["status_code"],
            message=result["status_message"],
            qb_id=result["qb_id"],
        )

    def _status(
        self,
        result: dict[str, Any],
        *,
        ok: bool,
        explanation: str | None = None,
        remedy: str | None = None,
    ) -> Record:
        catalog = _explain(result)
        status = {
            "tenant_id": result["tenant_id"],
            "entity": result["entity"],
            "entity_id": result["entity_id"],
            "command_id": result["command_id"],
            "status": "SYNCED" if ok else "FAILED",
            "code": result["status_code"],
            "explanation": explanation or (result["status_message"] if ok else catalog.explanation),
            "remedy": remedy if remedy is not None else ("" if ok else catalog.remedy),
            "qb_id": result["qb_id"],
            "ref_number": result.get("ref_number"),
            "full_name": result["full_name"],
            "at": result["processed_at"],
        }
        return (
            self.settings.topics.status,
            result["tenant_id"].encode(),
            self.codec.encode(SYNC_STATUS, status),
        )
