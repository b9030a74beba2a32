"""Time entries both ways with a QuickBooks Online company (issue 19: the time entries
module's Get beside its Send). CDC has no ``TimeActivity``, so the reader asks the query
language since the entity's watermark: time the bookkeeper enters in QBO reaches the app as
its time entry (its worker the app's employee), the app's own entry read back is not told
again (echo), and an edit in QBO of the app's entry arrives as an update of it. Real worker,
real Kafka, the QBO sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550004412"
TENANT = "q-1"


def test_time_entered_in_qbo_reaches_the_app_and_its_own_does_not_come_back(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    settings.qbo.read_entities = "TimeActivity"
    settings.qbo.read_interval_s = 3600.0  # only the reads the test asks for
    online = start_online()
    online.run.store.update_tenant_settings(TENANT, {"direction": {"time_entry": "two_way"}})
    online.publish(
        qbo_event(
            TENANT,
            "employee",
            "e-1",
            {"first_name": "Ada", "last_name": "Lovelace", "employment_type": "EMPLOYEE"},
        ),
        qbo_event(
            TENANT,
            "time_entry",
            "te-app",
            {"employee": {"id": "e-1"}, "date": "2026-03-02", "duration_minutes": 120},
        ),
    )
    until(
        lambda: online.synced("time_entry", "te-app") is not None,
        step=online.drain,
        timeout=120,
        what="the app's time entry in QBO",
    )
    ada = online.synced("employee", "e-1")
    ours = online.synced("time_entry", "te-app")
    assert ada is not None
    assert ours is not None
    status, body = company.create(
        "TimeActivity",
        {
            "NameOf": "Employee",
            "EmployeeRef": {"value": ada.qb_id, "name": "Ada Lovelace"},
            "TxnDate": "2026-03-03",
            "Hours": 3,
            "Minutes": 15,
            "BillableStatus": "NotBillable",
            "Description": "entered by the bookkeeper",
        },
    )
    assert status == 200
    entered = body["TimeActivity"]

    with changes_feed(settings, online.codec) as feed:
        online.read_again("time_tracking")

        def told() -> list[dict[str, Any]]:
            return [c for c in feed() if c["entity"] == "time_entry"]

        (created,) = until(told, timeout=60, what="the QBO time entry told to the app")
        assert (created["kind"], created["entity_id"], created["qb_id"]) == (
            "CREATED",
            None,
            entered["Id"],
        )
        entry = created["time_entry"]
        assert entry["employee"] == {"id": "e-1", "full_name": "Ada Lovelace"}
        assert (entry["duration_minutes"], entry["memo"]) == (195, "entered by the bookkeeper")

        # The bookkeeper corrects the app's entry in QBO: an update of te-app.
        company.edit("TimeActivity", ours.qb_id, {"Hours": 2, "Minutes": 30})
        online.read_again("time_tracking")

        def updated() -> list[dict[str, Any]]:
            return [c for c in told() if c["kind"] == "UPDATED"]

        (change,) = until(updated, timeout=60, what="the edit told to the app")
        assert (change["entity_id"], change["time_entry"]["duration_minutes"]) == ("te-app", 150)
        # Never the app's own write read back, nor anything twice.
        assert len(told()) == 2
