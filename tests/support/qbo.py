"""A QBO world for tests: the QBO sandbox over real HTTP, a real store (SQLite or
PostgreSQL) with companies connected through the real OAuth flow, and the real client."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx2
from confluent_kafka import Consumer, TopicPartition
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.kafka import CommandQueue, DeliveryFailed, RecordProducer, ensure_topics
from connectors.qbo import (
    SENDER_GROUP,
    ClientConfig,
    OAuthApp,
    OAuthClient,
    QboClient,
    QboConnections,
    QboEntityRequest,
    QboOperation,
    QboRuntime,
    RealmLimits,
    TokenCipher,
    TokenKeeper,
    create_company,
    create_qbo_runtime,
)
from connectors.qbo_sandbox import Company, QboSandbox
from connectors.store import Mapping, Store, upgrade
from core.contracts import AvroCodec, validate_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.pipeline import Running, running_pipeline
from tests.support.waiting import until

__all__ = [
    "REDIRECT",
    "NotAcknowledged",
    "QboPipeline",
    "QboWorld",
    "SenderRig",
    "StartOnline",
    "StartSender",
    "add_qbo_profile",
    "changes_feed",
    "cli_json",
    "cli_sees",
    "cli_stdout",
    "connect",
    "enqueue_commands",
    "oauth_app",
    "qbo_command",
    "qbo_event",
    "qbo_pipeline",
    "qbo_settings",
    "qbo_world",
    "read_topic",
    "sender_rig",
]

REDIRECT = "https://app.example/qbo/callback"


def oauth_app(sandbox: QboSandbox, url: str) -> OAuthApp:
    return OAuthApp(
        client_id=sandbox.oauth.client_id,
        client_secret=SecretStr(sandbox.oauth.client_secret),
        redirect_uri=REDIRECT,
        authorize_url=f"{url}/connect/oauth2",
        token_url=f"{url}/oauth2/v1/tokens/bearer",
        revoke_url=f"{url}/oauth2/v1/tokens/revoke",
    )


@dataclass
class QboWorld:
    sandbox: QboSandbox
    url: str
    store: Store
    key: SecretStr
    http: httpx2.Client
    oauth: OAuthClient
    connections: QboConnections
    keeper: TokenKeeper
    client: QboClient


def add_qbo_profile(store: Store, name: str, tenants: tuple[str, ...] = ()) -> str:
    """A QBO company's profile, as ``qbsync qbo add`` creates it."""
    return create_company(store, name=name, tenants=list(tenants))


def connect(world: QboWorld, profile_id: str, realm_id: str) -> None:
    """The whole connect flow over HTTP: authorize URL, consent (the sandbox's redirect),
    callback with code, state and realmId, code exchange, tokens stored."""
    state = world.connections.begin_connect(profile_id)
    callback = world.sandbox.consent(world.oauth.authorize_url(state), realm_id)
    assert f"state={state}" in callback
    world.connections.complete_callback(callback, world.oauth)


@contextmanager
def qbo_world(
    database_url: str,
    *,
    sandbox: QboSandbox | None = None,
    timeout_s: float = 10.0,
    attempts: int = 6,
    per_minute: int = 500,
) -> Iterator[QboWorld]:
    chosen = sandbox or QboSandbox()
    upgrade(database_url)
    store = Store(database_url)
    key = SecretStr(Fernet.generate_key().decode())
    with chosen.serve() as url, httpx2.Client(timeout=timeout_s) as http:
        oauth = OAuthClient(oauth_app(chosen, url), http)
        connections = QboConnections(store.engine, TokenCipher(key))
        keeper = TokenKeeper(connections, oauth)
        client = QboClient(
            ClientConfig(base_url=url, attempts=attempts, backoff_base_s=0.05, backoff_max_s=0.5),
            http,
            keeper,
            RealmLimits(per_minute=per_minute),
        )
        try:
            yield QboWorld(chosen, url, store, key, http, oauth, connections, keeper, client)
        finally:
            store.close()


def qbo_settings(settings: Settings, sandbox: QboSandbox, url: str, key: SecretStr) -> None:
    """Point ``settings.qbo`` at a served sandbox (as an operator sets QBSYNC_QBO_*)."""
    app = oauth_app(sandbox, url)
    settings.qbo.api_base_url = url
    settings.qbo.authorize_url = app.authorize_url
    settings.qbo.token_url = app.token_url
    settings.qbo.revoke_url = app.revoke_url
    settings.qbo.client_id = app.client_id
    settings.qbo.client_secret = app.client_secret
    settings.qbo.redirect_uri = REDIRECT
    settings.qbo.token_keys = key
    settings.qbo.retry_base_s = 0.05
    settings.qbo.retry_max_s = 0.5


