"""Expenses to QBO end to end (issue 19): a vendor bill with lines booked to an account and
lines for an item, each for a customer (job costing), lands as one Bill; a synced bill is
not updated; a bill dated before the company's start date is refused with the reason.
Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, qbo_event, read_topic
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550006666"
START_DATE = date(2026, 1, 1)  # the sandbox company's (conftest.py)
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def bill(entity_id: str, day: str, freight: str) -> dict[str, Any]:
    return event(
        "bill",
        entity_id,
        {
            "vendor": {"id": "v-1"},
            "ref_number": entity_id.upper(),
            "txn_date": day,
            "status": "APPROVED",
            "expense_lines": [
                {
                    "account": {"id": "acc-freight"},
                    "amount": freight,
                    "memo": "Freight",
                    "customer": {"id": "c-1"},
                    "is_billable": True,
                }
            ],
            "item_lines": [
                {
                    "item": {"id": "itm-service"},
                    "description": "Install labour",
                    "quantity": "2",
                    "cost": "60.00",
                    "amount": "120.00",
                    "customer": {"id": "c-1"},
                    "is_billable": False,
                }
            ],
        },
    )


def test_a_vendor_bill_lands_once_with_its_lines_and_dates_are_checked(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = ""  # writes only
    _s, account = company.create("Account", {"Name": "Freight In", "AccountType": "Expense"})
    account_id = account["Account"]["Id"]
    online = start_online()
    store, publish, drain, synced = (
        online.run.store,
        online.publish,
        online.drain,
        online.synced,
    )
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    store.save_mapping(Mapping(TENANT, "account", "acc-freight", account_id, "0", "Freight In"))
    publish(
        customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}),
        event("vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Midwest Duct"}),
        bill("b-old", "2025-12-01", "10.00"),
        bill("b-1", "2026-03-03", "42.10"),
    )
    until(lambda: synced("bill", "b-1"), step=drain, timeout=120, what="b-1 synced")
    (landed,) = company.all("Bill")
    (vendor,) = company.all("Vendor")
    (customer,) = company.all("Customer")
    assert landed["VendorRef"]["value"] == vendor["Id"]
    assert (landed["DocNumber"], landed["TxnDate"], landed["TotalAmt"]) == (
        "B-1",
        "2026-03-03",
        162.1,
    )
    expense, item = landed["Line"]
    assert expense["AccountBasedExpenseLineDetail"] == {
        "AccountRef": {"value": account_id},
        "CustomerRef": {"value": customer["Id"]},
        "BillableStatus": "Billable",
    }
    assert item["ItemBasedExpenseLineDetail"]["ItemRef"] == {"value": "1"}
    assert item["ItemBasedExpenseLineDetail"]["BillableStatus"] == "NotBillable"
    (refused,) = read_topic(settings, codec, settings.topics.dead_letters, 1, 1)
    assert refused["entity_id"] == "b-old"
    assert "TxnDate 2025-12-01 is before" in refused["reason"]

    # A synced bill is not updated; the next bill (sent after it) shows it was read.
    publish(bill("b-1", "2026-03-03", "50.00"), bill("b-2", "2026-03-05", "5.00"))
    until(lambda: synced("bill", "b-2"), step=drain, timeout=120, what="b-2 synced")
    first = next(b for b in company.all("Bill") if b["DocNumber"] == "B-1")
    assert (first["SyncToken"], first["TotalAmt"]) == ("0", 162.1)
    assert sorted(b["DocNumber"] for b in company.all("Bill")) == ["B-1", "B-2"]
