"""The worker's steps, apart from Faust so they can be tested without a broker.

A :class:`Pipeline` method reads what a batch needs from the store, hands it to a pure flow
(:mod:`streams.flows`) which returns a complete :class:`Step`, and writes what the steps ask
of the store in one place, before :mod:`streams._runner` carries them out.
"""

from __future__ import annotations

import logging
import os
import random
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Protocol

from connectors.qbo import imports_read
from connectors.store import Holder, Store, Tenant
from core.contracts import AvroCodec, DecodeError
from core.messages import Command, Failure, Result
from core.settings import Settings
from streams._waits import Releases
from streams.flows import reconcile as reconciling
from streams.flows import settle as settling
from streams.flows import sweep as sweeping
from streams.flows import translate as translating
from streams.flows._step import Message, Outbox, Record, Source, Step
from streams.parking import Parked, ParkingLot
from streams.rules import SAME_LIST
from streams.tenant_settings import TenantSettings, valid_settings
from streams.translate import wanted
from streams.two_way import Change, read

__all__ = ["Failure", "Pipeline", "PipelineObserver", "Record", "Source", "Step", "command_ids"]

log = logging.getLogger(__name__)

Event = translating.Event


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

    ``translate`` (an event), ``settle`` (a result), ``reconcile_many`` (imports),
    ``replan`` (a parked event), ``blocked`` (a parked event whose dependency died) and
    ``sweep`` (the clock) return a :class:`Step`; they read and write the store but never
    Kafka. ``clock`` and ``rng`` are injected so backoff and expiry are tested without
    waiting.
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
        self.outbox = Outbox(settings.topics, codec)
        self.retries = settling.Retries(settings.worker, self.rng)
        # Records dead-lettered lately: a command the gateway held back because of one of
        # them ("blocked") follows it to the dead-letter topic instead of being retried.
        self._dead: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._apis: dict[str, str] = {}
        self._releases = Releases(store)

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
        step = self.outbox.dead_letter(
            Step(),
            source,
            failure,
            self._now(),
            tenant_id=tenant_id,
            profile_id=profile_id,
            entity=entity,
            entity_id=entity_id,
            dead_letter_id=dead_letter_id,
        )
        self._observe([step])
        return step.send[0]

    # -- writing: one place, after planning -------------------------------------------

    def _done(self, steps: list[Step], *, best_effort: bool = False) -> list[Step]:
        """What the steps ask of the store, written together; their dead letters counted.
        ``best_effort``: only sync log rows for people, whose failure stops nothing."""
        mappings = [m for step in steps for m in step.writes.mappings]
        entries = [e for step in steps for e in step.writes.log]
        forget = [f for step in steps for f in step.writes.forget]
        for step in steps:
            for profile_id, kinds, full_read in step.writes.imports:
                self.store.request_import(profile_id, list(kinds), full_read=full_read)
        try:
            self.store.save_outcomes(mappings, entries, forget=forget)
        except Exception:
            if not best_effort or mappings or forget:
                raise
            log.exception("sync log write failed", extra={"rows": len(entries)})
        self._observe(steps)
        return steps

    def _observe(self, steps: list[Step]) -> None:
        for step in steps:
            for failure in step.failures:
                self.observer.dead_lettered(failure.code, failure.category)
            step.failures = []

    # -- imports: QuickBooks back to the apps -----------------------------------------

    def reconcile_many(self, messages: Sequence[Message]) -> list[Step]:
        """Imported QuickBooks records in a batch: change events for what someone else
        changed, nothing for our own writes and what the app was told already
        (:mod:`streams.two_way`). The versions delivered are remembered after the events
        are sent."""
        now = self.clock()
        sources = [Source.of(message) for message in messages]
        step, decoded = reconciling.decode(self.outbox, sources, now)
        if decoded:
            try:
                batches = read(self.store, [record for _, record in decoded])
                step = reconciling.reconciled(self.outbox, step, decoded, batches, now)
            except Exception as exc:  # one batch must never stop the worker
                log.exception("imports failed")
                step = reconciling.failed(self.outbox, sources, exc, now)
        return self._done([step])

    def held_back(self, change: Change, parked: Parked | None) -> bool:
        """Whether an app change of the record, still parked here, wins over QuickBooks'
        change (:func:`streams.flows.reconcile.held_back`)."""
        return reconciling.held_back(self.codec, change, parked)

    def remember(self, changes: list[Change]) -> None:
        """Once sent: the versions the apps were told about, and the mappings following."""
        self.store.record_delivered(
            [c.delivered for c in changes], [c.mapping for c in changes if c.mapping]
        )

    # -- events -----------------------------------------------------------------------

    def translate_many(self, messages: Sequence[Message]) -> list[Step]:
        """Events in a batch, in order: one thread hop, one look-up per tenant and one
        query for the mappings of every record in the batch and of all they reference
        (the worker's first bottleneck was a round trip per event, see
        docs/performance.md)."""
        decoded = [self._decode(message) for message in messages]
        # Local to this call, never on self: settling and rechecks plan in other threads
        # meanwhile, and must read the store, not this batch's snapshot.
        known = self._read_events([event for _, event in decoded if isinstance(event, dict)])
        ids = command_ids(len(decoded))
        imports = self._imports()  # parsed once a batch, not per event
        steps = [
            self._plan(source, event, known, parked=None, command_id=command_id, imports=imports)
            if isinstance(event, dict)
            else event
            for (source, event), command_id in zip(decoded, ids, strict=True)
        ]
        return self._done(steps, best_effort=True)

    def translate(self, message: Message) -> Step:
        """One event message: a command, a parked entry, a dead letter, or nothing (a
        setting or the record's state says it is not to be sent)."""
        return self.translate_many([message])[0]

    def _decode(self, message: Message) -> tuple[Source, Event | Step]:
        """The event, or the step that dead-letters what is not one."""
        source = Source.of(message)
        try:
            _, event = self.codec.decode(source.value)
            event["envelope"]["tenant_id"]  # a domain event, not some other record
        except (DecodeError, KeyError, TypeError) as exc:
            return source, translating.undecodable(self.outbox, source, "event", exc, self.clock())
        return source, event

    def _plan(
        self,
        source: Source,
        event: Event,
        known: translating.Known,
        parked: Parked | None,
        command_id: str | None = None,
        imports: Mapping[str, Sequence[str]] | None = None,
    ) -> Step:
        return translating.plan_event(
            self.outbox,
            source,
            event,
            known,
            parked=parked,
            now=self.clock(),
            command_id=command_id or str(uuid.uuid4()),
            import_entities=self._imports() if imports is None else imports,
        )

    def replan(self, entry: Parked, *, requested: bool = False) -> Step:
        """A parked event, planned again (its dependency is mapped, or time passed);
        ``requested``: as if a sync of it was requested (manual mode's "sync job")."""
        if entry.extra.get("command"):
            return self.replan_command(entry)
        source = Source.parked(entry)
        try:
            _, event = self.codec.decode(source.value)
        except DecodeError as exc:  # it decoded when parked: only a lost schema gets here
            step = translating.undecodable(self.outbox, source, "parked event", exc, self.clock())
            step.unpark.append(entry.record)
            return self._done([step])[0]
        if requested or entry.extra.get("requested"):
            event = translating.requested(event)
        known = self._read_events([event])
        return self._done([self._plan(source, event, known, parked=entry)], best_effort=True)[0]

    def replan_command(self, entry: Parked) -> Step:
        """A parked command (its reference was created again): the old ids replaced by the
        new mappings, sent to its file. Still unmapped: it keeps waiting."""
        command = Command.decode(self.codec, entry.value)
        keys = [
            (entry.tenant_id, *_record(dependency))
            for dependency in entry.extra.get("replace", {}).values()
        ]
        known = translating.Known(mappings=self.store.mappings_of(keys))
        return translating.replan_command(self.outbox, entry, command, known, self.clock())

    def blocked(self, entry: Parked, dependency: str, dead_letter_id: str) -> Step:
        """A parked event whose dependency went to the dead-letter topic follows it."""
        step = translating.blocked(self.outbox, entry, dependency, dead_letter_id, self.clock())
        return self._done([step], best_effort=True)[0]

    def _read_events(self, events: list[Event]) -> translating.Known:
        """What planning ``events`` needs from the store, read at once: their tenants, the
        mappings of the records and of every record they reference, the class and tax code
        names they check, and (two-way) when QuickBooks last changed what they update."""
        known = translating.Known()
        tenant_ids = list(dict.fromkeys(event["envelope"]["tenant_id"] for event in events))
        found = self.store.tenants_by_id(tenant_ids)
        self._learn_apis([tenant.profile_id for tenant in found.values()])
        for tenant_id in tenant_ids:
            known.tenants[tenant_id] = tenant = found.get(tenant_id)
            if tenant is not None:
                known.apis[tenant.profile_id] = self._api(tenant.profile_id)
        known.settings = settings = {
            t.id: _settings(t) for t in known.tenants.values() if t is not None
        }
        keys: set[tuple[str, str, str]] = set()
        names: set[tuple[str, str, str]] = set()
        for event in events:
            envelope = event["envelope"]
            tenant = known.tenants[envelope["tenant_id"]]
            if tenant is None or envelope["entity"] == "import":
                continue
            keys.add((tenant.id, envelope["entity"], envelope["entity_id"]))
            loaded = settings[tenant.id]
            if loaded is not None:
                asked = wanted(event, loaded, api=known.apis[tenant.profile_id])
                keys.update((tenant.id, entity, i) for entity, i in asked.references)
                names.update((tenant.profile_id, entity, n) for entity, n in asked.names)
        known.mappings = self.store.mappings_of(sorted(keys))
        # Unknown (no import of the kind yet) counts as existing: QuickBooks decides.
        known.names = {key: self.store.qb_name_exists(*key) is not False for key in sorted(names)}
        updated: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        for event in events:
            envelope = event["envelope"]
            tenant = known.tenants[envelope["tenant_id"]]
            loaded = settings.get(tenant.id) if tenant is not None else None
            mapping = known.mappings.get(
                (envelope["tenant_id"], envelope["entity"], envelope["entity_id"])
            )
            if (
                mapping is not None
                and loaded is not None
                and envelope["kind"] == "UPSERTED"
                and loaded.direction_of(envelope["entity"]) == "two_way"
            ):
                updated[(mapping.tenant_id, envelope["entity"])].add(mapping.qb_id)
        for (tenant_id, entity), qb_ids in updated.items():
            for qb_id, row in self.store.delivered(tenant_id, entity, sorted(qb_ids)).items():
                if row.changed_at is not None:
                    known.qb_changed_at[(tenant_id, entity, qb_id)] = row.changed_at
        self._read_companies(known, events)
        return known

    def _read_companies(self, known: translating.Known, events: list[Event]) -> None:
        """For "get all" requests only: every tenant of their companies, with settings, and
        the mappings those tenants confirmed (a full read goes to all of them)."""
        profiles = {
            tenant.profile_id
            for event in events
            if event["envelope"]["entity"] == "import"
            and (event.get("import") or {}).get("everything")
            and (tenant := known.tenants.get(event["envelope"]["tenant_id"])) is not None
        }
        for profile_id in sorted(profiles):
            known.companies[profile_id] = {
                t.id: _settings(t) for t in self.store.tenants(profile_id)
            }
        tenant_ids = [t for company in known.companies.values() for t in company]
        known.confirmed = dict(self.store.mapping_confirmations(tenant_ids))

    def _imports(self) -> dict[str, Sequence[str]]:
        """What an app may ask to import, per kind of company: the gateway's imports, or
        what the QBO reader reads back."""
        return {
            "qbxml": self.settings.gateway.import_entities,
            "qbo": imports_read(self.settings.qbo.read_entity_names),
        }

    def _learn_apis(self, profile_ids: Sequence[str]) -> None:
        """The kind of every profile not asked before, in one query (a batch spread over
        hundreds of files a worker has not met asked once per file)."""
        new = [profile_id for profile_id in profile_ids if profile_id not in self._apis]
        if new:
            online = self.store.qbo_profiles(new)
            for profile_id in new:
                self._apis[profile_id] = "qbo" if profile_id in online else "qbxml"

    def _api(self, profile_id: str) -> str:
        """``qbo`` for a QuickBooks Online company, else ``qbxml``; a company's kind never
        changes, so it is asked once per profile."""
        if profile_id not in self._apis:
            self._apis[profile_id] = "qbo" if self.store.is_qbo(profile_id) else "qbxml"
        return self._apis[profile_id]

    # -- the clock --------------------------------------------------------------------

    def sweep(self, lot: ParkingLot) -> tuple[Step, list[Parked]]:
        """Due retries are sent again, expired waits dead-lettered; returns the step and the
        waiting or paused entries to plan again (the agent plans them in a thread)."""
        now = self.clock()
        worker = self.settings.worker
        due, expired = list(lot.due(now)), list(lot.expired(now, worker.park_limit_s))
        released, withdrawn = self._releases.due(
            lot, now, {e.record for e in due} | {e.record for e in expired}
        )
        due += [e for e in released if e.kind == "retry"]  # released by hand: due now
        released = [e for e in released if e.kind != "retry"]
        step = self._done(
            [sweeping.sweep(self.outbox, due, expired, now, withdrawn)], best_effort=True
        )[0]
        leaving = set(step.unpark) | {e.record for e in released}
        recheck = [
            entry
            for entry in lot.stale(now, worker.recheck_s, limit=500)
            if entry.record not in leaving
        ]
        return step, recheck + released

    # -- results ----------------------------------------------------------------------

    def settle(self, message: Message) -> Step:
        """One result: on success the mapping, a sync log row, a status event and the
        release of what waited for the record; on a passing failure a retry (parked with
        backoff); on a lasting one the command on the dead-letter topic, with what
        depended on it."""
        return self.settle_many([message])[0]

    def settle_many(self, messages: Sequence[Message]) -> list[Step]:
        """Results in a batch: one store transaction for all their mappings and log rows
        (written before any step is carried out, so a release finds the mapping)."""
        decoded = [self._result(message) for message in messages]
        known = self._read_results([item for item in decoded if not isinstance(item, Step)])
        steps: list[Step] = []
        written: list[settling.IdMapping] = []
        for item in decoded:
            if isinstance(item, Step):
                steps.append(item)
                continue
            source, result, command = item
            step = settling.settle(
                self.outbox,
                source,
                result,
                command,
                known,
                dead=self._dead,
                written=written,
                retries=self.retries,
                now=self.clock(),
            )
            written += step.writes.mappings
            self._follow(step, command, result)
            steps.append(step)
        return self._done(steps)

    def _result(self, message: Message) -> tuple[Source, Result, Command | None] | Step:
        source = Source.of(message)
        try:
            result = Result.decode(self.codec, source.value)
        except DecodeError as exc:
            return translating.undecodable(self.outbox, source, "result", exc, self.clock())
        command = None
        if result.command:
            try:
                command = Command.decode(self.codec, result.command)
            except DecodeError:
                command = None
        return source, result, command

    def _read_results(self, results: list[tuple[Source, Result, Command | None]]) -> settling.Known:
        """Who already holds each QuickBooks id an Add came back with, and what failed
        commands referencing a record that may be gone (3140) point at: a few queries for
        the whole batch, never one per result."""
        known = settling.Known()
        added: list[tuple[str, str, str]] = []
        apis: list[str] = []
        keys: list[tuple[str, str, str]] = []
        for _, result, command in results:
            if settling.adds(result):
                assert result.qb_id is not None
                added.append((result.tenant_id, result.entity, result.qb_id))
                apis.append(result.api or self._api(result.profile_id))
            elif command is not None and settling.create_reference(result):
                keys += [(result.tenant_id, *_record(d)) for d in command.depends_on]
        held: dict[tuple[str, str, str], Holder] = {}
        for api, keys_of in _by_api(added, apis).items():
            held |= self.store.holders(keys_of, kin=SAME_LIST.get(api, {}))
        known.holders = {key: _named(key[0], held.get(key)) for key in added}
        known.mappings = self.store.mappings_of(keys) if keys else {}
        return known

    def _follow(self, step: Step, command: Command | None, result: Result) -> None:
        """Records now dead or mapped, for the results of the batch that follow, and the
        latency from event to QuickBooks' answer for the metrics."""
        for tenant_id, dependency, dead_letter_id in step.dead:
            self._dead[(tenant_id, dependency)] = dead_letter_id
        while len(self._dead) > 10_000:
            self._dead.popitem(last=False)
        for tenant_id, dependency in step.mapped:
            self._dead.pop((tenant_id, dependency), None)
            if command is not None and command.occurred_at is not None:
                self.observer.settled(command.occurred_at, result.processed_at)


