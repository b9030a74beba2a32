"""RecordProducer on the real broker: a record refused for its own fault does not stop the
rest of the batch, and DeliveryFailed says which one and why (issue 13: what a caller
needs to dead-letter it instead of retrying the whole batch forever)."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.kafka import DeliveryFailed, ProducerPool, RecordProducer, ensure_topics
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


def test_records_sent_together_keep_their_order_and_land_where_produce_puts_their_key(
    broker: BrokerInfo,
) -> None:
    """A tenant's records sent by send_all land on the partition librdkafka's produce()
    gives their key alone (the worker finds a tenant's results on its events' partition),
    in order, with another topic's record among them."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    results, letters = (f"producer-{uuid.uuid4().hex[:8]}-{n}" for n in ("r", "d"))
    ensure_topics(client, {results: 6, letters: 2})
    keys = [f"tenant-{i}".encode() for i in range(12)]
    where: dict[bytes, int] = {}
    alone = Producer({**client, "partitioner": "murmur2_random"})
    for key in keys:
        alone.produce(
            results,
            b"probe",
            key,
            on_delivery=lambda _e, m, k=key: where.__setitem__(k, m.partition()),
        )
    assert alone.flush(30) == 0
    records = [(results, key, f"{key.decode()} #{n}".encode()) for n in range(3) for key in keys]
    records.insert(5, (letters, b"tenant-0", b"a dead letter"))
    producer = RecordProducer(client)
    try:
        assert producer.send_all(records) == len(records)
    finally:
        producer.close()

    consumer = Consumer({**client, "group.id": f"g-{results}", "enable.auto.commit": False})
    landed: dict[bytes, list[tuple[int, bytes]]] = {}
    try:
        consumer.assign([TopicPartition(results, p, 0) for p in range(6)])

        def every_one() -> bool:
            for message in consumer.consume(100, 1.0):
                if message.error() is None and message.value() != b"probe":
                    landed.setdefault(message.key(), []).append(
                        (message.partition(), message.value())
                    )
            return sum(len(v) for v in landed.values()) == 3 * len(keys)

        until(every_one, timeout=30, what="every result")
    finally:
        consumer.close()
    for key in keys:
        assert [partition for partition, _ in landed[key]] == [where[key]] * 3
        assert [value for _, value in landed[key]] == [
            f"{key.decode()} #{n}".encode() for n in range(3)
        ]


def test_records_that_find_the_queue_full_are_sent_after_the_others_in_order(
    broker: BrokerInfo,
) -> None:
    """A batch larger than librdkafka's queue: the records refused for room are handed
    over again once reports make room, and every record lands once, in order."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    topic = f"producer-{uuid.uuid4().hex[:8]}"
    ensure_topics(client, {topic: 1})
    producer = RecordProducer(client, **{"queue.buffering.max.messages": 4})
    records = [(topic, b"k", f"record {n}".encode()) for n in range(30)]
    try:
        assert producer.send_all(records) == 30
    finally:
        producer.close()

    assert _values_on(client, topic, 30) == [f"record {n}".encode() for n in range(30)]


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

    assert _values_on(client, topic, 3) == [b"record 0", b"record 1", b"record 2"]


def test_a_send_waits_for_its_own_records_not_for_another_threads(broker: BrokerInfo) -> None:
    """The gateway's request threads share one producer. One thread's records wait (their
    topic does not exist yet); another thread's send to a topic that exists returns as soon
    as its own are acknowledged, while the first is still waiting (with ``flush()``, which
    waits until the whole producer is empty, it waited for the first one's records too,
    and failed with them when they were purged)."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    waiting, ready = (f"producer-{uuid.uuid4().hex[:8]}" for _ in range(2))
    ensure_topics(client, {ready: 1})
    producer = RecordProducer(client, **{"allow.auto.create.topics": "false"})
    sent: list[int] = []
    first = threading.Thread(
        target=lambda: sent.append(producer.send_all([(waiting, b"k", b"w")], timeout=20.0))
    )
    try:
        first.start()
        until(lambda: len(producer._producer) > 0, timeout=10, what="the first send queued")
        assert producer.send_all([(ready, b"k", f"r{n}".encode()) for n in range(5)]) == 5
        assert first.is_alive()  # still waiting for its topic
        assert not sent
        ensure_topics(client, {waiting: 1})
        first.join(30)
        assert sent == [1]
    finally:
        first.join(30)
        producer.close()


