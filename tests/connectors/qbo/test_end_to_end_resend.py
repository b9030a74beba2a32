"""Records QBO no longer has, end to end (issue 19): a synced bill or payment sent again is
read from QBO first: present, nothing is written and the app hears it was skipped (not an
error); deleted in QBO, it is created again and the mapping follows the new Id. An update
answered 610 (the customer deleted or merged in QBO) forgets the old Id and re-creates the
record. Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, qbo_event, read_topic
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550008888"
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def bill(amount: str) -> dict[str, Any]:
    return event(
        "bill",
        "b-1",
        {
            "vendor": {"id": "v-1"},
            "ref_number": "B-1",
            "txn_date": "2026-03-03",
            "status": "APPROVED",
            "item_lines": [
                {"item": {"id": "itm-service"}, "quantity": "1", "cost": amount, "amount": amount}
            ],
        },
    )


def payment(amount: str) -> dict[str, Any]:
    return event(
        "payment",
        "pmt-1",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": amount,
            "applied_to": [{"transaction": {"id": "inv-1"}, "amount": amount}],
        },
    )


def test_bills_and_payments_are_resent_only_if_missing_and_610_recreates(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = ""  # writes only
    online = start_online()
    store, publish, drain, synced = (
        online.run.store,
        online.publish,
        online.drain,
        online.synced,
    )
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))

    def logged(entity_id: str) -> list[str]:
        return [e.message for e in store.sync_log(TENANT) if e.entity_id == entity_id]

    publish(
        customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}),
        event("vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Midwest Duct"}),
        event(
            "invoice",
            "inv-1",
            {
                "customer": {"id": "c-1"},
                "txn_date": "2026-03-02",
                "ref_number": "INV-1",
                "status": "READY_FOR_SYNC",
                "lines": [{"line_id": "l1", "item": {"id": "itm-service"}, "amount": "90.00"}],
            },
        ),
        bill("120.00"),
        payment("90.00"),
    )
    until(
        lambda: synced("bill", "b-1") and synced("payment", "pmt-1"),
        step=drain,
        timeout=120,
        what="the bill and the payment in QBO",
    )
    first_bill, first_payment = synced("bill", "b-1"), synced("payment", "pmt-1")
    assert first_bill is not None
    assert first_payment is not None

    # Sent again while QBO has them: read, not written, reported as skipped.
    publish(bill("130.00"), payment("95.00"))

    def answered_again() -> bool:
        return all(logged(i)[-1].startswith("Skipped") for i in ("b-1", "pmt-1"))

    until(answered_again, step=drain, timeout=120, what="both sent again")
    for entity_id in ("b-1", "pmt-1"):
        assert logged(entity_id)[-1].startswith("Skipped: QuickBooks Online has this")
    ((kept_bill,), (kept_payment,)) = company.all("Bill"), company.all("Payment")
    assert (kept_bill["SyncToken"], kept_bill["TotalAmt"]) == ("0", 120.0)
    assert (kept_payment["SyncToken"], kept_payment["TotalAmt"]) == ("0", 90.0)
    statuses = read_topic(settings, codec, settings.topics.status, 1, 6)
    skipped = [s for s in statuses if s["explanation"].startswith("Skipped")]
    assert sorted(s["entity_id"] for s in skipped) == ["b-1", "pmt-1"]
    assert {s["status"] for s in skipped} == {"SYNCED"}  # not an error
    assert read_topic(settings, codec, settings.topics.dead_letters, 1, 0) == []

    # Deleted in QBO: sent again, created again, the mapping follows the new Id.
    company.remove("Bill", first_bill.qb_id)
    company.remove("Payment", first_payment.qb_id)
    publish(bill("130.00"), payment("95.00"))

    def moved() -> bool:
        now_bill, now_payment = synced("bill", "b-1"), synced("payment", "pmt-1")
        return bool(
            now_bill
            and now_payment
            and now_bill.qb_id != first_bill.qb_id
            and now_payment.qb_id != first_payment.qb_id
        )

    until(moved, step=drain, timeout=120, what="the bill and payment created again")
    (again_bill,) = company.all("Bill")
    (again_payment,) = company.all("Payment")
    assert again_bill["Id"] == synced("bill", "b-1").qb_id  # type: ignore[union-attr]
    assert again_bill["TotalAmt"] == 130.0
    assert again_payment["Id"] == synced("payment", "pmt-1").qb_id  # type: ignore[union-attr]
    assert again_payment["TotalAmt"] == 95.0
    assert "created again" in logged("b-1")[-1]

    # 610 on an update: the customer was merged away in QBO; it is created again.
    client = synced("customer", "c-1")
    assert client is not None
    company.remove("Customer", client.qb_id)
    publish(
        customer_event(
            TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace", "phone": "555-0101"}
        )
    )
    until(
        lambda: (m := synced("customer", "c-1")) is not None and m.qb_id != client.qb_id,
        step=drain,
        timeout=120,
        what="the customer created again after 610",
    )
    (customer,) = company.all("Customer")
    assert customer["Id"] == synced("customer", "c-1").qb_id  # type: ignore[union-attr]
    assert customer["PrimaryPhone"] == {"FreeFormNumber": "555-0101"}
    assert "answered 610" in logged("c-1")[-1]
    assert read_topic(settings, codec, settings.topics.dead_letters, 1, 0) == []
