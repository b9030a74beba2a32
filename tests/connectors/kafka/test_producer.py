"""RecordProducer on the real broker: a record refused for its own fault does not stop the
rest of the batch, and DeliveryFailed says which one and why (issue 13: what a caller
needs to dead-letter it instead of retrying the whole batch forever)."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import DeliveryFailed, RecordProducer, ensure_topics
from qbsync.brokers import BrokerInfo
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def test_a_too_large_record_is_named_and_the_others_are_delivered(broker: BrokerInfo) -> None:
    client = {"bootstrap.servers": broker.bootstrap_servers}
    topic = f"producer-{uuid.uuid4().hex[:8]}"
    ensure_topics(client, {topic: 1})
    producer = RecordProducer(client)
    records = [(topic, b"k", b"first"), (topic, b"k", b"x" * 2_000_000), (topic, b"k", b"third")]
    try:
        with pytest.raises(DeliveryFailed) as failed:
            producer.send_all(records)
    finally:
        producer.close()
    assert failed.value.failures == [(1, "MSG_SIZE_TOO_LARGE")]
    assert failed.value.records_at_fault
    assert failed.value.unacknowledged == 0

    consumer = Consumer({**client, "group.id": f"g-{topic}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[bytes] = []

        def both() -> bool:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen.append(message.value())
            return len(seen) == 2

        until(both, timeout=30, what="the two good records")
    finally:
        consumer.close()
    assert seen == [b"first", b"third"]
