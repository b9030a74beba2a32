"""Results to outcomes: QuickBooks' answer to one command becomes a complete
:class:`~streams.flows.Step`: the mapping and a status event on success, a retry parked with
backoff on a passing failure, a dead letter (and what depended on the record following it)
on a lasting one, a stale reference forgotten and the command parked until it is created
again.

Pure: what the store knows (:class:`Known`) was read before planning, what is to be written
comes back in the step's ``writes``; the clock and the jitter are handed in.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from connectors.qbxml import Category
from connectors.store import Mapping as IdMapping
from connectors.store import SyncLogEntry
from core.messages import Command, Failure, Result
from core.settings import WorkerSettings
from core.status import Status
from streams.flows._step import Outbox, Source, Step, explained
from streams.parking import Parked

__all__ = ["IdMapping", "Known", "Retries", "adds", "create_reference", "settle"]

log = logging.getLogger(__name__)


@dataclass
class Known:
    """What a batch of results needs from the store, read once before planning: the app
    record already mapped to each QuickBooks id an Add came back with, and the mappings of
    what failed commands reference (a 3140 may name one that is gone)."""

    holders: dict[tuple[str, str, str], str | None] = field(default_factory=dict)
    mappings: dict[tuple[str, str, str], IdMapping] = field(default_factory=dict)


@dataclass(frozen=True)
class Retries:
    """The retry policy: how many attempts, and when the next one is due."""

    worker: WorkerSettings
    rng: random.Random

    def allowed(self, command: Command) -> bool:
        return command.attempt < self.worker.retry_attempts

    def delay(self, attempt: int) -> float:
        """Exponential backoff with jitter."""
        delay = min(self.worker.retry_max_s, self.worker.retry_base_s * 2 ** (attempt - 1))
        return self.rng.uniform(delay / 2, delay)


def create_reference(result: Result) -> bool:
    """Whether a refusal may name a reference that is gone (3140: worth reading mappings)."""
    return not result.succeeded and explained(result).action == "create-reference"


def adds(result: Result) -> bool:
    """Whether a result is a successful Add with a QuickBooks id (which another app record
    may hold already: worth reading who)."""
    return result.succeeded and result.action == "ADD" and bool(result.qb_id)


def settle(
    outbox: Outbox,
    source: Source,
    result: Result,
    command: Command | None,
    known: Known,
    *,
    dead: Mapping[tuple[str, str], str],
    written: Sequence[IdMapping],
    retries: Retries,
    now: float,
) -> Step:
    """One result. ``dead``: records dead-lettered lately (a command held back because of
    one follows it); ``written``: this batch's mappings so far."""
    tenant_id, entity, entity_id = result.tenant_id, result.entity, result.entity_id
    dependency = f"{entity}:{entity_id}"
    code = result.status_code
    if adds(result) and result.qb_id:
        holder = _holder(written, known, tenant_id, entity, result.qb_id)
        if holder is not None and holder != entity_id:
            return _name_taken(outbox, source, result, holder, now)
    if result.succeeded:
        step = Step(send=[outbox.status(result, ok=True)], mapped=[(tenant_id, dependency)])
        if result.qb_id:
            step.writes.mappings.append(
                IdMapping(
                    tenant_id=tenant_id,
                    entity=entity,
                    external_id=entity_id,
                    qb_id=result.qb_id,
                    edit_sequence=result.edit_sequence,
                    full_name=result.full_name,
                )
            )
        step.writes.log.append(_log(result, "synced"))
        return step
    if code == Status.CONFLICT:
        # Both sides changed it and QuickBooks' version wins: not an error, nothing to
        # retry; the mapping keeps our version, so the next import delivers QuickBooks'.
        status = outbox.status(result, ok=False, explanation=result.status_message, remedy="")
        step = Step(send=[status])
        step.writes.log.append(_log(result, "conflict"))
        return step
    catalog = explained(result)
    attempts = command.attempt if command else 1
    first = (command.first_failed_at if command else None) or result.processed_at
    blocked_by = _blocker(dead, tenant_id, command) if code == Status.BLOCKED else None
    passing = code == Status.BLOCKED or catalog.category is Category.TRANSIENT
    if passing and blocked_by is None and command is not None and retries.allowed(command):
        step = Step(park=[_retry(outbox, source, result, command, retries, now)])
        step.writes.log.append(_log(result, "retrying"))
        return step
    if catalog.action == "create-reference" and command is not None:
        recreate = _recreate_reference(outbox, source, result, command, known, now)
        if recreate is not None:
            return recreate
    failure = Failure(
        str(code),
        f"QuickBooks refused {entity} {entity_id!r}: {result.status_message}"
        + (f" (after {attempts} attempts)" if attempts > 1 else ""),
        category="blocked" if blocked_by else str(catalog.category),
        explanation=catalog.explanation,
        remedy=catalog.remedy,
        attempts=attempts,
        first_failed_at=first,
        blocked_by=blocked_by,
    )
    return _refused(outbox, source, result, failure, now)


def _refused(
    outbox: Outbox,
    source: Source,
    result: Result,
    failure: Failure,
    now: float,
    *,
    status_code: int | None = None,
) -> Step:
    """A lasting failure: the command itself (carried in the result) is the dead letter
    support replays; the source app hears why; what waits for the record follows it."""
    tenant_id, entity, entity_id = result.tenant_id, result.entity, result.entity_id
    dead_letter_id = str(uuid.uuid4())
    if result.command:
        source = Source(
            outbox.topics.commands(result.profile_id),
            0,
            source.offset,
            tenant_id.encode(),
            result.command,
        )
    told = result if status_code is None else result.replace(status_code=status_code)
    status = outbox.status(told, ok=False, explanation=failure.explanation, remedy=failure.remedy)
    step = Step(send=[status], dead=[(tenant_id, f"{entity}:{entity_id}", dead_letter_id)])
    step.writes.log.append(_log(result, "failed"))
    return outbox.dead_letter(
        step,
        source,
        failure,
        _at(now),
        tenant_id=tenant_id,
        profile_id=result.profile_id,
        entity=entity,
        entity_id=entity_id,
        dead_letter_id=dead_letter_id,
    )


