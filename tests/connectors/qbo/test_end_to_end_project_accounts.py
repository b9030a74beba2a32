"""Per-project expense accounts over QuickBooks Online (issue 19): a bill line for a project
with ``qbo_project_defaults.<job>.expense_account`` is booked to that account (sent as the
company's Id), other lines to their own; a project account the company lacks is a dead letter
naming the setting. A per-project income account is refused as a setting: a QBO invoice line
books to its item's income account and carries none (docs/qbo.md). Real worker, real Kafka,
the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import customer_event
from core.settings import Settings
from streams.tenant_settings import SettingsError, TenantSettings, apply_changes
from tests.support.qbo import StartOnline, dead_lettered, qbo_event
from tests.support.waiting import until

REALM = "5550001937"
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def bill(entity_id: str) -> dict[str, Any]:
    return event(
        "bill",
        entity_id,
        {
            "vendor": {"id": "v-1"},
            "ref_number": entity_id.upper(),
            "txn_date": "2026-03-03",
            "status": "APPROVED",
            "expense_lines": [
                {
                    "account": {"id": "acc-freight"},
                    "amount": amount,
                    "memo": "Freight",
                    "customer": {"id": customer},
                }
                for customer, amount in (("c-1", "10.00"), ("j-1", "25.00"))
            ],
        },
    )


def test_a_project_income_account_is_refused_as_a_setting() -> None:
    with pytest.raises(SettingsError, match="income_account"):
        apply_changes(TenantSettings(), ["qbo_project_defaults.j-1.income_account=Clinic Income"])
    changed = apply_changes(
        TenantSettings(), ["qbo_project_defaults.j-1.expense_account=Clinic Job Costs"]
    )
    assert changed.qbo_project_defaults["j-1"].expense_account == "Clinic Job Costs"


@pytest.mark.integration
def test_a_projects_bill_lines_go_to_its_expense_account(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    accounts = {}
    for name in ("Freight In", "Clinic Job Costs"):
        status, made = company.create("Account", {"Name": name, "AccountType": "Expense"})
        assert status == 200
        accounts[name] = made["Account"]["Id"]
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    store = online.run.store
    store.save_mapping(
        Mapping(TENANT, "account", "acc-freight", accounts["Freight In"], "0", "Freight In")
    )
    store.update_tenant_settings(
        TENANT, {"qbo_project_defaults": {"j-1": {"expense_account": "Clinic Job Costs"}}}
    )
    publish(
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}),
        event("job", "j-1", {"parent_customer": {"id": "c-1"}, "name": "Clinic fit-out"}),
        event("vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Midwest Duct"}),
        bill("b-1"),
    )
    until(lambda: synced("bill", "b-1"), step=drain, timeout=120, what="b-1")
    (landed,) = company.all("Bill")
    client, project = (synced("customer", "c-1"), synced("job", "j-1"))
    assert client is not None
    assert project is not None
    booked = {
        line["AccountBasedExpenseLineDetail"]["CustomerRef"]["value"]: line[
            "AccountBasedExpenseLineDetail"
        ]["AccountRef"]["value"]
        for line in landed["Line"]
    }
    assert booked == {
        client.qb_id: accounts["Freight In"],  # the line's own
        project.qb_id: accounts["Clinic Job Costs"],  # the project's
    }

    # A project account the company lacks: a dead letter naming the setting.
    store.update_tenant_settings(
        TENANT, {"qbo_project_defaults": {"j-1": {"expense_account": "Nowhere Costs"}}}
    )
    publish(bill("b-2"))
    (dead,) = until(dead_lettered(online, "b-2"), timeout=120, what="b-2 dead-lettered")
    assert "AccountRef" in dead["reason"]
    assert "'Nowhere Costs'" in dead["reason"]
    assert "qbo_project_defaults.<job id>.expense_account" in dead["reason"]
    assert "Clinic Job Costs" in dead["reason"]  # among the company's accounts
    assert [b["DocNumber"] for b in company.all("Bill")] == ["B-1"]
