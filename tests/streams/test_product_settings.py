"""The products' settings qbsync lacked (issue 15, item 5), on the real broker with the
worker and gateway as processes and the sandbox company file: invoices sync only once marked
ready for sync; a commitment needs its explicit QuickBooks number under
``commitment_id=explicit`` (a dead letter naming the field until given)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.kafka import read_dead_letters
from connectors.qbxml import build_message
from connectors.store import Mapping
from core.contracts import AvroCodec, validate_event
from tests.streams.test_worker import Sync, customer, invoice, sync

__all__ = ["sync"]  # the worker tests' fixture, used here too
pytestmark = pytest.mark.integration


def bookkeeper(sync: Sync, request: str) -> str:
    """A record entered in QuickBooks by hand; its ListID."""
    answer = sync.company.process(build_message([("1", request)], version="13.0"))
    assert 'statusCode="0"' in answer[0], answer[0]
    return str(answer[0]).split("<ListID>")[1].split("</ListID>")[0]


def commitment(number: str | None) -> dict[str, Any]:
    envelope = {
        "tenant_id": "t-1",
        "source_system": "procore",
        "entity_id": "cmt-1",
        "source_updated_at": "2026-02-11T09:00:00Z",
    }
    payload = {
        "contract_number": "SC-017-04",
        "quickbooks_ref_number": number,
        "commitment_type": "SUBCONTRACT",
        "vendor": {"id": "ven-1"},
        "job": {"id": "prj-1"},
        "status": "APPROVED",
        "contract_date": "2026-02-10",
        "lines": [{"line_id": "l1", "cost_code": {"id": "cc-1"}, "amount": "845.00"}],
    }
    return validate_event("commitment.upserted", {"envelope": envelope, "commitment": payload})


def test_only_ready_invoices_sync_and_commitments_wait_for_their_number(sync: Sync) -> None:
    sync.store.update_tenant_settings(
        "t-1", {"invoice_sync_statuses": ["READY_FOR_SYNC"], "commitment_id": "explicit"}
    )
    approved = invoice("i-1", "c-1")
    approved["invoice"]["status"] = "APPROVED"
    sync.publish(customer("c-1", "Lovelace"))
    sync.publish(approved)
    sync.publish(invoice("i-2", "c-1"))  # READY_FOR_SYNC
    sync.until_synced(lambda: sync.store.mapping("t-1", "invoice", "i-2"), "the ready invoice")
    assert [r["RefNumber"] for r in sync.invoices()] == ["I-2"]
    assert sync.store.mapping("t-1", "invoice", "i-1") is None
    # Marked ready in the app: now it goes.
    sync.publish(invoice("i-1", "c-1"))
    sync.until_synced(lambda: sync.store.mapping("t-1", "invoice", "i-1"), "i-1 once ready")
    assert sorted(r["RefNumber"] for r in sync.invoices()) == ["I-1", "I-2"]

    # The commitment's vendor, job and cost code are in QuickBooks and matched.
    vendor = bookkeeper(
        sync, "<VendorAddRq><VendorAdd><Name>Ortega HVAC</Name></VendorAdd></VendorAddRq>"
    )
    item = bookkeeper(
        sync,
        "<ItemServiceAddRq><ItemServiceAdd><Name>23-3100</Name><SalesOrPurchase>"
        "<AccountRef><FullName>Subcontractors</FullName></AccountRef></SalesOrPurchase>"
        "</ItemServiceAdd></ItemServiceAddRq>",
    )
    job = sync.store.mapping("t-1", "customer", "c-1")
    assert job is not None
    sync.store.save_mapping(Mapping("t-1", "vendor", "ven-1", vendor, None, "Ortega HVAC"))
    sync.store.save_mapping(Mapping("t-1", "job", "prj-1", job.qb_id, None, "Lovelace"))
    sync.store.save_mapping(Mapping("t-1", "cost_code", "cc-1", item, None, "23-3100"))

    sync.publish(commitment(None))
    codec = AvroCodec()

    def refused() -> list[dict[str, Any]]:
        letters = read_dead_letters(
            sync.settings.kafka.client_config(),
            sync.settings.topics.dead_letters,
            lambda data: codec.decode(data)[1],
            idle_s=0.5,
        )
        return [dl for dl in letters if dl["entity_id"] == "cmt-1"]

    (letter,) = sync.until_synced(refused, "the commitment refused")
    assert letter["code"] == "missing-field"
    assert "quickbooks_ref_number" in letter["reason"]
    assert sync.company.records("PurchaseOrder") == []

    sync.publish(commitment("PO-4471"))
    sync.until_synced(lambda: sync.store.mapping("t-1", "commitment", "cmt-1"), "the commitment")
    (order,) = sync.company.records("PurchaseOrder")
    assert order["RefNumber"] == "PO-4471"
