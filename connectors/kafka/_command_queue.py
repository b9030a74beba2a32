"""Read a company file's command topic from the committed offset, commit past settled ones.

The gateway keeps no consumer group membership: each file topic has one partition, read by
explicit assignment at the group's committed offset. So any gateway replica can serve any
Web Connector call, and the only state is the committed offset in Kafka.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

__all__ = ["CommandQueue", "QueuedCommand"]


@dataclass(frozen=True)
class QueuedCommand:
    offset: int
    key: bytes | None
    value: bytes


class CommandQueue:
    def __init__(
        self,
        client_config: Mapping[str, str],
        *,
        group_id: str,
        topic_for: Callable[[str], str],
        fetch_timeout: float = 5.0,
    ) -> None:
        self._consumer = Consumer(
            {
                **client_config,
                "group.id": group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "allow.auto.create.topics": False,
            }
        )
        self._topic_for = topic_for
        self._fetch_timeout = fetch_timeout
        # One librdkafka consumer serves every request thread; assign/consume must not
        # interleave between threads.
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._consumer.close()

    def _bounds(self, topic: str) -> tuple[int, int] | None:
        """``(committed, high watermark)`` of the file's single partition, or None if absent."""
        partition = TopicPartition(topic, 0)
        try:
            low, high = self._consumer.get_watermark_offsets(partition, timeout=10, cached=False)
            (committed,) = self._consumer.committed([partition], timeout=10)
        except KafkaException as exc:
            if exc.args[0].code() in {
                KafkaError.UNKNOWN_TOPIC_OR_PART,
                KafkaError._UNKNOWN_PARTITION,
            }:
                return None
            raise
        start = committed.offset if committed.offset >= 0 else low
        return max(start, low), high

    def pending(self, profile_id: str) -> int:
        """How many commands wait for this file (0 when its topic does not exist yet)."""
        with self._lock:
            bounds = self._bounds(self._topic_for(profile_id))
        return 0 if bounds is None else max(0, bounds[1] - bounds[0])

    def fetch(self, profile_id: str, max_count: int, max_bytes: int) -> list[QueuedCommand]:
        """The next commands after the committed offset, at most ``max_count`` and about
        ``max_bytes`` (always at least one, so an oversized command cannot block the file)."""
        topic = self._topic_for(profile_id)
        with self._lock:
            bounds = self._bounds(topic)
            if bounds is None or bounds[0] >= bounds[1]:
                return []
            start, high = bounds
            want = min(max_count, high - start)
            self._consumer.assign(
                [TopicPartition(topic, 0, start if start >= 0 else OFFSET_BEGINNING)]
            )
            try:
                return self._read(start, want, max_bytes)
            finally:
                self._consumer.unassign()

    def _read(self, start: int, want: int, max_bytes: int) -> list[QueuedCommand]:
        out: list[QueuedCommand] = []
        size = 0
        deadline = time.monotonic() + self._fetch_timeout
        while len(out) < want and time.monotonic() < deadline:
            for message in self._consumer.consume(want - len(out), timeout=0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise KafkaException(error)
                offset = message.offset()
                if offset is None or offset < start + len(out):
                    continue
                value = message.value() or b""
                if out and size + len(value) > max_bytes:
                    return out
                size += len(value)
                out.append(QueuedCommand(offset=offset, key=message.key(), value=value))
        return out

    def commit(self, profile_id: str, next_offset: int) -> None:
        """Mark everything before ``next_offset`` as settled."""
        with self._lock:
            self._consumer.commit(
                offsets=[TopicPartition(self._topic_for(profile_id), 0, next_offset)],
                asynchronous=False,
            )
