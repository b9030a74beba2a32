"""The clock: due retries sent again, expired waits dead-lettered. Pure: the pipeline reads
the parking lot (the due and the expired entries) and hands them in."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from core.messages import Failure
from streams.flows._step import Outbox, Step
from streams.flows.translate import dead_parked
from streams.parking import Parked

__all__ = ["sweep"]


def sweep(outbox: Outbox, due: Iterable[Parked], expired: Iterable[Parked], now: float) -> Step:
    """One step for one tick: ``due`` retries sent to their file, ``expired`` waits on the
    dead-letter topic with what they waited for."""
    step = Step()
    for entry in due:
        assert entry.profile_id is not None  # a retry always knows its company file
        step.unpark.append(entry.record)
        step.send.append((outbox.topics.commands(entry.profile_id), entry.key, entry.value))
    for entry in expired:
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
        dead = dead_parked(outbox, entry, failure, now)
        step.unpark += dead.unpark
        step.send += dead.send
        step.writes.log += dead.writes.log
        step.failures += dead.failures
    return step
