"""Events to commands: one event (or one parked event, planned again) becomes a complete
:class:`~streams.flows.Step`, from what the pipeline read for its batch (:class:`Known`).

Pure: the store was read before (:class:`Known`), what is to be written comes back in the
step's ``writes``; the clock and the command id are handed in.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from connectors.store import FullRead, SyncLogEntry, Tenant
from connectors.store import Mapping as IdMapping
from core.messages import Command, Failure
from streams.flows._step import Outbox, Source, Step
from streams.parking import Kind, Parked, record_key
from streams.tenant_settings import TenantSettings
from streams.translate import Context, Held, Paused, Skip, Waiting, plan
from streams.two_way.from_quickbooks import ImportRefused, imports_for
from streams.two_way.get_all import require_mapped

__all__ = [
    "Event",
    "Known",
    "blocked",
    "dead_parked",
    "plan_event",
    "replan_command",
    "requested",
    "undecodable",
    "waiting_log",
]

log = logging.getLogger(__name__)

Event = dict[str, Any]
"""A decoded domain event (its schema is the app's: ``envelope`` plus the entity's payload)."""


@dataclass
class Known:
    """What a batch of events needs from the store, read once before planning: tenants,
    company kinds, the mappings of the records and of everything they reference, the names
    they check, and when QuickBooks last changed what the apps were told about."""

    tenants: dict[str, Tenant | None] = field(default_factory=dict)
    apis: dict[str, str] = field(default_factory=dict)  # profile -> "qbo" | "qbxml"
    mappings: dict[tuple[str, str, str], IdMapping] = field(default_factory=dict)
    # (profile, entity, full name) -> exists; unknown (never imported) counts as existing.
    names: dict[tuple[str, str, str], bool] = field(default_factory=dict)
    qb_changed_at: dict[tuple[str, str, str], datetime] = field(default_factory=dict)
    # tenant -> its settings as a model, validated once per batch (not once per event);
    # absent or None: planning validates the stored JSON itself and says what is wrong.
    settings: dict[str, TenantSettings | None] = field(default_factory=dict)
    # Read only for a batch with a "get all" request: per company (profile) its tenants'
    # settings, and per tenant the entities whose mapping support confirmed.
    companies: dict[str, dict[str, TenantSettings | None]] = field(default_factory=dict)
    confirmed: dict[str, Collection[str]] = field(default_factory=dict)

    def context(self, envelope: Mapping[str, Any]) -> Context:
        tenant = self.tenants.get(envelope["tenant_id"])
        if tenant is None:
            return Context(profile_id=None, mapping=None, settings={})
        tenant_id, profile_id = tenant.id, tenant.profile_id
        return Context(
            profile_id=profile_id,
            mapping=self.mappings.get((tenant_id, envelope["entity"], envelope["entity_id"])),
            settings=self.settings.get(tenant_id) or tenant.settings,
            connected_on=tenant.created_at.date(),
            # An invoice's customer, a payment's invoices ...: what QuickBooks calls them.
            resolve=partial(_get, self.mappings, tenant_id),
            # Whether a class or sales tax code exists, from the file's imports.
            exists=partial(_get_name, self.names, profile_id),
            qb_changed_at=partial(_get, self.qb_changed_at, tenant_id),
            api=self.apis.get(profile_id, "qbxml"),
        )


def _get(known: Mapping[tuple[str, str, str], Any], tenant_id: str, entity: str, key: str) -> Any:
    return known.get((tenant_id, entity, key))


def _get_name(
    names: Mapping[tuple[str, str, str], bool], profile_id: str, entity: str, name: str
) -> bool:
    return names.get((profile_id, entity, name), True)


def requested(event: Event) -> Event:
    """The event as if a sync of its record was requested (manual mode)."""
    return {**event, "envelope": {**event["envelope"], "kind": "SYNC_REQUESTED"}}


def _references(outcome: object) -> list[str]:
    """Every record an outcome names: a command's dependencies, a wait's alternatives."""
    if isinstance(outcome, Command):
        return list(outcome.depends_on)
    if isinstance(outcome, Waiting):
        return [alternative for wanted in outcome.on for alternative in wanted.split("|")]
    return []


def waiting_log(
    at: datetime,
    where: Mapping[str, Any],
    profile_id: str | None,
    status: str,
    message: str,
) -> list[SyncLogEntry]:
    """A sync log row for an event that is not moving (``waiting``, ``paused``, ``held``,
    ``rejected``, ``expired``, ``blocked``): no command was sent, so no command id and no
    QuickBooks code (0); the action is the event's kind. None without a company file (no
    tenant sync to log: its dead letter says why)."""
    if profile_id is None:
        return []
    return [
        SyncLogEntry(
            at=at,
            tenant_id=where["tenant_id"],
            profile_id=profile_id,
            entity=where["entity"],
            entity_id=where["entity_id"],
            command_id="",
            action=str(where.get("kind") or "")[:10],
            status=status[:10],
            code=0,
            message=message,
            qb_id=None,
        )
    ]


def undecodable(outbox: Outbox, source: Source, what: str, exc: Exception, now: float) -> Step:
    failure = Failure("undecodable", f"The {what} could not be decoded: {exc}")
    return outbox.dead_letter(Step(), source, failure, _at(now))


def plan_event(
    outbox: Outbox,
    source: Source,
    event: Event,
    known: Known,
    *,
    parked: Parked | None,
    now: float,
    command_id: str,
    import_entities: Mapping[str, Sequence[str]],
) -> Step:
    """One event: a command, a parked entry, a dead letter, or nothing (a setting or the
    record's state says it is not to be sent)."""
    envelope = event["envelope"]
    tenant_id, entity, entity_id = envelope["tenant_id"], envelope["entity"], envelope["entity_id"]
    record = record_key(tenant_id, entity, entity_id)
    where = {"tenant_id": tenant_id, "entity": entity, "entity_id": entity_id}
    at = _at(now)
    if entity == "import":
        return _import_requested(outbox, source, event, known, where, at, import_entities)
    try:
        context = known.context(envelope)
        outcome = plan(event, context, command_id=command_id, now=at)
    except Exception as exc:  # one message must never stop the worker
        log.exception("event failed", extra={"offset": source.offset})
        failure = Failure("internal-error", f"qbsync failed on this event: {type(exc).__name__}")
        return outbox.dead_letter(Step(), source, failure, at, **where)
    if isinstance(outcome, Command) and envelope["kind"] != "SYNC_REQUESTED":
        # Sent: whatever was parked for this record is superseded.
        return Step(unpark=[record], send=[outbox.command(outcome)])
    if isinstance(outcome, Skip) and outcome.code == "manual-sync":
        return _hold_for_request(source, event, context, parked, now)
    if isinstance(outcome, Skip):
        log.info("event skipped", extra={"code": outcome.code, "offset": source.offset})
        return Step(unpark=[record])
    step = Step()
    if envelope["kind"] == "SYNC_REQUESTED":
        # Manual mode's "sync job": what this record needs and what needs it (a job's
        # customer; its invoices, their payments, its bills) goes with it.
        step.requested.append((tenant_id, f"{entity}:{entity_id}"))
        step.requested += [(tenant_id, d) for d in _references(outcome)]
    if isinstance(outcome, Command):
        step.unpark.append(record)
        step.send.append(outbox.command(outcome))
        return step
    if isinstance(outcome, Waiting | Paused):
        return _park(step, source, envelope, outcome, context.profile_id, parked, now)
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
        logged = failure.reason
        status = "held"
    else:
        failure = Failure(outcome.code, outcome.reason)
        logged = f"{outcome.code}: {outcome.reason}"
        status = "rejected"
    step.unpark += [record] if parked else []
    step.writes.log += waiting_log(at, envelope, context.profile_id, status, logged)
    return outbox.dead_letter(step, source, failure, at, profile_id=context.profile_id, **where)


def _park(
    step: Step,
    source: Source,
    envelope: Mapping[str, Any],
    outcome: Waiting | Paused,
    profile_id: str | None,
    parked: Parked | None,
    now: float,
) -> Step:
    kind: Kind = "paused" if isinstance(outcome, Paused) else "waiting"
    entry = _entry(
        kind,
        source,
        envelope,
        parked,
        now,
        reason=outcome.reason,
        waiting_on=outcome.on if isinstance(outcome, Waiting) else (),
        profile_id=profile_id,
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
        # Seen in the sync log at once, not only when the wait expires (once per wait: a
        # newer version waiting for the same is no news).
        step.writes.log += waiting_log(_at(now), envelope, profile_id, kind, outcome.reason)
    step.park.append(entry)
    return step


def _entry(
    kind: Kind,
    source: Source,
    envelope: Mapping[str, Any],
    parked: Parked | None,
    now: float,
    *,
    reason: str,
    waiting_on: tuple[str, ...],
    profile_id: str | None,
    extra: dict[str, Any] | None = None,
) -> Parked:
    """The event parked as it came in; first parked when its record's earlier entry of the
    same kind was (a newer version waiting for the same keeps its place in time)."""
    return Parked(
        kind=kind,
        tenant_id=envelope["tenant_id"],
        entity=envelope["entity"],
        entity_id=envelope["entity_id"],
        value=source.value,
        key=source.key,
        source_topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        parked_at=parked.parked_at if parked and parked.kind == kind else now,
        checked_at=now,
        reason=reason,
        waiting_on=waiting_on,
        profile_id=profile_id,
        extra=extra or {},
    )


def _import_requested(
    outbox: Outbox,
    source: Source,
    event: Event,
    known: Known,
    where: dict[str, str],
    at: datetime,
    import_entities: Mapping[str, Sequence[str]],
) -> Step:
    """``import.sync_requested``: the file reads these back at its next session; with
    ``everything`` all their records, once their mapping is confirmed for every tenant of
    the company (:func:`~streams.two_way.get_all.require_mapped`); with ``for_matching``
    all their records for the mappings only."""
    tenant = known.tenants.get(where["tenant_id"])
    if tenant is None:
        failure = Failure("unknown-tenant", f"tenant {where['tenant_id']!r} is not connected")
        return outbox.dead_letter(Step(), source, failure, at, **where)
    request = event.get("import") or {}
    everything = bool(request.get("everything"))
    # "Get all" delivers every record to the apps; a read for matching keeps them for the
    # mappings only (nothing to confirm first: the apps are told of none).
    full_read: FullRead | None = (
        "deliver" if everything else "match" if request.get("for_matching") else None
    )
    try:
        api = known.apis.get(tenant.profile_id, "qbxml")
        wanted = request.get("entities") or []
        imports = imports_for(wanted, import_entities.get(api, ()), api)
        if everything:
            # The pipeline reads every tenant of the company for such a batch; were it not
            # read, the asking tenant alone with unknown settings (every entity counts) keeps
            # the rule closed rather than letting the full read through unchecked.
            company = known.companies.get(tenant.profile_id) or {tenant.id: None}
            require_mapped(imports, company, known.confirmed)
    except ImportRefused as exc:
        return outbox.dead_letter(Step(), source, Failure(exc.code, str(exc)), at, **where)
    log.info("import requested", extra={"entities": ",".join(imports), "full_read": full_read})
    step = Step()
    step.writes.imports.append((tenant.profile_id, tuple(imports), full_read))
    return step


def _hold_for_request(
    source: Source, event: Event, context: Context, parked: Parked | None, now: float
) -> Step:
    """Manual sync: the record's latest state waits (kind ``manual``, never expires) until
    a sync is requested for it or for the job it belongs to. It is planned as if requested
    only to learn what it references, so a "sync job" finds it."""
    envelope = event["envelope"]
    probe = plan(requested(event), context, command_id="probe", now=_at(now))
    entry = _entry(
        "manual",
        source,
        envelope,
        parked,
        now,
        reason="manual sync: sent when a sync of it (or of its job) is requested",
        waiting_on=tuple(_references(probe)),
        profile_id=context.profile_id,
    )
    log.info("event held for a manual sync", extra={"offset": source.offset})
    return Step(park=[entry])


def replan_command(
    outbox: Outbox, entry: Parked, command: Command, known: Known, now: float
) -> Step:
    """A parked command (its reference was created again): the old ids replaced by the new
    mappings, sent to its file. Still unmapped: it keeps waiting."""
    xml = command.request_xml
    for old, dependency in entry.extra.get("replace", {}).items():
        entity, _, source_id = dependency.partition(":")
        mapping = known.mappings.get((entry.tenant_id, entity, source_id))
        if mapping is None:
            return Step(touch=[entry.checked(now)])
        xml = xml.replace(f">{old}<", f">{mapping.qb_id}<")
    again = command.replace(request_xml=xml, attempt=command.attempt + 1)
    return Step(unpark=[entry.record], send=[outbox.command(again)])


def blocked(
    outbox: Outbox, entry: Parked, dependency: str, dead_letter_id: str, now: float
) -> Step:
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
    return dead_parked(outbox, entry, failure, now)


def dead_parked(outbox: Outbox, entry: Parked, failure: Failure, now: float) -> Step:
    """A parked entry leaves the lot for the dead-letter topic, as it came in."""
    at = _at(now)
    where = {"tenant_id": entry.tenant_id, "entity": entry.entity, "entity_id": entry.entity_id}
    step = Step(unpark=[entry.record])
    step.writes.log += waiting_log(at, where, entry.profile_id, failure.code, failure.reason)
    return outbox.dead_letter(
        step, Source.parked(entry), failure, at, profile_id=entry.profile_id, **where
    )


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)
