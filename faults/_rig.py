"""The machinery the fault cases run on: a real broker, ``qbsync gateway`` and ``qbsync
worker`` as child processes, a store, sandbox company files and Web Connectors.

Each case gets company files (profiles) and tenants of its own, so cases never see each
other's records; the processes are shared and restarted by the cases that kill them.
"""

from __future__ import annotations

import http.client
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbwc import NewProfile, create_profile
from connectors.qbxml import build_request
from connectors.sandbox import (
    CompanyFile,
    HttpTransport,
    SandboxWebConnector,
    SessionReport,
    find_reference,
)
from connectors.store import Store, upgrade
from core.contracts import AvroCodec, codec_from_settings, customer_event
from core.messages import COMMAND
from core.processes import ChildProcess, child_process
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import child_env, free_port, prepare_topics, use_broker, wait_healthy

__all__ = ["CompanyRun", "Rig", "soap_envelope", "until"]

CUSTOMER_EVENT = "com.qbsync.events.CustomerEvent"


def soap_envelope(operation: str, inner: str = "") -> str:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:q="http://developer.intuit.com/"><soap:Body>'
        f"<q:{operation}>{inner}</q:{operation}></soap:Body></soap:Envelope>"
    )


@dataclass
class CompanyRun:
    """One company file with its profile and tenant, and a Web Connector for it."""

    profile: NewProfile
    tenant: str
    company: CompanyFile
    rig: Rig

    def connector(self, agent: str = "", password: str = "") -> SandboxWebConnector:
        return SandboxWebConnector(
            HttpTransport(self.rig.url + "/qbwc", user_agent=agent),
            username=self.profile.profile.username,
            password=password or self.profile.password,
            company=self.company,
        )

    def customers(self) -> list[str]:
        return [str(c["FullName"]) for c in self.company.customers()]

    def drain(self, expected: int, timeout: float = 90.0, agent: str = "") -> SessionReport:
        """Web Connector runs until ``expected`` customers are in the file and the gateway
        has nothing more to send (or ``timeout``)."""
        wc = self.connector(agent)
        deadline = time.monotonic() + timeout
        report = SessionReport()
        try:
            while time.monotonic() < deadline:
                report = wc.run_once()
                if report.authenticate == "none" and len(self.customers()) >= expected:
                    break
                time.sleep(0.2)  # the Web Connector's schedule, much shortened
        finally:
            wc.close()
        return report

    def count(self, names: list[str]) -> tuple[int, int]:
        """``(lost, duplicated)`` for these customer names in QuickBooks."""
        present = self.customers()
        lost = sum(1 for name in names if name not in present)
        duplicated = len(present) - len(set(present)) + self.company.duplicate_names()
        duplicated += sum(1 for name in present if name not in names)
        return lost, duplicated


