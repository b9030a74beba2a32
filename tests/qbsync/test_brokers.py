"""The test infrastructure itself: ``qbsync.brokers`` starts a broker that really
round-trips records, and ``tests.support.postgres`` gives a database that answers.

``broker`` is the session fixture of ``tests/conftest.py``: the broker ``running_broker()``
selects here, started once for the whole run.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid

import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from qbsync.brokers import (
    BROKER_KINDS,
    BrokerInfo,
    BrokerUnavailable,
    kafka_version_from_pom,
    running_broker,
)
from tests.support.postgres import postgres_url

pytestmark = pytest.mark.integration

_DEADLINE_S = 60.0


def _produce_one(bootstrap: str, topic: str, value: bytes) -> Message:
    """Produce one record and return its delivery report (partition and offset)."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        topic, key=b"key", value=value, on_delivery=lambda err, msg: reports.append((err, msg))
    )
    assert producer.flush(_DEADLINE_S) == 0, "the record was not delivered"
    [(error, message)] = reports
    assert error is None, error
    return message


def _consume_one(consumer: Consumer) -> Message:
    """The first record ``consumer`` receives within the deadline."""
    deadline = time.monotonic() + _DEADLINE_S
    while time.monotonic() < deadline:
        message = consumer.poll(0.5)
        if message is None:
            continue
        error = message.error()
        assert error is None, error
        return message
    pytest.fail(f"no record consumed within {_DEADLINE_S:.0f} s")


def _consumer(bootstrap: str) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"qbsync-test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            # The broker minimum; Tansu delays a new group's first join by half of it.
            "session.timeout.ms": 6000,
        }
    )


def test_selected_broker_round_trips_a_record_through_a_consumer_group(broker: BrokerInfo) -> None:
    topic = f"qbsync-test-{uuid.uuid4().hex}"
    value = f"hello {uuid.uuid4()}".encode()
    _produce_one(broker.bootstrap_servers, topic, value)

    consumer = _consumer(broker.bootstrap_servers)
    try:
        consumer.subscribe([topic])
        message = _consume_one(consumer)
    finally:
        consumer.close()

    assert message.topic() == topic
    assert message.key() == b"key"
    assert message.value() == value


def test_selected_broker_is_the_expected_kind(broker: BrokerInfo) -> None:
    forced = os.environ.get("QBSYNC_TEST_BROKER", "").strip().lower()
    if forced:
        assert broker.kind == forced
    elif os.environ.get("QBSYNC_KAFKA_BOOTSTRAP_SERVERS", "").strip():
        assert broker.kind == "external"
    elif broker.kind != "testcontainers" and shutil.which("java") and shutil.which("mvn"):
        assert broker.kind == "kafka"  # real Kafka whenever it can run here, never Tansu
    assert broker.kind in BROKER_KINDS
    if broker.kind == "kafka":
        assert broker.version.startswith("3.9")
        assert broker.version == kafka_version_from_pom()
    assert broker.bootstrap_servers in broker.describe()


def test_kafka_version_comes_from_the_pom() -> None:
    assert kafka_version_from_pom() == "3.9.1"


def test_external_kind_uses_the_given_broker_without_starting_one(broker: BrokerInfo) -> None:
    with running_broker("external", bootstrap_servers=broker.bootstrap_servers) as info:
        assert info == BrokerInfo("external", "unknown", broker.bootstrap_servers)
        assert broker.bootstrap_servers in info.describe()


def test_tansu_round_trips_a_record_and_is_stopped_on_exit() -> None:
    with running_broker("tansu") as info:
        assert info.kind == "tansu"
        assert info.version not in ("", "unknown")
        topic = f"qbsync-test-{uuid.uuid4().hex}"
        delivered = _produce_one(info.bootstrap_servers, topic, b"tansu")
        consumer = _consumer(info.bootstrap_servers)
        try:
            partition, offset = delivered.partition(), delivered.offset()
            assert partition is not None
            assert offset is not None
            consumer.assign([TopicPartition(topic, partition, offset)])
            message = _consume_one(consumer)
        finally:
            consumer.close()
        assert message.value() == b"tansu"

    host, port = info.bootstrap_servers.rsplit(":", 1)
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), 2):
        pass


def test_forcing_an_unknown_kind_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBSYNC_TEST_BROKER", "nonsense")
    with (
        pytest.raises(BrokerUnavailable, match=r"QBSYNC_TEST_BROKER=nonsense.*kafka"),
        running_broker(),
    ):
        pytest.fail("no broker should start")


def test_forcing_external_without_an_address_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("QBSYNC_TEST_BROKER", "external")
    monkeypatch.delenv("QBSYNC_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    with (
        pytest.raises(
            BrokerUnavailable,
            match=r"QBSYNC_TEST_BROKER=external but .*QBSYNC_KAFKA_BOOTSTRAP_SERVERS",
        ),
        running_broker(),
    ):
        pytest.fail("no broker should start")


def test_postgres_url_points_at_a_database_that_answers() -> None:
    with postgres_url() as url:
        if url is None:
            reason = "no PostgreSQL: set QBSYNC_TEST_POSTGRES_URL or install the server"
            if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
                pytest.fail(f"{reason} (required under CI)")
            pytest.skip(reason)
        assert url.startswith("postgresql+psycopg://")
        engine = sa.create_engine(url)
        try:
            with engine.connect() as connection:
                assert connection.execute(sa.text("select 1")).scalar_one() == 1
        finally:
            engine.dispose()
