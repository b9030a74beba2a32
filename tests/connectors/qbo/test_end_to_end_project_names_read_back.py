"""A project qbsync had to name ``"<name> (<client>)"`` in QuickBooks Online (display names
are unique across customers, vendors, employees and projects there) comes back to the app
under the app's own name when read back (jobs Get, issue 19): the bookkeeper edits it in
QBO, the app is told of the edit, not of a rename. Real worker, real Kafka, the QBO sandbox
over HTTP, SQLite and PostgreSQL."""

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


def test_a_project_qualified_in_qbo_reaches_the_app_under_its_own_name(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 3600.0  # only the reads the test asks for
    online = start_online()
    online.run.store.update_tenant_settings(TENANT, {"direction": {"job": "two_way"}})
    online.publish(
        qbo_event(TENANT, "customer", "c-a", {"company_name": "Acme Builders"}),
        qbo_event(TENANT, "customer", "c-b", {"company_name": "Birch Homes"}),
        qbo_event(TENANT, "job", "j-a", {"parent_customer": {"id": "c-a"}, "name": "Phase 1"}),
        qbo_event(TENANT, "job", "j-b", {"parent_customer": {"id": "c-b"}, "name": "Phase 1"}),
    )
    until(
        lambda: online.synced("job", "j-a") and online.synced("job", "j-b"),
        step=online.drain,
        timeout=120,
        what="both projects in QBO",
    )
    held = {c["Id"]: c["DisplayName"] for c in company.all("Customer") if c.get("Job")}
    birch = online.synced("job", "j-b")
    assert birch is not None
    # Whichever landed second was qualified with its client's name.
    assert sorted(held.values()) in (
        ["Phase 1", "Phase 1 (Birch Homes)"],
        ["Phase 1", "Phase 1 (Acme Builders)"],
    )
    qualified_id = next(i for i, name in held.items() if name != "Phase 1")
    acme = online.synced("job", "j-a")
    assert acme is not None
    ours = "j-b" if qualified_id == birch.qb_id else "j-a"

    # The bookkeeper edits the qualified project in QBO.
    company.edit("Customer", qualified_id, {"Notes": "Gate code 4411"})
    with changes_feed(settings, online.codec) as feed:
        online.read_again("customer")

        def told() -> list[dict[str, Any]]:
            return [c for c in feed() if c["entity"] == "job"]

        (change,) = until(told, timeout=60, what="the edit told to the app")
        assert (change["kind"], change["entity_id"]) == ("UPDATED", ours)
        job = change["job"]
        assert (job["name"], job["description"]) == ("Phase 1", "Gate code 4411")
    # QBO keeps its name: nothing was renamed there.
    now = {c["Id"]: c["DisplayName"] for c in company.all("Customer")}
    assert now[qualified_id] == held[qualified_id]
