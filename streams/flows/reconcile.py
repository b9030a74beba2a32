"""Imports to change events: records read back from QuickBooks, decided by the two-way
rules (:mod:`streams.two_way._changes`, :mod:`streams.two_way`) into one complete
:class:`~streams.flows.Step` for the batch, with a dead letter for what is not one.

Pure: what the store knows was read before (:func:`streams.two_way._changes.read`); the versions
delivered are remembered by the runner once the change events are acknowledged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from core.conflicts import winner
from core.contracts import AvroCodec, DecodeError
from core.messages import COMMAND, Command, Failure, Imported
from streams.flows._step import Outbox, Source, Step
from streams.parking import Parked
from streams.two_way import Change, Tenanted, reconcile

__all__ = ["decode", "failed", "held_back", "reconciled"]

log = logging.getLogger(__name__)


def decode(
    outbox: Outbox, sources: Sequence[Source], now: float
) -> tuple[Step, list[tuple[Source, Imported]]]:
    """The imported records, and a step dead-lettering what is not one."""
    step = Step()
    decoded: list[tuple[Source, Imported]] = []
    for source in sources:
        try:
            decoded.append((source, Imported.decode(outbox.codec, source.value)))
        except DecodeError as exc:
            failure = Failure("undecodable", f"The import could not be decoded: {exc}")
            outbox.dead_letter(step, source, failure, _at(now))
    return step, decoded


def reconciled(
    outbox: Outbox,
    step: Step,
    decoded: Sequence[tuple[Source, Imported]],
    batches: Sequence[Tenanted],
    now: float,
) -> Step:
    """Change events for what someone else changed in QuickBooks; a dead letter for a
    record that cannot become one."""
    done = reconcile(outbox.codec, outbox.topics.changes, batches, _at(now))
    step.changes += done.changes
    for position, reason in done.failed:
        failure = Failure("unshapeable", f"Not delivered to the app: {reason}")
        source, record = decoded[position]
        outbox.dead_letter(
            step,
            source,
            failure,
            _at(now),
            tenant_id=record.tenant_id,
            profile_id=record.profile_id,
            entity=record.entity,
            entity_id=record.qb_id,
        )
    log.info(
        "imports reconciled",
        extra={
            "changes": len(done.changes),
            **{f"dropped_{k}": v for k, v in done.dropped.items()},
        },
    )
    return step


def failed(outbox: Outbox, sources: Sequence[Source], exc: Exception, now: float) -> Step:
    """A batch qbsync failed on: every message of it dead-lettered, never lost."""
    failure = Failure("internal-error", f"qbsync failed on this import: {exc!r}")
    step = Step()
    for source in sources:
        outbox.dead_letter(step, source, failure, _at(now))
    return step


def held_back(codec: AvroCodec, change: Change, parked: Parked | None) -> bool:
    """Whether an app change of the record, still parked in the worker, wins over
    QuickBooks' change under the tenant's policy: then the app is not told QuickBooks'
    version (the parked change, once sent, meets 3200 and the gateway decides the same
    way)."""
    guard = change.guard
    if guard is None or parked is None:
        return False
    app_changed_at = _source_updated_at(codec, parked)
    if winner(guard.policy, app_changed_at, guard.qb_changed_at) != "app":
        return False
    log.info("quickbooks change held back", extra={"kind": parked.kind})
    return True


def _source_updated_at(codec: AvroCodec, parked: Parked) -> datetime | None:
    """When the app changed what is parked: a command's, or its event's."""
    try:
        name, value = codec.decode(parked.value)
    except DecodeError:
        return None
    if name == COMMAND:
        return Command.from_avro(value).source_updated_at
    updated: datetime | None = (value.get("envelope") or {}).get("source_updated_at")
    return updated


def _at(now: float) -> datetime:
    return datetime.fromtimestamp(now, UTC)
