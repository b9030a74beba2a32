"""The walking skeleton, end to end, with real processes: a customer event on Kafka -> the
worker -> the file's command topic -> the gateway over HTTP -> a sandbox Web Connector and
company file -> a result -> the mapping in the store. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import RecordProducer
from connectors.sandbox import SandboxWebConnector
from connectors.store import Mapping, Store
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import Services
from tests.support.pipeline import running_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@dataclass
class Pipeline:
    settings: Settings
    store: Store
    services: Services
    connector: SandboxWebConnector
    producer: RecordProducer
    codec: AvroCodec

    def publish(self, tenant_id: str, value: bytes) -> None:
        self.producer.send_all([(self.settings.topics.events, tenant_id.encode(), value)])

    def publish_customer(self, tenant_id: str, entity_id: str, customer: dict[str, Any]) -> None:
        event = customer_event(tenant_id, entity_id, customer)
        self.publish(tenant_id, self.codec.encode("com.qbsync.events.CustomerEvent", event))

    def sync_until(self, check: Any, what: str) -> Any:
        """Let the Web Connector poll (as QBWC does on its schedule) until ``check()``."""

        def poll() -> None:
            self.services.check_alive()
            self.connector.run_once()

        return until(check, step=poll, timeout=90, what=what)


@pytest.fixture
def pipeline(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> Iterator[Pipeline]:
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1", "t-2"]) as run:
        yield Pipeline(settings, run.store, run.services, run.connector, run.producer, AvroCodec())
        # Both processes stop cleanly on SIGTERM.
        assert run.services.worker.stop() == 0, run.services.worker.log_tail()
        assert run.services.gateway.stop() == 0, run.services.gateway.log_tail()


def dead_letters(settings: Settings, codec: AvroCodec, count: int) -> list[dict[str, Any]]:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": uuid.uuid4().hex,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(settings.topics.dead_letters, 0, 0)])
    found: list[dict[str, Any]] = []
    until(
        lambda: len(found) >= count,
        step=lambda: found.extend(
            codec.decode(m.value() or b"")[1]
            for m in consumer.consume(10, timeout=0.5)
            if not m.error()
        ),
        timeout=60,
        what=f"{count} dead letter(s)",
    )
    consumer.close()
    return found


def test_customer_add_then_mod_lands_once_with_mappings(pipeline: Pipeline) -> None:
    pipeline.publish_customer("t-1", "c-1", {"first_name": "Ada", "last_name": "Lovelace"})
    pipeline.publish_customer("t-2", "c-1", {"company_name": "Hopper Naval Supply"})

    first = pipeline.sync_until(
        lambda: pipeline.store.mapping("t-1", "customer", "c-1"), "the first customer's mapping"
    )
    pipeline.sync_until(
        lambda: pipeline.store.mapping("t-2", "customer", "c-1"), "the second tenant's mapping"
    )
    in_quickbooks = {c["FullName"]: c for c in pipeline.connector.company.customers()}
    assert set(in_quickbooks) == {"Lovelace, Ada", "Hopper Naval Supply"}
    assert first == Mapping(
        "t-1",
        "customer",
        "c-1",
        in_quickbooks["Lovelace, Ada"]["ListID"],
        in_quickbooks["Lovelace, Ada"]["EditSequence"],
        "Lovelace, Ada",
    )

    # The same customer again: now mapped, so a Mod with the stored EditSequence.
    pipeline.publish_customer("t-1", "c-1", {"first_name": "Ada", "last_name": "King"})
    second = pipeline.sync_until(
        lambda: (
            (m := pipeline.store.mapping("t-1", "customer", "c-1"))
            and m.edit_sequence != first.edit_sequence
            and m
        ),
        "the edited customer's new EditSequence",
    )
    in_quickbooks = {c["FullName"]: c for c in pipeline.connector.company.customers()}
    assert set(in_quickbooks) == {"King, Ada", "Hopper Naval Supply"}
    assert in_quickbooks["King, Ada"]["ListID"] == first.qb_id  # modified, not added again
    assert second.edit_sequence == in_quickbooks["King, Ada"]["EditSequence"]


def test_a_poison_event_is_dead_lettered_and_the_worker_keeps_going(pipeline: Pipeline) -> None:
    pipeline.publish("t-1", b"\x00 certainly not avro")
    pipeline.publish_customer("t-1", "c-7", {"last_name": "Turing"})
    pipeline.publish_customer("nobody", "c-8", {"last_name": "Orphan"})

    letters = dead_letters(pipeline.settings, pipeline.codec, 2)
    by_code = {letter["code"]: letter for letter in letters}
    assert set(by_code) == {"undecodable", "unknown-tenant"}
    assert by_code["undecodable"]["original_value"] == b"\x00 certainly not avro"
    assert by_code["undecodable"]["source_topic"] == pipeline.settings.topics.events
    assert "'nobody'" in by_code["unknown-tenant"]["reason"]

    pipeline.sync_until(
        lambda: pipeline.store.mapping("t-1", "customer", "c-7"), "the event after the poison one"
    )
    assert [c["FullName"] for c in pipeline.connector.company.customers()] == ["Turing"]
    pipeline.services.check_alive()
