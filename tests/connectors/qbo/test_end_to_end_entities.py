"""More entities to QBO end to end (issue 19, second step): events -> worker (a real
process) -> the company's command topic -> QBO sender -> the QBO sandbox over HTTP -> results
-> mappings. A payment for two invoices is one Payment with a line each, sent only once both
invoices are in QBO, and never updated once synced; a vendor, an employee and an item land;
time entries follow the issue's rules (negative not sent, more than 24 h refused as a dead
letter with the reason, never re-sent once synced)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec, customer_event, validate_event
from core.settings import Settings
from tests.support.qbo import StartOnline, read_topic
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550003333"
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "tenant_id": TENANT,
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    return validate_event(f"{entity}.upserted", {"envelope": envelope, entity: payload})


def invoice(entity_id: str, amount: str) -> dict[str, Any]:
    return event(
        "invoice",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [
                {
                    "line_id": "l1",
                    "item": {"id": "itm-service"},
                    "description": "Service call",
                    "quantity": "1",
                    "rate": amount,
                    "amount": amount,
                }
            ],
        },
    )


def payment(total: str) -> dict[str, Any]:
    return event(
        "payment",
        "pmt-1",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": total,
            "reference": "10442",
            "applied_to": [
                {"transaction": {"id": "inv-1"}, "amount": "185.00"},
                {"transaction": {"id": "inv-2"}, "amount": "95.00"},
            ],
        },
    )


def test_payments_items_vendors_and_employees_land_once_in_qbo(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = ""  # writes only
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    online.run.store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))

    # The payment first: it waits until both invoices are in QBO.
    publish(payment("280.00"))
    publish(customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}))
    publish(invoice("inv-1", "185.00"))
    until(lambda: synced("invoice", "inv-1"), step=drain, timeout=120, what="inv-1 synced")
    for _ in range(3):
        drain()
    assert company.all("Payment") == []  # inv-2 is not in QBO yet
    publish(invoice("inv-2", "95.00"))
    until(lambda: synced("payment", "pmt-1"), step=drain, timeout=120, what="payment synced")
    invoices = {i["DocNumber"]: i["Id"] for i in company.all("Invoice")}
    (paid,) = company.all("Payment")
    assert paid["TotalAmt"] == 280.0
    # Nothing sent: QBO deposits to Undeposited Funds.
    assert paid["DepositToAccountRef"]["name"] == "Undeposited Funds"
    assert paid["Line"] == [
        {
            "Amount": 185.0,
            "LinkedTxn": [{"TxnId": invoices["INV-1"], "TxnType": "Invoice"}],
        },
        {"Amount": 95.0, "LinkedTxn": [{"TxnId": invoices["INV-2"], "TxnType": "Invoice"}]},
    ]

    # A change of the synced payment is not sent; the lists behind it are.
    publish(payment("281.00"))
    publish(
        event("vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Midwest Duct"}),
        event(
            "employee",
            "e-1",
            {"first_name": "Ada", "last_name": "Lovelace", "employment_type": "EMPLOYEE"},
        ),
        event(
            "item",
            "itm-2",
            {"name": "Filter swap", "item_type": "SERVICE", "price": "45.00"},
        ),
    )
    until(
        lambda: all(
            synced(e, i) for e, i in (("vendor", "v-1"), ("employee", "e-1"), ("item", "itm-2"))
        ),
        step=drain,
        timeout=120,
        what="vendor, employee and item synced",
    )
    (paid_after,) = company.all("Payment")
    assert (paid_after["SyncToken"], paid_after["TotalAmt"]) == ("0", 280.0)
    assert [v["DisplayName"] for v in company.all("Vendor")] == ["Midwest Duct"]
    (employee,) = company.all("Employee")
    assert (employee["GivenName"], employee["FamilyName"]) == ("Ada", "Lovelace")
    items = {i["Name"]: i for i in company.all("Item")}

    # Time: a valid entry lands; negative hours are not sent; more than a day is a
    # dead letter naming the field; an edit of a synced entry is not re-sent.
    def time_entry(entity_id: str, minutes: int) -> dict[str, Any]:
        return event(
            "time_entry",
            entity_id,
            {"employee": {"id": "e-1"}, "date": "2026-03-02", "duration_minutes": minutes},
        )

    publish(time_entry("te-1", 90), time_entry("te-2", -30), time_entry("te-3", 1500))
    until(lambda: synced("time_entry", "te-1"), step=drain, timeout=120, what="te-1")
    publish(time_entry("te-1", 95), time_entry("te-4", 60))
    until(lambda: synced("time_entry", "te-4"), step=drain, timeout=120, what="te-4")
    activities = {a["Id"]: a for a in company.all("TimeActivity")}
    te_1, te_4 = synced("time_entry", "te-1"), synced("time_entry", "te-4")
    assert te_1 is not None
    assert te_4 is not None
    assert sorted(activities) == sorted([te_1.qb_id, te_4.qb_id])
    first = activities[te_1.qb_id]
    assert (first["Hours"], first["Minutes"], first["SyncToken"]) == (1, 30, "0")
    assert first["EmployeeRef"] == {"value": employee["Id"]}
    assert synced("time_entry", "te-2") is None
    letters = read_topic(settings, codec, settings.topics.dead_letters, 1, 1)
    (refused,) = [d for d in letters if d["code"] == "refused-by-rule"]
    assert "more than 24 hours" in refused["reason"]
    assert (items["Filter swap"]["Type"], items["Filter swap"]["UnitPrice"]) == (
        "Service",
        45.0,
    )
