"""Projects, accounts and classes to QBO end to end (issue 19): a project (job) published
before its client waits for it, then lands as a sub-customer (``Job: true``, ``ParentRef``
the client) and reads back as the app's job; accounts (type and subtype checked first, with
the valid values named) and classes are created in QBO. Real worker, real Kafka, the QBO
sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo import ACCOUNT_SUB_TYPES
from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed, qbo_event, read_topic
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550007777"
TENANT = "q-1"


def event(entity: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return qbo_event(TENANT, entity, entity_id, payload)


def test_projects_as_sub_customers_accounts_and_classes(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 1.0
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    online.run.store.update_tenant_settings(TENANT, {"direction": {"job": "two_way"}})
    with changes_feed(settings, codec) as changes:
        # The project first: it waits for its client (clients before projects).
        publish(
            event(
                "job",
                "j-1",
                {
                    "parent_customer": {"id": "c-1"},
                    "name": "Kitchen remodel",
                    "description": "Cabinets and counters",
                },
            ),
            event(
                "account",
                "acc-bad-sub",
                {"name": "Tools", "account_type": "EXPENSE", "sub_type": "Checking"},
            ),
            event("account", "acc-np", {"name": "Quotes", "account_type": "NON_POSTING"}),
            event(
                "account",
                "acc-1",
                {
                    "name": "Job Supplies",
                    "number": "6120",
                    "account_type": "EXPENSE",
                    "sub_type": "SuppliesMaterials",
                },
            ),
            event("class", "cls-1", {"name": "East"}),
        )
        for _ in range(3):
            drain()
        assert synced("job", "j-1") is None
        assert all(c.get("Job") is not True for c in company.all("Customer"))
        publish(customer_event(TENANT, "c-1", {"last_name": "Hopper", "first_name": "Grace"}))
        until(
            lambda: (
                synced("job", "j-1") and synced("account", "acc-1") and synced("class", "cls-1")
            ),
            step=drain,
            timeout=120,
            what="the project, the account and the class in QBO",
        )
        client, project = (
            next(c for c in company.all("Customer") if c["DisplayName"] == name)
            for name in ("Hopper, Grace", "Kitchen remodel")
        )
        assert project["Job"] is True
        assert project["ParentRef"] == {"value": client["Id"]}
        assert project["FullyQualifiedName"] == "Hopper, Grace:Kitchen remodel"
        assert project["Notes"] == "Cabinets and counters"
        (account,) = company.all("Account")
        assert (account["Name"], account["AcctNum"]) == ("Job Supplies", "6120")
        assert (account["AccountType"], account["AccountSubType"]) == (
            "Expense",
            "SuppliesMaterials",
        )
        (klass,) = company.all("Class")
        assert klass["Name"] == "East"

        # Bad types: refused before sending, naming the field and the valid values.
        letters = read_topic(settings, codec, settings.topics.dead_letters, 1, 2)
        reasons = {d["entity_id"]: d["reason"] for d in letters}
        assert set(reasons) == {"acc-bad-sub", "acc-np"}
        assert "sub_type 'Checking'" in reasons["acc-bad-sub"]
        assert all(s in reasons["acc-bad-sub"] for s in ACCOUNT_SUB_TYPES["Expense"])
        assert "account_type is NON_POSTING" in reasons["acc-np"]
        assert "EXPENSE" in reasons["acc-np"]

        # Read back the same way: the project edited in QBO is the app's job j-1.
        mapped = synced("job", "j-1")
        assert mapped is not None
        company.edit("Customer", mapped.qb_id, {"Notes": "Cabinets, counters and floor"})

        def poll() -> list[dict[str, Any]]:
            drain()
            return [c for c in changes() if c["entity"] == "job"]

        (change,) = until(poll, timeout=120, what="the project's change read back")
        assert (change["entity_id"], change["kind"]) == ("j-1", "UPDATED")
        assert change["qb_id"] == mapped.qb_id
        job = change["job"]
        assert job["description"] == "Cabinets, counters and floor"
        assert job["parent_customer"]["id"] == "c-1"
        assert job["name"] == "Kitchen remodel"
