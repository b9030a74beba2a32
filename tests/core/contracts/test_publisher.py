"""Publishing against a real broker: produce, consume back, compare."""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import RecordProducer, ensure_topics
from core.contracts import (
    AvroCodec,
    Delivery,
    EventPublisher,
    InvalidEvent,
    PreparedEvent,
    PublishFailed,
    customer_event,
    new_event,
    parse_json,
    tenant_partition,
)
from core.contracts._schemas import default_schema_dir
from core.settings import Settings
from qbsync.brokers import BrokerInfo

pytestmark = pytest.mark.integration

EXAMPLES = default_schema_dir() / "examples"


def example(entity: str) -> dict[str, Any]:
    loaded: dict[str, Any] = parse_json((EXAMPLES / f"{entity}.upserted.json").read_text())
    return loaded


@pytest.fixture
def live(broker: BrokerInfo, settings: Settings) -> Settings:
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    ensure_topics(settings.kafka.client_config(), {settings.topics.events: 3})
    return settings


@pytest.fixture
def publisher(live: Settings) -> Iterator[EventPublisher]:
    with EventPublisher(live) as made:
        yield made


def consume(settings: Settings, count: int, timeout: float = 30.0) -> list[Any]:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"contracts-test-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    try:
        metadata = consumer.list_topics(settings.topics.events, timeout=10)
        partitions = metadata.topics[settings.topics.events].partitions
        consumer.assign([TopicPartition(settings.topics.events, p, 0) for p in partitions])
        messages: list[Any] = []
        import time

        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                messages.append(message)
        extra = consumer.poll(1.0)
        assert extra is None or extra.error() is not None, "more messages than were published"
        return messages
    finally:
        consumer.close()


def test_published_events_come_back_keyed_by_tenant_in_order(
    live: Settings, publisher: EventPublisher
) -> None:
    events = []
    for entity in ("customer", "job", "invoice", "payment"):
        events.append((f"{entity}.upserted", example(entity)))
    other = example("vendor")
    other["envelope"]["tenant_id"] = "other-tenant"
    events.insert(2, ("vendor.upserted", other))
    deliveries = [publisher.publish(kind, event) for kind, event in events]
    assert all(isinstance(d, Delivery) for d in deliveries)
    assert {d.topic for d in deliveries} == {live.topics.events}

    messages = consume(live, len(events))
    codec = AvroCodec()
    by_id = {}
    for message in messages:
        name, record = codec.decode(message.value())
        assert message.key() == record["envelope"]["tenant_id"].encode()
        by_id[str(record["envelope"]["event_id"])] = (message, name, record)
    assert set(by_id) == {d.event_id for d in deliveries}
    for delivery, (kind, _event) in zip(deliveries, events, strict=True):
        message, name, record = by_id[delivery.event_id]
        assert (message.partition(), message.offset()) == (delivery.partition, delivery.offset)
        assert (
            name
            == f"com.qbsync.events.{''.join(p.title() for p in kind.split('.')[0].split('_'))}Event"
        )
        assert record["envelope"]["kind"] == "UPSERTED"
    acme = [d for d, (_k, e) in zip(deliveries, events, strict=True) if e is not other]
    assert len({d.partition for d in acme}) == 1, "one tenant, one partition"
    assert [d.offset for d in acme] == sorted(d.offset for d in acme), "publication order kept"
    _, _, invoice = by_id[deliveries[3].event_id]
    assert str(invoice["invoice"]["lines"][2]["amount"]) == "300.00"


