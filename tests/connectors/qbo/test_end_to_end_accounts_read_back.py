"""The chart of accounts and the classes both ways with a QuickBooks Online company (issue
19: the accounts and classes modules' Get beside their Send): an account and a class the
bookkeeper adds in QBO reach the app (an account's type as the app's symbol, its QBO
subtype, a sub-account's parent as the app's account), the app's own account read back is
not told again (echo), and the bookkeeper's edit of it arrives as an update. Real worker,
real Kafka, the QBO sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550004413"
TENANT = "q-1"


def test_accounts_and_classes_added_in_qbo_reach_the_app_and_its_own_do_not_come_back(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    settings.qbo.read_entities = "Account,Class"
    settings.qbo.read_interval_s = 3600.0  # only the reads the test asks for
    online = start_online()
    online.run.store.update_tenant_settings(
        TENANT, {"direction": {"account": "two_way", "class": "from_quickbooks"}}
    )
    online.publish(
        qbo_event(
            TENANT,
            "account",
            "acc-materials",
            {"name": "Job Materials", "account_type": "COST_OF_GOODS_SOLD"},
        )
    )
    until(
        lambda: online.synced("account", "acc-materials") is not None,
        step=online.drain,
        timeout=120,
        what="the app's account in QBO",
    )
    ours = online.synced("account", "acc-materials")
    assert ours is not None
    for name, values in (
        ("Fuel", {"AccountType": "Expense", "AccountSubType": "Auto", "AcctNum": "6100"}),
        ("Lumber", {"AccountType": "Cost of Goods Sold", "ParentRef": {"value": ours.qb_id}}),
    ):
        status, _ = company.create("Account", {"Name": name, **values})
        assert status == 200, name
    status, _ = company.create("Class", {"Name": "North"})
    assert status == 200

    with changes_feed(settings, online.codec) as feed:
        online.read_again("account")
        online.read_again("class")

        def told(entity: str) -> dict[str, dict[str, Any]]:
            return {c[entity]["name"]: c for c in feed() if c["entity"] == entity}

        accounts = until(
            lambda: told("account") if len(told("account")) == 2 else None,
            timeout=60,
            what="the two QBO accounts told to the app",
        )
        fuel, lumber = accounts["Fuel"], accounts["Lumber"]
        assert (fuel["kind"], fuel["entity_id"]) == ("CREATED", None)
        assert {k: fuel["account"][k] for k in ("account_type", "sub_type", "number")} == {
            "account_type": "EXPENSE",
            "sub_type": "Auto",
            "number": "6100",
        }
        assert lumber["account"]["account_type"] == "COST_OF_GOODS_SOLD"
        assert lumber["account"]["parent"]["id"] == "acc-materials"
        (north,) = until(lambda: list(told("class").values()), timeout=60, what="the class")
        assert (north["kind"], north["class"]["name"], north["class"]["is_active"]) == (
            "CREATED",
            "North",
            True,
        )
        assert "Job Materials" not in told("account")  # the app's own, read back: no echo

        # The bookkeeper describes the app's account in QBO: an update of acc-materials.
        company.edit("Account", ours.qb_id, {"Description": "lumber, drywall, fixings"})
        online.read_again("account")

        def updated() -> list[dict[str, Any]]:
            return [c for c in feed() if c["entity"] == "account" and c["kind"] == "UPDATED"]

        (change,) = until(updated, timeout=60, what="the edit told to the app")
        assert change["entity_id"] == "acc-materials"
        assert change["account"]["description"] == "lumber, drywall, fixings"