def test_a_report_whose_callback_raises_does_not_stop_the_reports(broker: BrokerInfo) -> None:
    """Every send's acknowledgements reach it through the producer's one reports thread; a
    callback that raises there must not end that thread (every later send would then wait
    out its timeout and fail)."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    topic = f"producer-{uuid.uuid4().hex[:8]}"
    ensure_topics(client, {topic: 1})
    producer = RecordProducer(client)
    raised: list[str] = []

    def broken(_error: object, _message: object) -> None:
        raised.append("raised")
        raise RuntimeError("a broken callback")

    try:
        producer._producer.produce(topic, value=b"x", on_delivery=broken)
        until(lambda: raised == ["raised"], timeout=30, what="the broken callback's report")
        assert producer.send_all([(topic, b"k", b"after")], timeout=10.0) == 1
    finally:
        producer.close()


def test_a_producer_pool_keeps_each_topics_order_and_spreads_topics(broker: BrokerInfo) -> None:
    """ProducerPool: every topic always goes through the same member (so each partition keeps
    one idempotent producer and its order), the topics are spread over the members, and every
    record's future resolves once the broker has it."""
    client = {"bootstrap.servers": broker.bootstrap_servers}
    run = uuid.uuid4().hex[:8]
    topics = [f"pool-{run}-{n}" for n in range(12)]
    ensure_topics(client, dict.fromkeys(topics, 1))
    settled: list[tuple[str, bool, int]] = []

    async def send_all() -> list[int]:
        pool = ProducerPool(
            client,
            asyncio.get_running_loop(),
            size=3,
            settled=lambda topic, ok, count: settled.append((topic, ok, count)),
        )
        try:
            members = [pool.member_for(topic) for topic in topics]
            futures = [
                pool.send(topic, b"k", f"{n}".encode(), 0) for n in range(20) for topic in topics
            ]
            await asyncio.gather(*futures)
            assert members == [pool.member_for(topic) for topic in topics]  # stable
            return members
        finally:
            await asyncio.to_thread(pool.close)

    members = asyncio.run(send_all())
    assert len(set(members)) > 1  # 12 topics over 3 producers: not all on one
    assert sum(count for _, ok, count in settled if ok) == 20 * len(topics)
    assert not [entry for entry in settled if not entry[1]]

    consumer = Consumer({**client, "group.id": f"g-{run}", "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0) for topic in topics])
        seen: dict[str, list[int]] = {topic: [] for topic in topics}

        def all_read() -> bool:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                seen[message.topic()].append(int(message.value()))
            return all(len(values) == 20 for values in seen.values())

        until(all_read, timeout=60, what="every topic's 20 records")
    finally:
        consumer.close()
    assert seen == {topic: list(range(20)) for topic in topics}


def test_a_producer_pool_of_none_is_refused() -> None:
    loop = asyncio.new_event_loop()
    try:
        with pytest.raises(ValueError, match="at least one producer"):
            ProducerPool({"bootstrap.servers": "127.0.0.1:9"}, loop, size=0)
    finally:
        loop.close()


def _values_on(client: dict[str, str], topic: str, count: int) -> list[bytes]:
    """The values on the topic's partition 0, read until at least ``count`` are in and a
    poll then finds nothing more (so a record landing twice is seen)."""
    consumer = Consumer({**client, "group.id": f"g-{topic}", "enable.auto.commit": False})
    seen: list[bytes] = []
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])

        def polled() -> bool:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                seen.append(message.value())
            return message is None and len(seen) >= count

        until(polled, timeout=30, what=f"{count} records, and nothing after them")
    finally:
        consumer.close()
    return seen
