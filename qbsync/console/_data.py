"""What the console reads from Kafka: a company file's backlog and its oldest command, and
the parked events (the worker's parking table, read back from its changelog)."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.kafka import CommandQueue
from core.settings import Settings
from streams.parking import Parked

__all__ = ["Backlog", "KafkaReader"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backlog:
    count: int | None  # None: the broker did not answer
    oldest_at: datetime | None


class KafkaReader:
    """Reads for the pages; every failure is an unknown (shown as such), never a crash."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._queue: CommandQueue | None = None
        self._lock = threading.Lock()  # pages are served by several threads

    def _commands(self) -> CommandQueue:
        with self._lock:
            if self._queue is None:
                # The gateway's group: its committed offset is where the backlog starts.
                self._queue = CommandQueue(
                    self._settings.kafka.client_config(),
                    group_id="qbsync-gateway",
                    topic_for=self._settings.topics.commands,
                    exact_watermarks=self._settings.kafka.exact_watermarks,
                    consumers=1,
                )
            return self._queue

    def close(self) -> None:
        if self._queue is not None:
            self._queue.close()

    def backlog(self, profile_id: str) -> Backlog:
        """Commands waiting for the file, and when the oldest of them was made."""
        if not self._settings.kafka.bootstrap_servers:
            return Backlog(None, None)
        from core.contracts import DecodeError, codec_from_settings

        try:
            queue = self._commands()
            count = queue.pending(profile_id)
            if not count:
                return Backlog(0, None)
            first = queue.fetch(profile_id, 1, 1024 * 1024)
        except Exception as exc:  # the page shows "unknown" rather than failing
            log.warning("backlog unknown", extra={"profile_id": profile_id, "error": str(exc)})
            return Backlog(None, None)
        oldest = None
        if first:
            try:
                _, command = codec_from_settings(self._settings).decode(
                    first[0].value, expected="com.qbsync.pipeline.Command"
                )
                created = command.get("created_at")
                if isinstance(created, datetime):
                    oldest = created
                elif isinstance(created, int) and created > 0:
                    oldest = datetime.fromtimestamp(created / 1000, UTC)
            except DecodeError:
                oldest = None
        return Backlog(count, oldest)

    def parked(self, *, idle_s: float = 1.0, timeout_s: float = 20.0) -> list[Parked]:
        """Every entry of the worker's parking table, read from its changelog (the last
        value of each key; a tombstone means released)."""
        from confluent_kafka import Consumer, KafkaException, TopicPartition

        if not self._settings.kafka.bootstrap_servers:
            return []
        topic = f"{self._settings.worker.app_id}-parked-changelog"
        consumer = Consumer(
            {
                **self._settings.kafka.client_config(),
                "group.id": f"qbsync-console-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        latest: dict[bytes, bytes | None] = {}
        try:
            metadata = consumer.list_topics(topic, timeout=10)
            found = metadata.topics.get(topic)
            if found is None or found.error is not None:
                return []
            consumer.assign([TopicPartition(topic, p, 0) for p in found.partitions])
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                batch = consumer.consume(500, timeout=idle_s)
                if not batch:
                    break
                for message in batch:
                    key = message.key()
                    if message.error() is None and key is not None:
                        latest[key] = message.value()
        except KafkaException as exc:
            log.warning("parked entries unknown", extra={"error": str(exc)})
            return []
        finally:
            consumer.close()
        entries = []
        for raw in latest.values():
            if raw:
                try:
                    entries.append(Parked.loads(raw))
                except (ValueError, TypeError, KeyError):
                    continue  # not an entry this version understands; the worker decides
        return sorted(entries, key=lambda e: e.parked_at)
