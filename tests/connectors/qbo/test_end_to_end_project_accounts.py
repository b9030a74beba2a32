"""Per-project accounts over QuickBooks Online (issue 19). A bill line for a project with
``qbo_project_defaults.<job>.expense_account`` is booked to that account (sent as the
company's Id), other lines to their own. An invoice of a project with its own
``income_account`` refers to a per-project item, "<item> (<project>)", made once on demand
with that income account and reused (a QBO invoice line carries no account: docs/qbo.md);
another project's invoice keeps the base item. A project account the company lacks is a
dead letter naming the setting. Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo import PROJECT_INCOME_ACCOUNT
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


def test_a_project_income_account_is_a_setting_checked_when_set() -> None:
    changed = apply_changes(
        TenantSettings(),
        [
            "qbo_project_defaults.j-1.income_account= Income : Clinics ",
            "qbo_project_defaults.j-1.expense_account=Clinic Job Costs",
        ],
    )
    assert changed.qbo_project_defaults["j-1"].income_account == "Income:Clinics"
    assert changed.qbo_project_defaults["j-1"].expense_account == "Clinic Job Costs"
    for bad in ("  ", "Income::Clinics", "x" * 101):
        with pytest.raises(SettingsError) as refused:
            apply_changes(TenantSettings(), [f"qbo_project_defaults.j-1.income_account={bad}"])
        said = str(refused.value)
        assert said.startswith("qbo_project_defaults.j-1.income_account:"), said
        assert "full name" in said, said  # what to give instead


def make_accounts(company: Company, kind: str, *names: str) -> dict[str, str]:
    """Accounts of ``kind`` made in the QBO company before the run: name -> Id."""
    accounts = {}
    for name in names:
        status, made = company.create("Account", {"Name": name, "AccountType": kind})
        assert status == 200
        accounts[name] = made["Account"]["Id"]
    return accounts


def invoice(entity_id: str, project: str) -> dict[str, Any]:
    return event(
        "invoice",
        entity_id,
        {
            "customer": {"id": project},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [{"line_id": "l1", "item": {"id": "itm-1"}, "amount": "240.00"}],
        },
    )


@pytest.mark.integration
def test_a_projects_invoices_book_to_its_income_account_through_a_project_item(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    accounts = make_accounts(company, "Income", "Consulting Income", "Clinic Income")
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    store = online.run.store
    store.update_tenant_settings(
        TENANT,
        {
            "qbo_item_defaults": {"income_account": "Consulting Income"},
            "qbo_project_defaults": {"j-1": {"income_account": "Clinic Income"}},
        },
    )
    publish(
        event(
            "item",
            "itm-1",
            {
                "name": "Design hours",
                "item_type": "SERVICE",
                "price": "120.00",
                "description": "Design work",
            },
        ),
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}),
        event("job", "j-1", {"parent_customer": {"id": "c-1"}, "name": "Clinic fit-out"}),
        event("job", "j-2", {"parent_customer": {"id": "c-1"}, "name": "Lobby repaint"}),
        invoice("inv-1", "j-1"),
        invoice("inv-2", "j-1"),
        invoice("inv-3", "j-2"),
    )
    for number in ("inv-1", "inv-2", "inv-3"):
        until(lambda n=number: synced("invoice", n), step=drain, timeout=120, what=number)

    items = {i["Name"]: i for i in company.all("Item")}
    base, own = items["Design hours"], items["Design hours (Clinic fit-out)"]
    assert base["IncomeAccountRef"]["value"] == accounts["Consulting Income"]
    assert own["IncomeAccountRef"]["value"] == accounts["Clinic Income"]
    assert (own["Type"], own["UnitPrice"], own["Description"]) == ("Service", 120.0, "Design work")
    made = [c.entity_id for c in company.changes if (c.entity, c.operation) == ("Item", "Create")]
    assert made[made.index(base["Id"]) :] == [base["Id"], own["Id"]]  # the project's, once

    def item_of(number: str) -> str:
        (found,) = [i for i in company.all("Invoice") if i["DocNumber"] == number]
        (line,) = [x for x in found["Line"] if x.get("DetailType") == "SalesItemLineDetail"]
        assert PROJECT_INCOME_ACCOUNT not in line["SalesItemLineDetail"]  # never sent
        return str(line["SalesItemLineDetail"]["ItemRef"]["value"])

    assert [item_of(n) for n in ("INV-1", "INV-2", "INV-3")] == [
        own["Id"],
        own["Id"],  # reused
        base["Id"],  # a project without an override: the base item
    ]

    def logged(entity_id: str) -> str:
        entries = store.sync_log(TENANT, entity="invoice", entity_id=entity_id)
        (entry,) = [e for e in entries if e.status == "synced"]
        return str(entry.message)

    assert "'Design hours (Clinic fit-out)'" in logged("inv-1")
    assert "created" in logged("inv-1")
    assert "reused" in logged("inv-2")
    assert "Clinic fit-out" not in logged("inv-3")

    # A project income account the company lacks: a dead letter naming the setting.
    store.update_tenant_settings(
        TENANT, {"qbo_project_defaults": {"j-1": {"income_account": "Nowhere Income"}}}
    )
    publish(invoice("inv-4", "j-1"))
    (dead,) = until(dead_lettered(online, "inv-4"), timeout=120, what="inv-4 dead-lettered")
    assert "'Nowhere Income'" in dead["reason"]
    assert "qbo_project_defaults.<job id>.income_account" in dead["reason"]
    assert "Clinic Income" in dead["reason"]  # among the company's accounts
    assert "INV-4" not in {i["DocNumber"] for i in company.all("Invoice")}


@pytest.mark.integration
def test_a_projects_bill_lines_go_to_its_expense_account(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    accounts = make_accounts(company, "Expense", "Freight In", "Clinic Job Costs")
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
