"""Reading a QBO company back, end to end: event -> worker (a real process) -> QBO sender ->
the QBO sandbox over HTTP; then CDC -> ``<prefix>.imports`` -> the worker's reconcile agent ->
``QuickBooksChange`` on real Kafka. Our own write does not come back as a change; a customer
edited in QBO by hand arrives once; a signed webhook only asks for a read."""

from __future__ import annotations

import itertools
import json
import uuid
from typing import Any

import httpx2
import pytest
from confluent_kafka import Consumer, TopicPartition
from pydantic import SecretStr

from connectors.qbo import ReaderConfig, sign, webhook_app, webhook_hints
from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550002222"
TENANT = "q-1"


def test_a_customer_edited_in_qbo_arrives_once_and_our_write_does_not_echo(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 3600  # read when asked (or never read), as a webhook asks
    online = start_online()
    run, runtime = online.run, online.runtime
    run.store.update_tenant_settings(TENANT, {"direction": {"customer": "two_way"}})
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
    consumer.assign(
        [
            TopicPartition(settings.topics.changes, p, 0)
            for p in range(settings.topics.results_partitions)
        ]
    )
    changes: list[dict[str, Any]] = []
    sentinels = itertools.count()
    try:
        # Webhooks ask for reads: a signed notification over HTTP, as Intuit posts it.
        verifier = SecretStr("verifier-token")
        hint = webhook_hints(
            runtime.connections, run.store, ReaderConfig(settings.topics.imports, ("Customer",))
        )
        endpoint = webhook_app(verifier, hint)

        def notify(entity_id: str) -> None:
            change = {
                "name": "Customer",
                "id": entity_id,
                "operation": "Update",
                "lastUpdated": "2026-12-02T08:00:00Z",
            }
            notification = {"realmId": REALM, "dataChangeEvent": {"entities": [change]}}
            body = json.dumps({"eventNotifications": [notification]}).encode()
            transport = httpx2.WSGITransport(app=endpoint)
            with httpx2.Client(transport=transport, base_url="http://hooks") as hooks:
                answer = hooks.post(
                    "/", content=body, headers={"intuit-signature": sign(body, verifier)}
                )
            assert answer.status_code == 200

        def poll() -> None:
            run.services.check_alive()
            runtime.drain_all()
            for message in consumer.consume(100, timeout=0.2):
                if message.error() is None:
                    changes.append(codec.decode(message.value() or b"")[1])

        def settle() -> None:
            """Add a customer in QBO by hand, hint a read, and wait for its change:
            everything read before it has been reconciled by then. Twice."""
            for _ in range(2):
                name = f"Sentinel {next(sentinels)}"
                _status, answer = company.create("Customer", {"DisplayName": name})
                notify(answer["Customer"]["Id"])

                def arrived(name: str = name) -> bool:
                    return any((c["customer"] or {}).get("company_name") == name for c in changes)

                until(arrived, step=poll, timeout=90, what=f"the change of {name}")

        def ours() -> list[dict[str, Any]]:
            return [
                c
                for c in changes
                if not str((c["customer"] or {}).get("company_name")).startswith("Sentinel")
            ]

        run.producer.send_all(
            [
                (
                    settings.topics.events,
                    TENANT.encode(),
                    codec.encode(
                        "com.qbsync.events.CustomerEvent",
                        customer_event(
                            TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}
                        ),
                    ),
                )
            ]
        )
        until(
            lambda: run.store.mapping(TENANT, "customer", "c-1"),
            step=poll,
            timeout=120,
            what="the customer synced to QBO and mapped",
        )
        settle()
        assert ours() == []  # our own create, read back by CDC, is not a change

        mapped = run.store.mapping(TENANT, "customer", "c-1")
        assert mapped is not None
        company.edit(
            "Customer", mapped.qb_id, {"GivenName": "Gracie", "DisplayName": "Hopper, Gracie"}
        )
        settle()
        settle()  # read again: the same version is not delivered twice
        (change,) = ours()
        assert change["kind"] == "UPDATED"
        assert (change["entity"], change["entity_id"]) == ("customer", "c-1")
        assert change["qb_id"] == mapped.qb_id
        assert change["qb_edit_sequence"] == "1"
        assert change["customer"]["first_name"] == "Gracie"
        assert change["customer"]["last_name"] == "Hopper"
        # QuickBooks' time (MetaData.LastUpdatedTime, UTC), not the read's.
        edited = next(c for c in company.all("Customer") if c["Id"] == mapped.qb_id)
        stamp = change["qb_time_modified"]
        assert stamp.isoformat(timespec="seconds") == edited["MetaData"]["LastUpdatedTime"]
    finally:
        consumer.close()