def command_ids(count: int) -> list[str]:
    """``count`` random (version 4) UUIDs as text, from one read of the OS's random source:
    what ``str(uuid.uuid4())`` gives, at a third of its cost per event."""
    raw = os.urandom(16 * count)
    ids = []
    for start in range(0, 16 * count, 16):
        h = raw[start : start + 16].hex()
        variant = "89ab"[int(h[16], 16) & 3]
        ids.append(f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}")
    return ids


def _by_api(
    keys: list[tuple[str, str, str]], apis: list[str]
) -> dict[str, list[tuple[str, str, str]]]:
    """The keys by the API of the result they come from (a batch usually has one)."""
    grouped: dict[str, list[tuple[str, str, str]]] = {}
    for key, api in zip(keys, apis, strict=True):
        grouped.setdefault(api, []).append(key)
    return grouped


def _named(tenant_id: str, holder: Holder | None) -> str | None:
    """The app record holding a QuickBooks id, as the tenant names it: its own record's id;
    on a shared company file, another tenant's record as ``tenant/id``."""
    if holder is None:
        return None
    if holder.tenant_id == tenant_id:
        return holder.external_id
    return f"{holder.tenant_id}/{holder.external_id or '?'}"


def _record(dependency: str) -> tuple[str, str]:
    """``"entity:id"`` as ``(entity, id)``."""
    entity, _, entity_id = dependency.partition(":")
    return entity, entity_id


def _settings(tenant: Tenant) -> TenantSettings | None:
    return valid_settings(tenant.settings)  # None: planning says why (invalid-settings)
