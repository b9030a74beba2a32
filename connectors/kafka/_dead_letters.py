"""Read the dead-letter topic for support, and replay what can be replayed.

Dead letters are few and precious: support lists them with filters, looks at one, and, once
the cause is fixed, replays them. Only dead letters of *events* are replayed here (the
original bytes go back on the events topic, in their original order); a QuickBooks refusal
is replayed by re-publishing the event from the source app once the record is fixed.
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


def replayable(letters: Iterable[Mapping[str, Any]], events_topic: str) -> list[Mapping[str, Any]]:
    """The dead letters of events, in the order the events were first published."""
    chosen = [
        letter
        for letter in letters
        if letter["source_topic"] == events_topic and letter["original_value"] is not None
    ]
    return sorted(chosen, key=lambda letter: (letter["source_partition"], letter["source_offset"]))
