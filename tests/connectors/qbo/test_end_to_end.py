"""Event -> worker (a real process) -> the company's command topic -> QBO sender -> the QBO
sandbox over HTTP -> result -> worker: mapping saved, so the next change is an update.
One Desktop company file and one QBO company in the same store, on the same topics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.qbo import create_qbo_runtime
from connectors.qbo_sandbox import QboSandbox
from connectors.store import Mapping
from core.contracts import AvroCodec, customer_event, validate_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.pipeline import running_pipeline
from tests.support.qbo import QboWorld, add_qbo_profile, connect, qbo_settings
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001111"
TENANT = "q-1"


def invoice(entity_id: str, customer_id: str) -> dict[str, Any]:
    envelope = {
        "tenant_id": TENANT,
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    payload = {
        "customer": {"id": customer_id},
        "txn_date": "2026-03-02",
        "ref_number": entity_id.upper(),
        "status": "READY_FOR_SYNC",
        "lines": [
            {
                "line_id": "l1",
                "item": {"id": "itm-service"},
                "description": "Service call",
                "quantity": "1",
                "rate": "185.00",
                "amount": "185.00",
            }
        ],
    }
    return validate_event("invoice.upserted", {"envelope": envelope, "invoice": payload})


def test_customer_and_invoice_events_land_once_in_qbo(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    sandbox: tuple[QboSandbox, str],
) -> None:
    qbo, url = sandbox
    codec = AvroCodec()
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as run:
        profile_id = add_qbo_profile(run.store, "Online Co", tenants=(TENANT,))
        key = SecretStr(Fernet.generate_key().decode())
        qbo_settings(settings, qbo, url, key)
        runtime = create_qbo_runtime(settings, run.store)
        try:
            world = QboWorld(
                qbo,
                url,
                run.store,
                key,
                runtime.http,
                runtime.oauth,
                runtime.connections,
                runtime.keeper,
                runtime.client,
            )
            connect(world, profile_id, REALM)
            # The item was matched to QBO's "Services" item (qbsync map match) beforehand.
            run.store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))

            def publish(event: dict[str, Any]) -> None:
                kind = event["envelope"]["entity"].title().replace("_", "")
                value = codec.encode(f"com.qbsync.events.{kind}Event", event)
                run.producer.send_all([(settings.topics.events, TENANT.encode(), value)])

            def drain() -> None:
                run.services.check_alive()
                runtime.drain_all()

            # The invoice first: it waits (parked) until its customer is mapped.
            publish(invoice("inv-1", "c-1"))
            publish(customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}))
            company = qbo.company(REALM)
            until(
                lambda: run.store.mapping(TENANT, "invoice", "inv-1"),
                step=drain,
                timeout=120,
                what="the invoice synced to QBO and mapped",
            )
            customers = company.all("Customer")
            invoices = company.all("Invoice")
            assert [c["DisplayName"] for c in customers] == ["Hopper, Grace"]
            assert len(invoices) == 1
            assert invoices[0]["CustomerRef"] == {"value": customers[0]["Id"]}
            assert invoices[0]["DocNumber"] == "INV-1"
            assert invoices[0]["TotalAmt"] == 185.0
            mapped = run.store.mapping(TENANT, "customer", "c-1")
            assert mapped is not None
            assert (mapped.qb_id, mapped.edit_sequence) == (customers[0]["Id"], "0")

            # A change is a sparse update with the stored SyncToken, not a second customer.
            publish(customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "G."}))
            until(
                lambda: (
                    (m := run.store.mapping(TENANT, "customer", "c-1")) is not None
                    and m.edit_sequence == "1"
                ),
                step=drain,
                timeout=120,
                what="the customer's update settled",
            )
            assert [c["DisplayName"] for c in company.all("Customer")] == ["Hopper, G."]
            assert run.company.records("Customer") == []  # the Desktop file saw none of it
        finally:
            runtime.close()
            assert run.services.worker.stop() == 0
            run.services.gateway.stop()