class Rig:
    def __init__(self, broker: BrokerInfo, work: Path) -> None:
        self.work = work
        self.settings = Settings()
        self.settings.data_dir = work
        run = uuid.uuid4().hex[:8]
        self.settings.topics.prefix = f"faults-{run}"
        self.settings.worker.app_id = f"qbsync-faults-{run}"
        self.settings.worker.web_port = free_port()
        self.settings.worker.session_timeout_s = 6.0
        self.settings.gateway.host = "127.0.0.1"
        self.settings.gateway.port = free_port()
        self.settings.gateway.imports = ""  # the cases are about writes
        # Cases enqueue and connect at once; the work index sees a command only within a
        # second (tests/connectors/qbwc/test_idle_poll.py), so here every poll asks the broker.
        self.settings.gateway.work_index_s = 0
        self.settings.database.url = type(self.settings.database.url)(
            f"sqlite:///{work / 'qbsync.db'}"
        )
        self.codec: AvroCodec = codec_from_settings(self.settings)
        self.use(broker)
        upgrade(self.settings.database_url)
        self.store = Store(self.settings.database_url)
        self.gateway: ChildProcess | None = None
        self.worker: ChildProcess | None = None
        self._stack = ExitStack()
        self._files = 0

    def use(self, broker: BrokerInfo) -> None:
        self.broker = broker
        use_broker(self.settings, broker)
        prepare_topics(self.settings)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.gateway.port}"

    @property
    def log_dir(self) -> Path:
        return self.work / "logs"

    # -- processes ----------------------------------------------------------------------

    def _start(self, name: str) -> ChildProcess:
        env = {**child_env(self.settings), "QBSYNC_LOG_LEVEL": "DEBUG"}
        context = child_process(name, [name], env=env, log_dir=self.log_dir)
        child = context.__enter__()
        self._stack.callback(context.__exit__, None, None, None)
        return child

    def start_gateway(self) -> ChildProcess:
        self.gateway = self._start("gateway")
        wait_healthy(self.gateway, f"{self.url}/healthz")
        return self.gateway

    def start_worker(self) -> ChildProcess:
        self.worker = self._start("worker")
        return self.worker

    def kill(self, child: ChildProcess | None) -> None:
        """kill -9: no cleanup, no goodbye."""
        if child is not None and child.alive():
            child.process.kill()
            child.process.wait(10)

    def stop(self, child: ChildProcess | None) -> None:
        if child is not None:
            child.stop()

    def close(self) -> None:
        self._stack.close()
        self.store.close()

    # -- data ---------------------------------------------------------------------------

    def company_file(self, label: str) -> CompanyRun:
        self._files += 1
        tenant = f"{label}-{self._files}"
        profile = create_profile(self.store, name=f"{label} {self._files}", tenants=[tenant])
        company = CompanyFile(
            self.work / "companies" / f"{label}-{self._files}.db", validate_with=find_reference()
        )
        self._stack.callback(company.close)
        return CompanyRun(profile=profile, tenant=tenant, company=company, rig=self)

    def publish(self, records: list[tuple[str, bytes]], *, max_bytes: int = 0) -> None:
        """``(tenant, value)`` pairs on the events topic, in order; ``max_bytes``: this
        producer's message size limit (librdkafka's ``message.max.bytes``), when raised."""
        limit: dict[str, int] = {"message.max.bytes": max_bytes} if max_bytes else {}
        producer = RecordProducer(self.settings.kafka.client_config(), **limit)
        try:
            producer.send_all([(self.settings.topics.events, t.encode(), v) for t, v in records])
        finally:
            producer.close()

    def customer_events(self, run: CompanyRun, names: list[str]) -> list[tuple[str, bytes]]:
        """customer.upserted events whose QuickBooks name is exactly each of ``names``."""
        return [
            (
                run.tenant,
                self.codec.encode(
                    CUSTOMER_EVENT,
                    customer_event(
                        run.tenant,
                        f"c-{name}",
                        {"company_name": name, "first_name": name, "last_name": "Fault"},
                    ),
                ),
            )
            for name in names
        ]

    def enqueue(self, run: CompanyRun, requests: list[tuple[str, str, str, str]]) -> None:
        """Commands straight on a file's topic, as the worker writes them:
        ``(entity, entity_id, action, request_xml)``."""
        from datetime import UTC, datetime

        topic = self.settings.topics.commands(run.profile.profile.id)
        ensure_topics(self.settings.kafka.client_config(), {topic: 1})
        producer = RecordProducer(self.settings.kafka.client_config())
        try:
            producer.send_all(
                [
                    (
                        topic,
                        run.tenant.encode(),
                        self.codec.encode(
                            COMMAND,
                            {
                                "command_id": str(uuid.uuid4()),
                                "event_id": str(uuid.uuid4()),
                                "tenant_id": run.tenant,
                                "profile_id": run.profile.profile.id,
                                "entity": entity,
                                "entity_id": entity_id,
                                "action": action,
                                "request_xml": xml,
                                "created_at": datetime.now(UTC),
                                "depends_on": [],
                            },
                        ),
                    )
                    for entity, entity_id, action, xml in requests
                ]
            )
        finally:
            producer.close()

    def customer_adds(self, names: list[str]) -> list[tuple[str, str, str, str]]:
        return [
            ("customer", name, "ADD", build_request("customer", "Add", {"Name": name}))
            for name in names
        ]

    def dead_letters(self, tenant: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """Dead letters keyed by ``tenant`` (the original message's key)."""
        consumer = Consumer(
            {
                **self.settings.kafka.client_config(),
                "group.id": f"faults-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        consumer.assign([TopicPartition(self.settings.topics.dead_letters, 0, 0)])
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in consumer.consume(200, timeout=0.5):
                if message.error() is None and message.key() == tenant.encode():
                    found.append(self.codec.decode(message.value() or b"")[1])
        consumer.close()
        return found

    # -- HTTP ---------------------------------------------------------------------------

    def post(
        self, body: bytes, content_type: str = "text/xml; charset=utf-8", timeout: float = 120
    ) -> tuple[int, str, bytes]:
        connection = http.client.HTTPConnection(
            "127.0.0.1", self.settings.gateway.port, timeout=timeout
        )
        try:
            connection.request(
                "POST", "/qbwc", body, {"Content-Type": content_type, "SOAPAction": ""}
            )
            response = connection.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        finally:
            connection.close()

    def healthy(self) -> bool:
        connection = http.client.HTTPConnection("127.0.0.1", self.settings.gateway.port, timeout=5)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()


def until(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` (a process's progress) until true or ``timeout``; whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()