def _name_taken(outbox: Outbox, source: Source, result: Result, holder: str, now: float) -> Step:
    """An Add answered with a record another app record is mapped to (a list record of
    the same name adopted instead of a 3100): nothing was added in QuickBooks, and two
    app records must not share one QuickBooks record."""
    entity = result.entity
    failure = Failure(
        "name-taken",
        f"{entity} {result.entity_id!r} has the QuickBooks name"
        f" {result.full_name!r}, which {entity} {holder!r} is already synced to"
        f" ({result.qb_id}). Nothing was added in QuickBooks.",
        category="permanent",
        explanation="Two records of the app would become one QuickBooks record: QuickBooks"
        " names are unique within a list.",
        remedy=f"Give one of them a different name in the app (or, if they are the same"
        f" {entity}, merge them there), then replay.",
    )
    return _refused(outbox, source, result, failure, now, status_code=3100)


def _recreate_reference(
    outbox: Outbox, source: Source, result: Result, command: Command, known: Known, now: float
) -> Step | None:
    """3140 naming a record qbsync mapped (deleted or merged in QuickBooks since): the
    stale mapping is forgotten, so the record's next event creates it again; the source
    app is told to re-publish it (its status event); the command waits for the new
    mapping and is sent again with the new id. None when the reference is not one of
    ours (an account, a class ...): then it is a dead letter for a person."""
    tenant_id = result.tenant_id
    for dependency in command.depends_on:
        entity, _, source_id = dependency.partition(":")
        mapping = known.mappings.get((tenant_id, entity, source_id))
        if mapping is None or f'"{mapping.qb_id}"' not in result.status_message:
            continue
        entry = Parked(
            kind="waiting",
            tenant_id=tenant_id,
            entity=result.entity,
            entity_id=result.entity_id,
            value=result.command or b"",
            key=tenant_id.encode(),
            # Expired, it is a dead letter replayable as the command it is.
            source_topic=outbox.topics.commands(result.profile_id),
            partition=source.partition,
            offset=source.offset,
            parked_at=now,
            checked_at=now,
            reason=f"{dependency} is no longer in QuickBooks (3140); waiting for it to be"
            " created again",
            waiting_on=(dependency,),
            profile_id=result.profile_id,
            extra={"command": True, "replace": {mapping.qb_id: dependency}},
        )
        gone = result.replace(
            entity=entity,
            entity_id=source_id,
            qb_id=mapping.qb_id,
            full_name=mapping.full_name,
            ref_number=None,
        )
        status = outbox.status(
            gone,
            ok=False,
            explanation=f"QuickBooks no longer has this {entity} ({mapping.qb_id}): it was"
            " deleted or merged there. qbsync forgot the old mapping; "
            f"{result.entity} {result.entity_id!r} waits for it.",
            remedy=f"Publish this {entity} again from the app (an upsert event): qbsync"
            " creates it in QuickBooks, then sends what waits for it.",
        )
        log.info("stale reference forgotten", extra={"entity": entity})
        step = Step(park=[entry], send=[status])
        step.writes.forget.append((tenant_id, entity, source_id))
        step.writes.log.append(_log(result, "waiting"))
        return step
    return None


def _holder(
    written: Sequence[IdMapping], known: Known, tenant_id: str, entity: str, qb_id: str
) -> str | None:
    """The app record already mapped to ``qb_id`` (this batch's writes first); on a shared
    company file, another tenant's record is named ``tenant/id``."""
    for mapping in reversed(written):
        if (mapping.tenant_id, mapping.entity, mapping.qb_id) == (tenant_id, entity, qb_id):
            return mapping.external_id
    return known.holders.get((tenant_id, entity, qb_id))


def _blocker(
    dead: Mapping[tuple[str, str], str], tenant_id: str, command: Command | None
) -> str | None:
    for dependency in command.depends_on if command else ():
        found = dead.get((tenant_id, dependency))
        if found is not None:
            return found
    return None


def _retry(
    outbox: Outbox,
    source: Source,
    result: Result,
    command: Command,
    retries: Retries,
    now: float,
) -> Parked:
    """The command again, attempt + 1, due after the policy's backoff."""
    attempt = command.attempt
    first = command.first_failed_at or result.processed_at
    again = command.replace(attempt=attempt + 1, first_failed_at=first)
    log.info("retry parked", extra={"code": result.status_code, "attempt": attempt})
    return Parked(
        kind="retry",
        tenant_id=result.tenant_id,
        entity=result.entity,
        entity_id=result.entity_id,
        value=again.encode(outbox.codec),
        key=result.tenant_id.encode(),
        source_topic=source.topic,
        partition=source.partition,
        offset=source.offset,
        parked_at=now,
        checked_at=now,
        reason=f"QuickBooks answered {result.status_code}: {result.status_message}",
        due_at=now + retries.delay(attempt),
        profile_id=result.profile_id,
        attempts=attempt,
        first_failed_at=first.timestamp(),
    )


def _log(result: Result, status: str) -> SyncLogEntry:
    return SyncLogEntry(
        at=result.processed_at,
        tenant_id=result.tenant_id,
        profile_id=result.profile_id,
        entity=result.entity,
        entity_id=result.entity_id,
        command_id=result.command_id,
        action=result.action,
        status=status,
        code=result.status_code,
        message=result.status_message,
        qb_id=result.qb_id,
    )


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)
