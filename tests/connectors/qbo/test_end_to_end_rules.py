"""The issue's QBO rules end to end (issue 19, third step): events -> worker (a real
process) -> the company's command topic -> QBO sender -> the QBO sandbox over HTTP.

- a transaction dated before the company's start date is refused with the reason (a dead
  letter naming TxnDate and the start date), nothing written;
- time: an entry not approved is not sent (and is once approved); a worker's day in QBO
  may not pass 24 hours across entries (the one that would is a dead letter);
- invoices: drafts and $0 invoices are not sent, unless a discount brings the total to 0."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from tests.support.qbo import (
    StartOnline,
    qbo_event,
    read_topic,
)
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550004444"
TENANT = "q-1"
START = date(2026, 1, 1)
START_DATE = START  # the sandbox company's (conftest.py)


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def invoice(
    entity_id: str, day: str, *amounts: str, status: str = "READY_FOR_SYNC"
) -> dict[str, Any]:
    return event(
        "invoice",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": day,
            "ref_number": entity_id.upper(),
            "status": status,
            "lines": [
                {
                    "line_id": f"l{n}",
                    "item": {"id": "itm-service"},
                    "description": "Work",
                    "amount": a,
                }
                for n, a in enumerate(amounts)
            ],
        },
    )


def time_entry(entity_id: str, minutes: int, approval: str = "APPROVED") -> dict[str, Any]:
    return event(
        "time_entry",
        entity_id,
        {
            "employee": {"id": "e-1"},
            "date": "2026-03-02",
            "duration_minutes": minutes,
            "approval": approval,
        },
    )


def test_start_date_approval_day_limit_and_invoice_rules(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = ""  # writes only
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    online.run.store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    publish(
        customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}),
        event(
            "employee",
            "e-1",
            {"first_name": "Ada", "last_name": "Lovelace", "employment_type": "EMPLOYEE"},
        ),
        invoice("inv-old", "2025-12-15", "120.00"),
        invoice("inv-zero", "2026-03-02", "0.00"),
        invoice("inv-draft", "2026-03-02", "80.00", status="DRAFT"),
        invoice("inv-disc", "2026-03-02", "250.00", "-250.00"),
        time_entry("te-p", 60, approval="PENDING"),
        time_entry("te-a", 900),
        time_entry("te-b", 600),
        time_entry("te-c", 300),
    )
    until(lambda: synced("time_entry", "te-c"), step=drain, timeout=120, what="te-c")

    # Before the start date: refused by the sender, nothing written, the reason kept.
    letters = read_topic(settings, codec, settings.topics.dead_letters, 1, 2)
    by_entity = {d["entity_id"]: d for d in letters}
    assert set(by_entity) == {"inv-old", "te-b"}
    old = by_entity["inv-old"]["reason"]
    assert "TxnDate 2025-12-15 is before the QuickBooks Online company's start date" in old
    assert "2026-01-01" in old
    assert "more than 24 hours in one day" in by_entity["te-b"]["reason"]
    assert "600 minutes on 2026-03-02 on top of 900" in by_entity["te-b"]["reason"]
    numbers = sorted(i["DocNumber"] for i in company.all("Invoice"))
    assert numbers == ["INV-DISC"]  # not the old one, the $0 one or the draft
    (discounted,) = company.all("Invoice")
    assert [line["Amount"] for line in discounted["Line"]] == [250.0, -250.0]
    assert synced("invoice", "inv-zero") is None
    assert synced("invoice", "inv-draft") is None

    # Time: the pending entry was not sent; 900 + 300 minutes are in QBO, not the 600.
    minutes = sorted(a["Hours"] * 60 + a["Minutes"] for a in company.all("TimeActivity"))
    assert minutes == [300, 900]
    assert synced("time_entry", "te-p") is None
    publish(time_entry("te-p", 60))  # approved now: sent (1,260 minutes that day)
    until(lambda: synced("time_entry", "te-p"), step=drain, timeout=120, what="te-p")
    minutes = sorted(a["Hours"] * 60 + a["Minutes"] for a in company.all("TimeActivity"))
    assert minutes == [60, 300, 900]
