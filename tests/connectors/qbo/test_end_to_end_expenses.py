"""Expenses paid at once to QBO end to end (issue 19, "expenses (checks, credit cards, vendor
bills)"): a card charge and a check land as one Purchase each, paid from the account the app
names (by name: the sender sends the company's Id), to the vendor, with the cost lines; an
expense whose total is not its lines' sum is a dead letter naming both; a synced expense is
not updated. Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec
from core.settings import Settings
from tests.support.qbo import StartOnline, qbo_event, read_topic
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550007777"
TENANT = "q-1"


def expense(entity_id: str, payment_type: str, paid_from: str, total: str) -> dict[str, Any]:
    return qbo_event(
        TENANT,
        "expense",
        entity_id,
        {
            "payment_type": payment_type,
            "paid_from": {"full_name": paid_from},
            "payee": {"id": "v-1"},
            "ref_number": entity_id.upper(),
            "txn_date": "2026-03-04",
            "total": total,
            "memo": "Materials for the Hopper job",
            "expense_lines": [
                {
                    "account": {"id": "acc-materials"},
                    "amount": "40.00",
                    "customer": {"id": "c-1"},
                    "is_billable": True,
                }
            ],
            "item_lines": [
                {
                    "item": {"id": "itm-service"},
                    "description": "Delivery",
                    "quantity": "1",
                    "cost": "15.50",
                    "amount": "15.50",
                }
            ],
        },
    )


def test_expenses_paid_by_card_and_check_land_once_as_purchases(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = ""  # writes only
    accounts = {
        name: company.create("Account", {"Name": name, "AccountType": kind})[1]["Account"]["Id"]
        for name, kind in (
            ("Company Visa", "Credit Card"),
            ("Operating", "Bank"),
            ("Job Materials", "Cost of Goods Sold"),
        )
    }
    online = start_online()
    store, publish, drain, synced = online.run.store, online.publish, online.drain, online.synced
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    store.save_mapping(
        Mapping(TENANT, "account", "acc-materials", accounts["Job Materials"], "0", None)
    )
    publish(
        qbo_event(TENANT, "customer", "c-1", {"last_name": "Hopper", "first_name": "Grace"}),
        qbo_event(TENANT, "vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Midwest Duct"}),
        expense("e-short", "CHECK", "Operating", "99.00"),
        expense("e-card", "CREDIT_CARD", "Company Visa", "55.50"),
        expense("e-check", "CHECK", "Operating", "55.50"),
    )
    until(lambda: synced("expense", "e-check"), step=drain, timeout=120, what="e-check synced")
    (vendor,) = company.all("Vendor")
    (customer,) = company.all("Customer")
    landed = {p["DocNumber"]: p for p in company.all("Purchase")}
    assert sorted(landed) == ["E-CARD", "E-CHECK"]
    for number, paid_by, account in (
        ("E-CARD", "CreditCard", "Company Visa"),
        ("E-CHECK", "Check", "Operating"),
    ):
        purchase = landed[number]
        assert purchase["PaymentType"] == paid_by
        assert purchase["AccountRef"]["value"] == accounts[account]
        assert purchase["EntityRef"]["value"] == vendor["Id"]
        assert (purchase["TxnDate"], purchase["TotalAmt"]) == ("2026-03-04", 55.5)
        cost, item = purchase["Line"]
        assert cost["AccountBasedExpenseLineDetail"]["AccountRef"] == {
            "value": accounts["Job Materials"]
        }
        assert cost["AccountBasedExpenseLineDetail"]["CustomerRef"] == {"value": customer["Id"]}
        assert item["ItemBasedExpenseLineDetail"]["ItemRef"] == {"value": "1"}
    (refused,) = read_topic(settings, codec, settings.topics.dead_letters, 1, 1)
    assert (refused["entity_id"], refused["code"]) == ("e-short", "invalid-field")
    assert "total is 99.00 but expense_lines and item_lines add up to 55.50" in refused["reason"]

    # A synced expense is not updated; the next one (sent after it) shows it was read.
    changed = expense("e-card", "CREDIT_CARD", "Company Visa", "55.50")
    changed["expense"]["memo"] = "changed in the app"
    publish(changed, expense("e-later", "CASH", "Operating", "55.50"))
    until(lambda: synced("expense", "e-later"), step=drain, timeout=120, what="e-later synced")
    card = next(p for p in company.all("Purchase") if p["DocNumber"] == "E-CARD")
    assert (card["SyncToken"], card["PrivateNote"]) == ("0", "Materials for the Hopper job")
    later = next(p for p in company.all("Purchase") if p["DocNumber"] == "E-LATER")
    assert later["PaymentType"] == "Cash"
    assert len(company.all("Purchase")) == 3