def partitions_by_key(settings: Settings, topic: str, count: int) -> dict[str, int]:
    """Each record's key (decoded) and the partition it was read from, for ``count`` records."""
    consumer = Consumer(
        {**settings.kafka.client_config(), "group.id": f"keys-{uuid.uuid4().hex[:8]}"}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        found: dict[str, int] = {}
        deadline = time.monotonic() + 30
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found[message.key().decode()] = message.partition()
        return found
    finally:
        consumer.close()


def test_a_tenants_events_and_results_share_a_partition_index(
    broker: BrokerInfo, settings: Settings
) -> None:
    """The publisher partitions like the producers of results (murmur2), so the worker that
    parked a tenant's events reads the results releasing them (docs/architecture.md)."""
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    config = settings.kafka.client_config()
    topics = settings.topics
    ensure_topics(config, {topics.events: 6, topics.results: 6})
    tenants = [f"tenant-{number}" for number in range(24)]
    with EventPublisher(settings) as publisher:
        events = {
            tenant: publisher.publish(
                "customer.upserted", customer_event(tenant, "c-1", {"last_name": "Lovelace"})
            ).partition
            for tenant in tenants
        }
    producer = RecordProducer(config)  # what the gateway and the QBO sender answer with
    try:
        producer.send_all([(topics.results, tenant.encode(), b"result") for tenant in tenants])
    finally:
        producer.close()
    results = partitions_by_key(settings, topics.results, len(tenants))
    assert events == results == {tenant: tenant_partition(tenant, 6) for tenant in tenants}
    assert len(set(events.values())) == 6  # spread over every partition, not all on one


def test_an_invalid_event_sends_nothing(live: Settings, publisher: EventPublisher) -> None:
    bad = example("invoice")
    bad["invoice"]["lines"][2]["amount"] = "abc"
    with pytest.raises(InvalidEvent, match=r"invoice.lines\[2\].amount: expected a decimal"):
        publisher.publish("invoice.upserted", bad)
    publisher.publish("customer.upserted", example("customer"))
    [message] = consume(live, 1)
    assert AvroCodec().decode(message.value())[0] == "com.qbsync.events.CustomerEvent"


def test_send_reports_each_delivery(live: Settings, publisher: EventPublisher) -> None:
    reports: list[tuple[str, Delivery | None, PublishFailed | None]] = []
    for i in range(5):
        event = new_event(
            "customer.upserted",
            tenant_id="acme-hvac",
            entity_id=f"cus-{i}",
            source_system="tests",
            payload={"company_name": f"Customer {i}"},
        )
        prepared = publisher.prepare("customer.upserted", event)
        publisher.send(prepared, lambda p, done, failed: reports.append((p.event_id, done, failed)))
    publisher.flush()
    assert len(reports) == 5
    assert all(done is not None and failed is None for _, done, failed in reports)
    offsets = [done.offset for _, done, _ in reports if done is not None]
    assert offsets == sorted(offsets)
    assert len(consume(live, 5)) == 5


def test_registry_format_through_the_broker(live: Settings, mock_registry: Any) -> None:
    codec = AvroCodec(registry=mock_registry)
    with EventPublisher(live, codec=codec) as publisher:
        delivery = publisher.publish("bill.upserted", example("bill"))
    [message] = consume(live, 1)
    assert message.value()[:1] == b"\x00"
    name, record = AvroCodec(registry=mock_registry).decode(message.value())
    assert name == "com.qbsync.events.BillEvent"
    assert str(record["envelope"]["event_id"]) == delivery.event_id


def test_a_failed_delivery_is_reported(broker: BrokerInfo, settings: Settings) -> None:
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    settings.topics.prefix = "bad topic name!"  # the broker refuses the topic
    with (
        EventPublisher(settings, overrides={"message.timeout.ms": 5000}) as publisher,
        pytest.raises(PublishFailed, match="was not stored"),
    ):
        publisher.publish("customer.upserted", example("customer"), timeout=20)


def test_no_broker_configured_is_a_clear_error(settings: Settings) -> None:
    settings.kafka.bootstrap_servers = ""
    with pytest.raises(PublishFailed, match="QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty"):
        EventPublisher(settings)


def test_prepared_events_say_what_would_be_sent() -> None:
    from core.contracts import prepare_event

    prepared = prepare_event(AvroCodec(), "invoice.upserted", copy.deepcopy(example("invoice")))
    assert isinstance(prepared, PreparedEvent)
    assert prepared.key == b"acme-hvac"
    assert prepared.value[:2] == b"\xc3\x01"
    assert json.dumps(str(prepared.event_id))
    assert Path(EXAMPLES).is_dir()
