"""Per-project items (``connectors.qbo._project_items``): the name within QBO's 100
characters; and, through the real client against the QBO sandbox over HTTP, what the
``project-items`` check does to an invoice before its write: the per-project item found or
made, re-booked when the project's account changed, made active again when QBO holds it
inactive, an inventory item refused."""

from __future__ import annotations

from typing import Any

from connectors.qbo import (
    PROJECT_INCOME_ACCOUNT,
    PROJECT_ITEMS,
    QboEntityRequest,
    QboOperation,
    project_item_name,
)
from connectors.qbo._checks import NO_PROJECT_ITEM, CompanyChecks, Refusal
from connectors.qbo_sandbox import Company
from tests.support.qbo import add_qbo_profile, connect, qbo_world

REALM = "3330019"


def test_a_project_items_name_fits_and_long_names_stay_apart() -> None:
    assert project_item_name("Design hours", "Clinic fit-out") == "Design hours (Clinic fit-out)"
    assert project_item_name("A:B", "P\tQ") == "A-B (P Q)"  # no sub-item colon, one line
    long_a = project_item_name("Design hours", "Clinic " + "x" * 120 + " one")
    long_b = project_item_name("Design hours", "Clinic " + "x" * 120 + " two")
    assert len(long_a) <= 100
    assert len(long_b) <= 100
    assert long_a != long_b
    assert long_a.startswith("Design hours (Clinic xxx")
    assert long_a.endswith(")")


def test_the_sandbox_refuses_an_item_name_over_100_characters() -> None:
    company = Company("r-names")
    status, answer = company.create("Item", {"Name": "x" * 101, "Type": "Service"})
    assert status == 400
    assert answer["Fault"]["Error"][0]["code"] == "2050"
    assert company.create("Item", {"Name": "x" * 100, "Type": "Service"})[0] == 200


def _made(company: Company, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    status, answer = company.create(entity, body)
    assert status == 200, answer
    return dict(answer[entity])


def _invoice(project: str, *items: str, account: str = "Clinic Income") -> QboEntityRequest:
    lines = [
        {
            "Amount": 100,
            "DetailType": "SalesItemLineDetail",
            "SalesItemLineDetail": {"ItemRef": {"value": item}, PROJECT_INCOME_ACCOUNT: account},
        }
        for item in items
    ]
    body = {"CustomerRef": {"value": project}, "Line": lines}
    return QboEntityRequest(QboOperation.CREATE, "Invoice", body, ("names", PROJECT_ITEMS))


def _items(request: QboEntityRequest | Refusal) -> list[str]:
    assert isinstance(request, QboEntityRequest), request
    details = [line["SalesItemLineDetail"] for line in request.body["Line"]]
    assert all(PROJECT_INCOME_ACCOUNT not in d for d in details)
    return [d["ItemRef"]["value"] for d in details]


def test_the_check_finds_or_makes_the_project_item_and_refuses_inventory(
    database_url: str,
) -> None:
    with qbo_world(database_url) as world:
        company = world.sandbox.add_company(REALM)
        connect(world, add_qbo_profile(world.store, "Online Co"), REALM)
        income = {
            n: _made(company, "Account", {"Name": n, "AccountType": "Income"})["Id"]
            for n in ("Sales", "Clinic Income", "Clinic Fees")
        }
        service = _made(
            company,
            "Item",
            {
                "Name": "Design hours",
                "Type": "Service",
                "UnitPrice": 120,
                "Taxable": True,
                "IncomeAccountRef": {"value": income["Sales"]},
            },
        )
        stock = _made(
            company,
            "Item",
            {"Name": "Tiles", "Type": "Inventory", "IncomeAccountRef": {"value": income["Sales"]}},
        )
        client = _made(company, "Customer", {"DisplayName": "Harbor Dental"})
        project = _made(
            company,
            "Customer",
            {"DisplayName": "Clinic fit-out", "Job": True, "ParentRef": {"value": client["Id"]}},
        )
        checks = CompanyChecks(world.client)

        first = checks.named(REALM, _invoice(project["Id"], service["Id"], service["Id"]))
        (own,) = [i for i in company.all("Item") if i["Name"] == "Design hours (Clinic fit-out)"]
        assert _items(first) == [own["Id"], own["Id"]]  # two lines, one item made
        assert own["IncomeAccountRef"]["value"] == income["Clinic Income"]
        assert (own["Type"], own["UnitPrice"], own["Taxable"]) == ("Service", 120, True)
        assert isinstance(first, QboEntityRequest)
        assert any("created" in note for note in first.notes)

        # Another sender (nothing cached) finds it by name: not made twice.
        again = CompanyChecks(world.client).named(REALM, _invoice(project["Id"], service["Id"]))
        assert _items(again) == [own["Id"]]
        assert isinstance(again, QboEntityRequest)
        assert any("reused" in note for note in again.notes)

        # The project's account changed: the same item, booked to the new account.
        moved = CompanyChecks(world.client).named(
            REALM, _invoice(project["Id"], service["Id"], account="Clinic Fees")
        )
        assert _items(moved) == [own["Id"]]
        assert [i["Name"] for i in company.all("Item")].count("Design hours (Clinic fit-out)") == 1
        (rebooked,) = [i for i in company.all("Item") if i["Id"] == own["Id"]]
        assert rebooked["IncomeAccountRef"]["value"] == income["Clinic Fees"]

        # The bookkeeper makes it inactive (the project closed); an invoice of the project
        # comes after all: the same item, active again (its name is taken while inactive:
        # making another would be refused 6240), the sync log says so.
        company.edit("Item", own["Id"], {"Active": False})
        revived = CompanyChecks(world.client).named(
            REALM, _invoice(project["Id"], service["Id"], account="Clinic Fees")
        )
        assert _items(revived) == [own["Id"]]
        assert isinstance(revived, QboEntityRequest)
        assert any("reactivated" in note for note in revived.notes)
        (active,) = [i for i in company.all("Item") if i["Id"] == own["Id"]]
        assert active["Active"] is True
        assert [i["Name"] for i in company.all("Item")].count("Design hours (Clinic fit-out)") == 1

        refused = checks.named(REALM, _invoice(project["Id"], stock["Id"]))
        assert isinstance(refused, Refusal)
        assert refused.code == NO_PROJECT_ITEM
        assert "'Tiles'" in refused.reason
        assert "qbo_project_defaults.<job id>.income_account" in refused.reason
        assert "Tiles (Clinic fit-out)" not in {i["Name"] for i in company.all("Item")}
