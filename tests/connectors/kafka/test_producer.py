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


def test_records_not_acknowledged_in_time_are_purged_not_delivered_later(
    broker: BrokerInfo,
) -> None:
    """A flush that times out raises DeliveryFailed and takes the records back: when the
    caller sends them again, each lands once (left queued, the next flush delivered them too)."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    topic = f"producer-{uuid.uuid4().hex[:8]}"
    # The topic does not exist yet and the producer may not create it: the records wait.
    producer = RecordProducer(client, **{"allow.auto.create.topics": "false"})
    records = [(topic, b"k", f"record {n}".encode()) for n in range(3)]
    try:
        with pytest.raises(DeliveryFailed) as failed:
            producer.send_all(records, timeout=1.0)
        assert failed.value.unacknowledged == 3
        ensure_topics(client, {topic: 1})
        # The caller sends them again, now that the topic exists: delivered once each.
        assert producer.send_all(records) == 3
    finally:
        producer.close()

    consumer = Consumer({**client, "group.id": f"g-{topic}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        seen: list[bytes] = []

        def polled() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(message.value())
            return message is None and len(seen) >= 3

        until(polled, timeout=30, what="the records, and nothing after them")
    finally:
        consumer.close()
    assert seen == [b"record 0", b"record 1", b"record 2"]
