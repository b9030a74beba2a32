"""Read the dead-letter topic for support, and replay what can be replayed.

Dead letters are few and precious: support lists them with filters, looks at one, and, once
the cause is fixed, replays them. Two kinds are replayable: *events* (the worker could not
plan them, or they waited too long, or what they need was refused) go back on the events
topic; *commands* QuickBooks refused go back on their company file's command topic. Results
dead-lettered as such (undecodable, or from a gateway that did not carry the command) are
not: the event is re-published from the source app once the record is fixed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, TopicPartition

__all__ = [
    "DeadLetterFilter",
    "LetterAt",
    "LetterWindow",
    "read_dead_letter_at",
    "read_dead_letter_window",
    "read_dead_letters",
    "replayable",
]


@dataclass(frozen=True)
class DeadLetterFilter:
    code: str | None = None
    tenant: str | None = None
    profile: str | None = None
    since: datetime | None = None

    def matches(self, letter: Mapping[str, Any]) -> bool:
        return (
            (self.code is None or letter["code"] == self.code)
            and (self.tenant is None or letter["tenant_id"] == self.tenant)
            and (self.profile is None or letter["profile_id"] == self.profile)
            and (self.since is None or letter["failed_at"] >= self.since)
        )


PARTITION = "dead_letter_partition"
OFFSET = "dead_letter_offset"


def _reader(client_config: Mapping[str, str], **extra: Any) -> Consumer:
    """A consumer that reads the topic by hand (assigned offsets, nothing committed)."""
    return Consumer(
        {
            **client_config,
            "group.id": "qbsync-dlq-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **extra,
        }
    )


def _placed(letter: dict[str, Any], partition: int, offset: int) -> dict[str, Any]:
    """``letter`` with where it is on the dead-letter topic (``dead_letter_partition``,
    ``dead_letter_offset``): how the console links to it and reads it again."""
    letter[PARTITION] = partition
    letter[OFFSET] = offset
    return letter


@dataclass(frozen=True)
class LetterAt:
    """The dead letter at one offset (None: no record there, or the offset is out of the
    topic's range) and how many records were fetched to read it."""

    letter: dict[str, Any] | None
    fetched: int


def read_dead_letter_at(
    client_config: Mapping[str, str],
    topic: str,
    decode: Callable[[bytes], dict[str, Any]],
    *,
    partition: int,
    offset: int,
    timeout_s: float = 10.0,
) -> LetterAt:
    """The one dead letter at ``offset`` of ``partition``: a seek and one record consumed,
    never the topic (a fetch of at most 64 KiB past it unless the record is larger)."""
    consumer = _reader(client_config, **{"max.partition.fetch.bytes": 65536})
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if not low <= offset < high:
            return LetterAt(None, 0)
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            message = consumer.poll(timeout=1.0)
            if message is None or message.error() is not None:
                continue
            if message.offset() != offset:  # not a letter there (a transaction marker)
                return LetterAt(None, 1)
            return LetterAt(_placed(decode(message.value() or b""), partition, offset), 1)
        return LetterAt(None, 0)
    finally:
        consumer.close()


@dataclass(frozen=True)
class LetterWindow:
    """A window of the dead-letter topic: its letters (oldest first), the offsets read
    (``start`` to before ``end``) and the topic's first offset (``low``: nothing older)."""

    letters: list[dict[str, Any]]
    start: int
    end: int
    low: int

    @property
    def older(self) -> int | None:
        """Where the next older window ends (its ``before``), None at the topic's start."""
        return self.start if self.start > self.low else None


def read_dead_letter_window(
    client_config: Mapping[str, str],
    topic: str,
    decode: Callable[[bytes], dict[str, Any]],
    *,
    before: int | None,
    size: int,
    idle_s: float = 2.0,
    timeout_s: float = 60.0,
) -> LetterWindow:
    """At most ``size`` dead letters: the newest ones, or those just before offset
    ``before`` (paging back), so a page costs a window of the topic, not all of it. The
    newest window is read until nothing more arrives for ``idle_s`` (a broker whose high
    watermark is not exact may hold a few more)."""
    consumer = _reader(client_config)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        end = high if before is None else max(low, min(before, high))
        start = max(low, end - size)
        letters: list[dict[str, Any]] = []
        last = start - 1
        if start < end or before is None:
            consumer.assign([TopicPartition(topic, 0, start)])
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and (before is None or last < end - 1):
                batch = consumer.consume(500, timeout=idle_s)
                if not batch:
                    break
                for message in batch:
                    offset = message.offset() or 0
                    if message.error() is not None or (before is not None and offset >= end):
                        continue
                    letters.append(_placed(decode(message.value() or b""), 0, offset))
                    last = max(last, offset)
        return LetterWindow(letters[-size:], start, max(end, last + 1), low)
    finally:
        consumer.close()


def read_dead_letters(
    client_config: Mapping[str, str],
    topic: str,
    decode: Callable[[bytes], dict[str, Any]],
    *,
    idle_s: float = 2.0,
    timeout_s: float = 60.0,
) -> list[dict[str, Any]]:
    """Every dead letter on ``topic`` (one partition), oldest first: read until nothing more
    arrives for ``idle_s`` (not every broker's high watermark is exact), at most
    ``timeout_s``."""
    consumer = _reader(client_config)
    try:
        low, _ = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        consumer.assign([TopicPartition(topic, 0, low)])
        letters: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = consumer.consume(500, timeout=idle_s)
            if not batch:
                break
            letters.extend(
                _placed(decode(message.value() or b""), 0, message.offset() or 0)
                for message in batch
                if message.error() is None
            )
        return letters
    finally:
        consumer.close()


def replayable(
    letters: Iterable[Mapping[str, Any]], events_topic: str, commands_prefix: str
) -> list[Mapping[str, Any]]:
    """The dead letters that can go back where they came from, in replay order: refused
    commands first, in the order they first failed (a customer before the invoice that
    needs it), then events in the order they were first published. An event replayed before
    the record it needs is in QuickBooks waits for it in the worker; nothing is sent early.
    """
    chosen = [
        letter
        for letter in letters
        if letter["original_value"] is not None
        # These would only come back: the gateway could not read the command, or the
        # broker refused what the message became (and only an excerpt of it is kept).
        and letter["code"] not in {"undecodable-command", "unproducible"}
        and (
            letter["source_topic"] == events_topic
            or letter["source_topic"].startswith(commands_prefix)
        )
    ]

    def order(letter: Mapping[str, Any]) -> tuple[int, float, int, int]:
        if letter["source_topic"] == events_topic:
            return (1, 0.0, letter["source_partition"], letter["source_offset"])
        first = letter.get("first_failed_at") or letter["failed_at"]
        return (0, first.timestamp(), 0, letter["source_offset"])

    return sorted(chosen, key=order)
