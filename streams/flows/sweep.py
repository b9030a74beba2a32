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


def sweep(
    outbox: Outbox,
    due: Iterable[Parked],
    expired: Iterable[Parked],
    now: float,
    withdrawn: Iterable[tuple[Parked, str | None]] = (),
) -> Step:
    """One step for one tick: ``due`` retries sent to their file (those released by hand
    too), ``expired`` waits on the dead-letter topic with what they waited for, and what
    support ``withdrew`` (dead-lettered by hand, with who did it) there too."""
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
        _absorb(step, dead_parked(outbox, entry, failure, now))
    for entry, by in withdrawn:
        _absorb(step, dead_parked(outbox, entry, _dead_by_hand(entry, by, now), now))
    return step


def _absorb(step: Step, dead: Step) -> None:
    step.unpark += dead.unpark
    step.send += dead.send
    step.writes.log += dead.writes.log
    step.failures += dead.failures


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
