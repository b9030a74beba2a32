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

__all__ = ["DeadLetterFilter", "read_dead_letters", "replayable"]


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
    consumer = Consumer(
        {
            **client_config,
            "group.id": "qbsync-dlq-reader",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
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
                decode(message.value() or b"") for message in batch if message.error() is None
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
