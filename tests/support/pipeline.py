"""The whole pipeline for a test: worker and gateway as real processes on the test broker,
a store, one company file with a sandbox Web Connector, and a producer for events."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from connectors.kafka import RecordProducer
from connectors.qbwc import create_profile
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import Store, upgrade
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import Services, free_port, prepare_topics, running_services, use_broker

__all__ = ["Running", "running_pipeline"]


@dataclass
class Running:
    settings: Settings
    store: Store
    services: Services
    connector: SandboxWebConnector
    company: CompanyFile
    producer: RecordProducer


@contextmanager
def running_pipeline(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    *,
    tenants: list[str],
) -> Iterator[Running]:
    """``settings`` as the test tuned them, plus the broker, the database and free ports.
    The worker and gateway get SIGTERM on exit; their exit codes are the caller's to check
    (``services.worker.stop()`` returns it) before leaving the block."""
    use_broker(settings, broker)
    settings.database.url = SecretStr(database_url)
    settings.gateway.port = free_port()
    settings.worker.web_port = free_port()
    upgrade(database_url)
    prepare_topics(settings)
    store = Store(database_url)
    created = create_profile(store, name="Shared Co", tenants=tenants)
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    producer = RecordProducer(settings.kafka.client_config())
    try:
        with running_services(settings, tmp_path / "logs") as services:
            connector = SandboxWebConnector(
                HttpTransport(services.url + "/qbwc"),
                username=created.profile.username,
                password=created.password,
                company=company,
            )
            try:
                yield Running(settings, store, services, connector, company, producer)
            finally:
                connector.close()
    finally:
        producer.close()
        company.close()
        store.close()
