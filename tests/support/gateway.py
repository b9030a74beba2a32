"""Serve a real gateway over HTTP in-process, feed its command topics, read its results."""

from __future__ import annotations

import http.client
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbwc import GatewayServer, NewProfile, create_gateway, create_profile
from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker

__all__ = [
    "Served",
    "connector",
    "enqueue",
    "enqueue_requests",
    "post",
    "prepared",
    "records",
    "results",
    "serving",
]


@dataclass
class Served:
    url: str
    settings: Settings
    store: Store
    profile: NewProfile
    codec: AvroCodec


@contextmanager
def prepared(
    broker: BrokerInfo, settings: Settings, *, name: str, tenants: list[str]
) -> Iterator[Served]:
    """The test broker's topics and a migrated store with one profile serving ``tenants``;
    ``url`` is empty: the caller serves a gateway (in a thread or as processes) itself."""
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    try:
        profile = create_profile(store, name=name, tenants=tenants)
        yield Served(url="", settings=settings, store=store, profile=profile, codec=AvroCodec())
    finally:
        store.close()


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """A gateway built from ``settings``, served over HTTP in a thread; yields its URL."""
    gateway = create_gateway(settings)
    server = GatewayServer(gateway.wsgi, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()
        thread.join(10)
        assert not thread.is_alive(), "the gateway did not stop"
        gateway.close()


def post(url: str, body: bytes, action: str = "") -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request(
        "POST", "/qbwc", body, {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": action}
    )
    response = connection.getresponse()
    return response.status, response.read()


def connector(
    served: Served,
    tmp_path: Path,
    password: str | None = None,
    *,
    profile: NewProfile | None = None,
) -> SandboxWebConnector:
    """A sandbox Web Connector for ``profile`` (default: the served one) with a new file."""
    chosen = profile or served.profile
    return SandboxWebConnector(
        HttpTransport(served.url + "/qbwc"),
        username=chosen.profile.username,
        password=password if password is not None else chosen.password,
        # Strict: every request the gateway sends is validated against Intuit's XSD.
        company=CompanyFile(tmp_path / f"{uuid.uuid4().hex}.db", validate_with=find_reference()),
    )


def enqueue(
    served: Served, *names: str, profile: NewProfile | None = None, tenant_id: str = "t-1"
) -> None:
    """Customer adds on a file's command topic, as the worker writes them."""
    enqueue_requests(
        served,
        [(name, "ADD", build_request("customer", "Add", {"Name": name})) for name in names],
        profile=profile,
        tenant_id=tenant_id,
    )


def enqueue_requests(
    served: Served,
    requests: list[tuple[str, str, str]],
    *,
    profile: NewProfile | None = None,
    depends_on: dict[str, list[str]] | None = None,
    entity: str = "customer",
    tenant_id: str = "t-1",
) -> None:
    """``(entity_id, action, request_xml)`` commands (of ``entity``) on a file's topic;
    ``depends_on`` maps an entity id to the ``entity:entity_id`` keys it needs first."""
    profile_id = (profile or served.profile).profile.id
    topic = served.settings.topics.commands(profile_id)
    records = []
    for entity_id, action, request_xml in requests:
        command = {
            "command_id": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "profile_id": profile_id,
            "entity": entity,
            "entity_id": entity_id,
            "action": action,
            "request_xml": request_xml,
            "created_at": datetime.now(UTC),
            "depends_on": (depends_on or {}).get(entity_id, []),
        }
        records.append(
            (topic, tenant_id.encode(), served.codec.encode("com.qbsync.pipeline.Command", command))
        )
    # As the worker does: the file's topic has one partition.
    ensure_topics(served.settings.kafka.client_config(), {topic: 1})
    producer = RecordProducer(served.settings.kafka.client_config())
    producer.send_all(records)
    producer.close()


def results(served: Served, expected: int) -> list[dict[str, object]]:
    return records(served, served.settings.topics.results, expected)


def records(served: Served, topic: str, expected: int) -> list[dict[str, object]]:
    """At least ``expected`` decoded records of ``topic`` (keyed like the results: as many
    partitions), or all there are after 30 s of polling."""
    consumer = Consumer(
        {
            **served.settings.kafka.client_config(),
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    partitions = served.settings.topics.results_partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list[dict[str, object]] = []
    for _ in range(60):
        for message in consumer.consume(100, timeout=0.5):
            if message.error() is None:
                found.append(served.codec.decode(message.value() or b"")[1])
        if len(found) >= expected:
            break
    consumer.close()
    return found


def authenticate(wc: SandboxWebConnector, profile: NewProfile) -> str:
    """One ``authenticate`` call by hand; the ticket."""
    return wc.authenticate(profile.profile.username, profile.password)


def send_request(wc: SandboxWebConnector, ticket: str) -> str:
    """One ``sendRequestXML`` call by hand, as a 13.0 Web Connector makes it."""
    return wc.send_request(ticket)
