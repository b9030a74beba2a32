"""Event -> worker (a real process) -> the company's command topic -> QBO sender -> the QBO
sandbox over HTTP -> result -> worker: mapping saved, so the next change is an update.
One Desktop company file and one QBO company in the same store, on the same topics."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import customer_event, validate_event
from tests.support.qbo import StartOnline
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
    company: Company, start_online: StartOnline
) -> None:
    online = start_online()
    run, publish, drain = online.run, online.publish, online.drain
    # The item was matched to QBO's "Services" item (qbsync map match) beforehand.
    run.store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))

    # The invoice first: it waits (parked) until its customer is mapped.
    publish(invoice("inv-1", "c-1"))
    publish(customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}))
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
    assert invoices[0]["CustomerRef"]["value"] == customers[0]["Id"]
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