def qbo_command(
    profile_id: str,
    entity: str,
    entity_id: str,
    request: QboEntityRequest,
    *,
    tenant_id: str = "t-1",
    conflict_policy: str | None = None,
    source_updated_at: datetime | None = None,
) -> dict[str, object]:
    """A command as the worker writes it for a QBO company."""
    return {
        "command_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "tenant_id": tenant_id,
        "profile_id": profile_id,
        "entity": entity,
        "entity_id": entity_id,
        "action": "ADD" if request.operation is QboOperation.CREATE else "MOD",
        "request_xml": "",
        "created_at": datetime.now(UTC),
        "conflict_policy": conflict_policy,
        "source_updated_at": source_updated_at,
        "qbo": request.to_avro(),
    }


def enqueue_commands(
    settings: Settings, codec: AvroCodec, profile_id: str, commands: list[dict[str, object]]
) -> None:
    topic = settings.topics.commands(profile_id)
    ensure_topics(settings.kafka.client_config(), {topic: 1})
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all(
        [
            (topic, str(c["tenant_id"]).encode(), codec.encode("com.qbsync.pipeline.Command", c))
            for c in commands
        ]
    )
    producer.close()


def read_topic(
    settings: Settings, codec: AvroCodec, topic: str, partitions: int, expected: int
) -> list[dict[str, Any]]:
    """Every record of ``topic`` once at least ``expected`` arrived (or after 30 s), then one
    more short poll so that extra records (duplicates) would be seen too."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"t-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    found: list[dict[str, Any]] = []
    settle = 0
    for _ in range(60):
        batch = consumer.consume(100, timeout=0.5)
        for message in batch:
            if message.error() is None:
                found.append(codec.decode(message.value() or b"")[1])
        if len(found) >= expected:
            settle += 1
            if settle >= 2 and not batch:
                break
    consumer.close()
    return found


@contextmanager
def changes_feed(settings: Settings, codec: AvroCodec) -> Iterator[Callable[[], list[Any]]]:
    """A reader of ``<prefix>.changes`` from the start: each call polls once and returns
    every ``QuickBooksChange`` seen so far, decoded."""
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
    consumer.assign(
        [
            TopicPartition(settings.topics.changes, p, 0)
            for p in range(settings.topics.results_partitions)
        ]
    )
    seen: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        for message in consumer.consume(100, timeout=0.5):
            if message.error() is None:
                seen.append(codec.decode(message.value() or b"")[1])
        return seen

    try:
        yield read
    finally:
        consumer.close()


def qbo_event(
    tenant_id: str, entity: str, entity_id: str, payload: dict[str, Any]
) -> dict[str, Any]:
    """A validated ``<entity>.upserted`` event of ``tenant_id``."""
    envelope = {
        "tenant_id": tenant_id,
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    return validate_event(f"{entity}.upserted", {"envelope": envelope, entity: payload})


@dataclass
class QboPipeline:
    """The real worker (and gateway) on real Kafka, and a QBO sender for one company of the
    QBO sandbox, connected through the OAuth flow over HTTP."""

    run: Running
    runtime: QboRuntime
    sandbox: QboSandbox
    realm_id: str
    profile_id: str
    tenant_id: str
    codec: AvroCodec

    def publish(self, *events: dict[str, Any]) -> None:
        """Events on the events topic, keyed by tenant (schema by the envelope's entity)."""
        topic = self.run.settings.topics.events
        self.run.producer.send_all(
            [
                (
                    topic,
                    e["envelope"]["tenant_id"].encode(),
                    self.codec.encode(
                        "com.qbsync.events."
                        + e["envelope"]["entity"].title().replace("_", "")
                        + "Event",
                        e,
                    ),
                )
                for e in events
            ]
        )

    def drain(self) -> None:
        """One drain of every company (then its due reads); fails if a child died."""
        self.run.services.check_alive()
        self.runtime.drain_all()

    def synced(self, entity: str, entity_id: str) -> Mapping | None:
        return self.run.store.mapping(self.tenant_id, entity, entity_id)

    def read_again(self, entity: str) -> None:
        """Ask for a read of ``entity`` (an import entity: ``invoice``, ``time_tracking``)
        and drain until that read completed (its watermark's ``completed_at`` moved)."""
        store = self.run.store

        def completed() -> Any:
            mark = store.watermarks(self.profile_id).get(entity)
            return None if mark is None else mark.completed_at

        before = completed()
        store.request_import(self.profile_id, [entity])

        def done() -> bool:
            self.drain()
            return completed() not in (None, before)

        until(done, timeout=120, what=f"a read of the QBO {entity} records")


@contextmanager
def qbo_pipeline(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    sandbox: QboSandbox,
    url: str,
    realm_id: str,
    *,
    tenants: tuple[str, ...] = ("q-1",),
) -> Iterator[QboPipeline]:
    """:class:`QboPipeline` for ``realm_id`` (added to ``sandbox`` beforehand), its profile
    serving ``tenants``; the worker must exit cleanly at the end."""
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as run:
        profile_id = add_qbo_profile(run.store, "Online Co", tenants=tenants)
        key = SecretStr(Fernet.generate_key().decode())
        qbo_settings(settings, sandbox, url, key)
        runtime = create_qbo_runtime(settings, run.store)
        try:
            world = QboWorld(
                sandbox, url, run.store, key, runtime.http, runtime.oauth,
                runtime.connections, runtime.keeper, runtime.client,
            )  # fmt: skip
            connect(world, profile_id, realm_id)
            yield QboPipeline(run, runtime, sandbox, realm_id, profile_id, tenants[0], AvroCodec())
        finally:
            runtime.close()
            assert run.services.worker.stop() == 0
            run.services.gateway.stop()


class StartOnline(Protocol):
    """The ``start_online`` fixture (tests/connectors/qbo/conftest.py): :func:`qbo_pipeline`
    for the test module's ``REALM``, its profile serving ``tenants``."""

    def __call__(self, *, tenants: tuple[str, ...] = ("q-1",)) -> QboPipeline: ...


def cli_sees(settings: Settings, monkeypatch: Any) -> None:
    """The in-process CLI (``qbsync ...`` through CliRunner) reads this pipeline's store and
    broker: the environment a child process of ``qbsync run`` would get."""
    import os

    from qbsync.runtime import child_env

    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    for key, value in child_env(settings).items():
        monkeypatch.setenv(key, value)


def cli_stdout(*args: str) -> str:
    """``qbsync <args>`` in process; fails the test unless it exits 0."""
    from typer.testing import CliRunner

    from qbsync.cli import app

    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def cli_json(*args: str) -> Any:
    """``qbsync <args> --json`` in process (the caller passes ``--json``): its answer
    decoded; fails the test unless it exits 0."""
    return json.loads(cli_stdout(*args))


def dead_lettered(online: QboPipeline, entity_id: str) -> Callable[[], list[dict[str, Any]]]:
    """A poll for ``until``: one drain, then the dead letters of ``entity_id`` so far."""
    settings = online.run.settings

    def poll() -> list[dict[str, Any]]:
        online.drain()
        found = read_topic(settings, online.codec, settings.topics.dead_letters, 1, 1)
        return [d for d in found if d["entity_id"] == entity_id]

    return poll


@dataclass
class SenderRig:
    """A QBO sender alone (no worker) on real Kafka, draining one company of the QBO sandbox
    over HTTP, connected through the OAuth flow; commands are queued by the test."""

    world: QboWorld
    settings: Settings
    runtime: QboRuntime
    realm_id: str
    profile_id: str
    codec: AvroCodec
    queue: CommandQueue

    @property
    def sandbox(self) -> QboSandbox:
        return self.world.sandbox

    @property
    def company(self) -> Company:
        return self.world.sandbox.company(self.realm_id)

    def send(self, *commands: dict[str, object]) -> None:
        enqueue_commands(self.settings, self.codec, self.profile_id, list(commands))

    def results(self, expected: int) -> list[dict[str, Any]]:
        topics = self.settings.topics
        return read_topic(
            self.settings, self.codec, topics.results, topics.results_partitions, expected
        )

    def pending(self) -> int:
        """Commands after the sender's committed offset (neither done nor dead-lettered)."""
        return self.queue.pending(self.profile_id)

    def drain_until_settled(self) -> None:
        until(
            lambda: self.pending() == 0,
            step=self.runtime.drain_all,
            what="the company's commands drained",
            timeout=60,
        )


class NotAcknowledged:
    """The broker does not acknowledge the first batch of results: nothing is committed,
    as after a crash between the write and the commit."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.failed = False

    def send_all(self, records: Any, *, timeout: float = 30.0) -> int:
        if not self.failed:
            self.failed = True
            raise DeliveryFailed("1 record(s) unacknowledged, 0 failed", [], 1)
        return int(self.real.send_all(records, timeout=timeout))


@contextmanager
def sender_rig(
    broker: BrokerInfo, settings: Settings, realm_id: str, prepare: Callable[[Settings], None]
) -> Iterator[SenderRig]:
    """:class:`SenderRig` for ``realm_id``: ``prepare`` adjusts ``settings`` (QBSYNC_QBO_*)
    before the sender is built from them."""
    use_broker(settings, broker)
    prepare_topics(settings)
    with qbo_world(settings.database_url) as world:
        world.sandbox.add_company(realm_id)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, realm_id)
        qbo_settings(settings, world.sandbox, world.url, world.key)
        prepare(settings)
        runtime = create_qbo_runtime(settings, world.store)
        queue = CommandQueue(
            settings.kafka.client_config(),
            group_id=SENDER_GROUP,
            topic_for=settings.topics.commands,
            consumers=1,
        )
        try:
            yield SenderRig(world, settings, runtime, realm_id, profile_id, AvroCodec(), queue)
        finally:
            queue.close()
            runtime.close()


class StartSender(Protocol):
    """The ``start_sender`` fixture (tests/connectors/qbo/conftest.py): :func:`sender_rig`
    for the test module's ``REALM``; ``prepare`` sets QBSYNC_QBO_* first."""

    def __call__(self, prepare: Callable[[Settings], None] = ...) -> SenderRig: ...
