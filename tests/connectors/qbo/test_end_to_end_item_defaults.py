"""Default income/expense accounts and tax codes per item, overridable per project, over
QuickBooks Online (issue 19): an item naming no account gets the tenant's
``qbo_item_defaults`` accounts, sent as the company's account ``Id``; invoice lines naming no
tax code get the default tax code, or the project's (``qbo_project_defaults``) on a project's
invoice; a default account the company lacks is a dead letter naming the setting. Real
worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, dead_lettered, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001923"
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def invoice(entity_id: str, customer: str, *codes: str | None) -> dict[str, Any]:
    return event(
        "invoice",
        entity_id,
        {
            "customer": {"id": customer},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [
                {
                    "line_id": f"l{n}",
                    "item": {"id": "itm-service"},
                    "amount": "100.00",
                    "sales_tax_code": {"full_name": code} if code else None,
                }
                for n, code in enumerate(codes)
            ],
        },
    )


def test_item_accounts_and_line_tax_codes_default_and_a_project_overrides(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    accounts = {}
    for name, kind in (("Consulting Income", "Income"), ("Materials", "Cost of Goods Sold")):
        status, made = company.create("Account", {"Name": name, "AccountType": kind})
        assert status == 200
        accounts[name] = made["Account"]["Id"]
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    store = online.run.store
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    store.update_tenant_settings(
        TENANT,
        {
            "qbo_item_defaults": {
                "income_account": "Consulting Income",
                "expense_account": "Materials",
                "tax_code": "NON",
            },
            "qbo_project_defaults": {"j-1": {"tax_code": "TAX"}},
        },
    )
    publish(
        event("item", "itm-1", {"name": "Design hours", "item_type": "SERVICE"}),
        event("item", "itm-2", {"name": "Lumber", "item_type": "NON_INVENTORY"}),
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}),
        event("job", "j-1", {"parent_customer": {"id": "c-1"}, "name": "Clinic fit-out"}),
        invoice("inv-c", "c-1", None, "Taxable"),
        invoice("inv-j", "j-1", None),
    )
    until(lambda: synced("invoice", "inv-j"), step=drain, timeout=120, what="inv-j")
    until(lambda: synced("item", "itm-2"), step=drain, timeout=120, what="itm-2")

    items = {i["Name"]: i for i in company.all("Item")}
    design, lumber = items["Design hours"], items["Lumber"]
    assert design["IncomeAccountRef"]["value"] == accounts["Consulting Income"]
    assert "ExpenseAccountRef" not in design  # a service item sells only
    assert lumber["IncomeAccountRef"]["value"] == accounts["Consulting Income"]
    assert lumber["ExpenseAccountRef"]["value"] == accounts["Materials"]

    def codes(number: str) -> list[Any]:
        (found,) = [i for i in company.all("Invoice") if i["DocNumber"] == number]
        return [
            (line["SalesItemLineDetail"].get("TaxCodeRef") or {}).get("value")
            for line in found["Line"]
            if line.get("DetailType") == "SalesItemLineDetail"
        ]

    assert codes("INV-C") == ["NON", "TAX"]  # the default; a line's own code wins
    assert codes("INV-J") == ["TAX"]  # the project's override

    # A default account the company lacks: a dead letter naming the setting.
    store.update_tenant_settings(
        TENANT, {"qbo_item_defaults": {"income_account": "Nowhere Income"}}
    )
    publish(event("item", "itm-3", {"name": "Travel", "item_type": "SERVICE"}))

    (dead,) = until(dead_lettered(online, "itm-3"), timeout=120, what="itm-3 dead-lettered")
    assert "IncomeAccountRef" in dead["reason"]
    assert "'Nowhere Income'" in dead["reason"]
    assert "qbo_item_defaults.income_account" in dead["reason"]
    assert "Travel" not in {i["Name"] for i in company.all("Item")}
