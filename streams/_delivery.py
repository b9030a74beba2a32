"""A batch of messages carried out so that none is lost: every message ends either in the
records its step produced (acknowledged by the broker) or in a dead letter saying why.

The agents (:mod:`streams.app`) acknowledge a batch's offsets only after :func:`process`
returns. What goes wrong is sorted in two:

- **One record's fault** (larger than the producer's or the broker's limit, an invalid
  topic name, a corrupt record): that record is replaced by a dead letter of the message it
  came from, carrying a bounded excerpt of the original (at most :data:`EXCERPT_BYTES`) and
  its topic, partition and offset, so the dead letter itself always fits. The rest of the
  batch goes on.
- **Everyone's fault** (the broker unreachable, a timeout, the store down, a dead letter
  that cannot be written): :class:`Halt`. Nothing of the batch is acknowledged; the worker
  stops and, once restarted, reads the batch again from the committed offset
  (at-least-once; the recovery state machine keeps QuickBooks exactly-once).

A planner that raises on one message (a bug) dead-letters that message as
``internal-error``, planned alone, instead of stopping the worker on every restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import errors as kafka_errors  # type: ignore[import-untyped]
from sqlalchemy.exc import DBAPIError

from connectors.kafka import ProduceError
from core.contracts import DecodeError
from core.errors import QbsyncError
from streams._pipeline import Failure, Pipeline, Record, Source, Step
from streams._runner import Offload, carry_out, sweep_once
from streams.parking import ParkingLot

__all__ = ["EXCERPT_BYTES", "Halt", "Produce", "process", "sweep", "unproducible"]

log = logging.getLogger(__name__)

EXCERPT_BYTES = 64 * 1024
"""The most of an original message a dead letter keeps when the message could not be
produced (the rest stays on its topic, at the offset the dead letter names, until the
topic's retention removes it)."""

Produce = Callable[[Record], Awaitable[Any]]
"""Send one record; returns its delivery (an awaitable the broker's acknowledgement
resolves, or fails)."""

_TOO_LARGE = (
    kafka_errors.MessageSizeTooLargeError,
    kafka_errors.RecordTooLargeError,
    kafka_errors.RecordListTooLargeError,
)
_TOO_LARGE_CODES = frozenset({"MSG_SIZE_TOO_LARGE", "RECORD_LIST_TOO_LARGE", "INVALID_MSG_SIZE"})
_PER_RECORD = (
    *_TOO_LARGE,
    kafka_errors.InvalidTopicError,
    kafka_errors.CorruptRecordException,
    kafka_errors.UnsupportedForMessageFormatError,
)


class Halt(QbsyncError):
    """The batch cannot be finished for a reason that is not one message's: the worker
    must stop without acknowledging it (its events come back after the restart)."""


def _cause(exc: BaseException) -> BaseException:
    """The Kafka client's error under Faust's wrapper (``ProducerSendError``), if any."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kafka_errors.KafkaError | ProduceError):
            found: BaseException = seen
            return found
        seen = seen.__cause__ or seen.__context__
    return exc


def _describe(exc: BaseException) -> str:
    """For a log line: the Kafka client's error with its message (sizes, codes), anything
    else by its type only (a database error's text can quote the statement's values)."""
    cause = _cause(exc)
    if isinstance(cause, kafka_errors.KafkaError | ProduceError):
        return f"{type(cause).__name__}: {cause}"
    return type(cause).__name__


def per_record(exc: BaseException) -> bool:
    """Whether ``exc`` is the fault of the one record being produced."""
    cause = _cause(exc)
    if isinstance(cause, ProduceError):
        return cause.record_fault
    return isinstance(cause, _PER_RECORD)


def unproducible(pipeline: Pipeline, source: Source, record: Record, exc: BaseException) -> Record:
    """The dead letter of ``source`` whose output ``record`` the broker refused: an excerpt
    of the original and its coordinates, the reason and what to do, always small."""
    cause = _cause(exc)
    topic, _, value = record
    size = len(value)
    kept = source.value[:EXCERPT_BYTES]
    what = f"A {size:,}-byte record for {topic} made from this message could not be produced"
    if topic == pipeline.settings.topics.dead_letters:
        what = f"This message's dead letter ({size:,} bytes) could not be produced"
        try:
            _, earlier = pipeline.codec.decode(value)
            what += f"; it was dead-lettered as {earlier['code']}: {earlier['reason']}"
        except (DecodeError, KeyError, TypeError):
            pass
    reason = f"{what} ({type(cause).__name__}: {cause})."
    if len(kept) < len(source.value):
        reason += (
            f" Only the first {len(kept):,} of its {len(source.value):,} bytes are kept here;"
            f" the whole message is on {source.topic} partition {source.partition} offset"
            f" {source.offset} until the topic's retention removes it."
        )
    if isinstance(cause, _TOO_LARGE) or (
        isinstance(cause, ProduceError) and cause.code in _TOO_LARGE_CODES
    ):
        remedy = (
            "Make the record smaller in the source app (a long note, description or list is"
            " the usual cause) and publish it again. Replaying this dead letter would fail"
            " the same way."
        )
    else:
        remedy = (
            "Fix what the error names (e.g. the topic name or the broker's topic settings),"
            " then publish the record again from the source app."
        )
    failure = Failure("unproducible", reason, category="rejected", remedy=remedy)
    excerpt = Source(source.topic, source.partition, source.offset, source.key, kept)
    return pipeline.dead_letter(excerpt, failure)


@dataclass
class _Batch:
    """Deliveries of one batch, each tied to the message whose step produced it."""

    produce: Produce
    pending: list[tuple[Source | None, Record, Awaitable[Any]]] = field(default_factory=list)
    refused: list[tuple[Source | None, Record, BaseException]] = field(default_factory=list)

    def sender(self, source: Source | None) -> Produce:
        """``send`` for the records of ``source``'s step (``None``: a sweep, whose dead
        letters name their own source)."""

        async def send(record: Record) -> Any:
            try:
                delivery = await self.produce(record)
            except Halt:
                raise
            except Exception as exc:
                if not per_record(exc):
                    raise Halt(f"producing to {record[0]} failed: {_describe(exc)}") from exc
                self.refused.append((source, record, exc))
                return None
            if not isinstance(delivery, Awaitable):
                return delivery
            # What carry_out awaits (a change is remembered once acknowledged) never
            # raises: a refused record is sorted out at the end of the batch.
            settled = _settled(delivery)
            self.pending.append((source, record, settled))
            return settled

        return send

    async def finish(self, pipeline: Pipeline) -> None:
        """Wait for every acknowledgement; refused records become dead letters, which
        must be acknowledged in turn."""
        for source, record, settled in self.pending:
            outcome = await settled
            if isinstance(outcome, BaseException):
                if not per_record(outcome):
                    raise Halt(
                        f"the broker did not take a record for {record[0]}: {_describe(outcome)}"
                    )
                self.refused.append((source, record, outcome))
        letters = []
        for known, record, exc in self.refused:
            source = known or _source_of(pipeline, record)
            log.warning(
                "record refused by the broker; dead-lettered",
                extra={
                    "topic": source.topic,
                    "partition": source.partition,
                    "offset": source.offset,
                    "error": type(_cause(exc)).__name__,
                },
            )
            letter = unproducible(pipeline, source, record, exc)
            try:
                letters.append(await self.produce(letter))
            except Exception as error:
                raise Halt(f"a dead letter could not be produced: {_describe(error)}") from error
        for delivery in letters:
            if isinstance(delivery, Awaitable):
                outcome = await _outcome(delivery)
                if isinstance(outcome, BaseException):
                    raise Halt(f"a dead letter was not acknowledged: {_describe(outcome)}")


def _source_of(pipeline: Pipeline, record: Record) -> Source:
    """Where a record of a sweep came from: a dead letter names its source (a parked event
    that waited too long); anything else is its own."""
    topic, key, value = record
    if topic == pipeline.settings.topics.dead_letters:
        try:
            _, letter = pipeline.codec.decode(value)
            return Source(
                letter["source_topic"],
                letter["source_partition"],
                letter["source_offset"],
                letter["original_key"],
                letter["original_value"] or b"",
            )
        except (DecodeError, KeyError, TypeError):
            pass
    return Source(topic, 0, -1, key, value)


def _settled(delivery: Awaitable[Any]) -> Awaitable[Any]:
    """``delivery``'s outcome (its result, or the exception it failed with) as an
    awaitable that never raises; a future is chained with a callback, not a task each."""
    if not isinstance(delivery, asyncio.Future):
        return asyncio.ensure_future(_outcome(delivery))
    outcome: asyncio.Future[Any] = delivery.get_loop().create_future()

    def settle(done: asyncio.Future[Any]) -> None:
        if outcome.done():
            return
        if done.cancelled():
            outcome.set_result(asyncio.CancelledError())
        else:
            outcome.set_result(done.exception() or done.result())

    delivery.add_done_callback(settle)
    return outcome


async def _outcome(delivery: Awaitable[Any]) -> Any:
    try:
        return await delivery
    except Exception as exc:
        return exc


def _infrastructure(exc: BaseException) -> bool:
    """The store or the broker, not the message: stop and come back, never dead-letter."""
    if isinstance(exc, Halt):
        return True
    if isinstance(exc, DBAPIError):
        return True
    return isinstance(exc, kafka_errors.KafkaError | ProduceError | OSError | asyncio.TimeoutError)


async def _plan(
    messages: Sequence[Any],
    plan_many: Callable[[list[Any]], list[Step]],
    pipeline: Pipeline,
    offload: Offload,
) -> list[tuple[Source, Step]]:
    """Steps paired with the message each came from. A planner that raises is tried again
    one message at a time; a message it still raises on is dead-lettered."""
    sources = [Source.of(message) for message in messages]
    try:
        steps = await offload(plan_many, list(messages))
    except Exception as exc:
        if _infrastructure(exc):
            raise Halt(f"planning a batch failed: {_describe(exc)}") from exc
        log.error(
            "planning a batch failed; planning its messages one by one",
            extra={"error": type(exc).__name__, "messages": len(messages)},
        )
        paired: list[tuple[Source, Step]] = []
        for source, message in zip(sources, messages, strict=True):
            try:
                paired += [(source, step) for step in await offload(plan_many, [message])]
            except Exception as error:
                if _infrastructure(error):
                    raise Halt(f"planning a message failed: {_describe(error)}") from error
                # Not the store, not the broker: this message.
                failure = Failure(
                    "internal-error",
                    f"qbsync failed on this message: {type(error).__name__}.",
                    remedy="Report it to qbsync's maintainers with the dead letter's id.",
                )
                paired.append((source, Step(send=[pipeline.dead_letter(source, failure)])))
        return paired
    if len(steps) == len(sources):
        return list(zip(sources, steps, strict=True))
    # One step for the whole batch (imports): its records belong to the batch's first message.
    return [(sources[0], step) for step in steps]


async def process(
    messages: Sequence[Any],
    plan_many: Callable[[list[Any]], list[Step]],
    pipeline: Pipeline,
    lot: ParkingLot,
    produce: Produce,
    offload: Offload,
) -> None:
    """Plan a batch and carry it out; returns once every record of it (or its dead letter)
    is acknowledged by the broker. Raises :class:`Halt` when that cannot be done."""
    if not messages:
        return
    batch = _Batch(produce)
    try:
        for source, step in await _plan(messages, plan_many, pipeline, offload):
            await carry_out(step, pipeline, lot, batch.sender(source), offload)
        await batch.finish(pipeline)
    except Halt:
        raise
    except Exception as exc:
        raise Halt(f"carrying out a batch failed: {_describe(exc)}") from exc


async def sweep(pipeline: Pipeline, lot: ParkingLot, produce: Produce, offload: Offload) -> None:
    """One tick of the clock (:func:`streams._runner.sweep_once`) with the same rule: a
    record the broker refuses (an event that waited too long, too large for its dead
    letter) becomes a bounded dead letter; anything else is :class:`Halt`."""
    batch = _Batch(produce)
    try:
        await sweep_once(pipeline, lot, batch.sender(None), offload)
        await batch.finish(pipeline)
    except Halt:
        raise
    except Exception as exc:
        raise Halt(f"a sweep failed: {_describe(exc)}") from exc
