"""How far behind each company file is: commands on its topic past the gateway's committed
offset, and when the oldest of them was written. Read in bulk (one offsets request for every
file, one latest-offsets request, one consumer reading the first waiting record of each
file with a backlog), never one request per file.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec

__all__ = ["BacklogReader", "FileBacklog"]


@dataclass(frozen=True)
class FileBacklog:
    """One company file's queue: commands not yet delivered, and the oldest one's time."""

    topic: str
    waiting: int
    oldest_at: datetime | None


class BacklogReader:
    def __init__(
        self, client_config: Mapping[str, str], *, group_id: str, timeout_s: float = 10.0
    ) -> None:
        self._config: dict[str, str | int | float | bool] = dict(client_config)
        self._group = group_id
        self._timeout = timeout_s
        self._admin_client: AdminClient | None = None

    @property
    def _admin(self) -> AdminClient:
        # Made at the first scrape: a gateway nobody scrapes opens no extra connection.
        if self._admin_client is None:
            self._admin_client = AdminClient(self._config)
        return self._admin_client

    def read(self, topics: Sequence[str]) -> list[FileBacklog]:
        """The backlog of each topic (partition 0); a topic not created yet (a file nothing
        was sent to) has none. Raises KafkaException when the broker does not answer."""
        if not topics:
            return []
        existing = self._existing(topics)
        partitions = [TopicPartition(topic, 0) for topic in topics if topic in existing]
        waiting = dict.fromkeys(topics, 0)
        oldest: dict[str, datetime] = {}
        if partitions:
            committed = self._committed(partitions)
            ends = self._ends(partitions)
            starts = {topic: max(committed.get(topic, -1), low) for topic, (low, _) in ends.items()}
            waiting |= {topic: max(0, ends[topic][1] - starts[topic]) for topic in ends}
            oldest = self._first_timestamps({t: starts[t] for t in ends if waiting[t] > 0})
        return [
            FileBacklog(topic=topic, waiting=count, oldest_at=oldest.get(topic))
            for topic, count in sorted(waiting.items())
        ]

    def _existing(self, topics: Sequence[str]) -> set[str]:
        metadata = self._admin.list_topics(timeout=self._timeout)
        return {topic for topic in topics if topic in metadata.topics}

    def _committed(self, partitions: list[TopicPartition]) -> dict[str, int]:
        request = [ConsumerGroupTopicPartitions(self._group, partitions)]
        (future,) = self._admin.list_consumer_group_offsets(
            request, request_timeout=self._timeout
        ).values()
        answer = future.result()
        return {tp.topic: tp.offset for tp in answer.topic_partitions or [] if tp.error is None}

    def _ends(self, partitions: list[TopicPartition]) -> dict[str, tuple[int, int]]:
        """(earliest, latest) offset of each partition: retention may have removed the
        start of a queue nobody read."""
        found: dict[str, list[int]] = {tp.topic: [0, 0] for tp in partitions}
        for spec, index in ((OffsetSpec.earliest(), 0), (OffsetSpec.latest(), 1)):  # type: ignore[no-untyped-call]
            futures = self._admin.list_offsets(
                dict.fromkeys(partitions, spec), request_timeout=self._timeout
            )
            for tp, future in futures.items():
                found[tp.topic][index] = future.result().offset
        return {topic: (low, high) for topic, (low, high) in found.items()}

    def _first_timestamps(self, starts: Mapping[str, int]) -> dict[str, datetime]:
        """The timestamp of the record at each start offset, read by one consumer."""
        if not starts:
            return {}
        consumer = Consumer(
            {
                **self._config,
                "group.id": self._group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "allow.auto.create.topics": False,
            }
        )
        found: dict[str, datetime] = {}
        try:
            consumer.assign([TopicPartition(topic, 0, offset) for topic, offset in starts.items()])
            deadline = time.monotonic() + self._timeout
            while len(found) < len(starts) and time.monotonic() < deadline:
                for message in consumer.consume(num_messages=500, timeout=0.5):
                    topic = message.topic()
                    if message.error() is not None or topic is None or topic in found:
                        continue
                    _, millis = message.timestamp()
                    found[topic] = datetime.fromtimestamp(millis / 1000, UTC)
                    consumer.incremental_unassign([TopicPartition(topic, 0)])
        except KafkaException:
            return found
        finally:
            consumer.close()
        return found
