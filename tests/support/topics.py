"""How many records a topic holds, exactly and without waiting."""

from __future__ import annotations

from confluent_kafka import Consumer, TopicPartition

from core.settings import Settings

__all__ = ["topic_size"]


def topic_size(settings: Settings, topic: str) -> int:
    """Records on every partition of ``topic``. Exact when the writers wait for their
    acknowledgements (the gateway's imports and the QBO reader do before any watermark
    moves), so a test can say "nothing was published" without waiting for it."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": "t-topic-size"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        total = 0
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()
