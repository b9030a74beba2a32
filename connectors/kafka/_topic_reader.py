"""Reading a whole topic from its start, every partition, for the command line: to its end,
or on (``follow``) as new messages come. No group membership, nothing committed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from core.errors import ConfigurationError

__all__ = ["TopicMessage", "read_topic"]


@dataclass(frozen=True)
class TopicMessage:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None  # None: a tombstone


def read_topic(
    client_config: Mapping[str, str],
    topic: str,
    *,
    follow: Callable[[], bool] = lambda: False,
    idle_s: float = 1.0,
    missing_ok: bool = False,
) -> Iterator[TopicMessage]:
    """Every message of ``topic``, partition by partition in offset order; once each
    partition's end (as it was at the start) is reached and a poll brings nothing, stop
    unless ``follow()`` says to go on. A missing topic is a :class:`ConfigurationError`, or
    nothing at all with ``missing_ok``."""
    if not client_config.get("bootstrap.servers"):
        raise ConfigurationError(
            "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: set it to the broker qbsync uses"
        )
    consumer = Consumer(
        {**client_config, "group.id": "qbsync-cli-reader", "enable.auto.commit": False}
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise ConfigurationError(f"the broker did not answer: {exc}") from None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None or not found.partitions:
            if missing_ok:
                return
            raise ConfigurationError(f"no topic {topic!r}: is QBSYNC_TOPIC_PREFIX right?")
        ends: dict[int, int] = {}
        for partition in found.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high > low:
                ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions])
        while True:
            batch = consumer.consume(500, timeout=idle_s)
            for message in batch:
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                if offset + 1 >= ends.get(partition, 0):
                    ends.pop(partition, None)
                yield TopicMessage(partition, offset, message.key(), message.value())
            if not ends and not batch and not follow():
                return
    finally:
        consumer.close()
