"""Time entries both ways with a QuickBooks Online company (issue 19: the time entries
module's Get beside its Send). CDC has no ``TimeActivity``, so the reader asks the query
language since the entity's watermark: time the bookkeeper enters in QBO reaches the app as
its time entry (its worker the app's employee), the app's own entry read back is not told
again (echo), and an edit in QBO of the app's entry arrives as an update of it. Real worker,
real Kafka, the QBO sandbox over HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo import DataChange, ReaderConfig, sweep_key, webhook_hints
from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.settings import Settings
from tests.support.qbo import QboPipeline, StartOnline, changes_feed, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550004412"
TENANT = "q-1"


def the_apps_entry_in_qbo(
    settings: Settings, start_online: StartOnline
) -> tuple[QboPipeline, Mapping, Mapping]:
    """The pipeline reading time back (only when a test asks), with the app's employee and
    its time entry ``te-app`` synced to QBO: their mappings."""
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
    return online, ada, ours


def test_time_entered_in_qbo_reaches_the_app_and_its_own_does_not_come_back(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    online, ada, ours = the_apps_entry_in_qbo(settings, start_online)
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


def bookkeepers_entry(company: Company, employee_id: str, day: str, hours: int) -> str:
    """A time entry entered in QBO's screens; its Id."""
    entry = {"NameOf": "Employee", "EmployeeRef": {"value": employee_id}, "TxnDate": day}
    status, body = company.create("TimeActivity", {**entry, "Hours": hours})
    assert status == 200
    return str(body["TimeActivity"]["Id"])


def test_a_time_entry_deleted_in_qbo_is_told_to_its_app_once(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    """CDC has no ``TimeActivity`` and a query cannot name what is gone: the time entries
    qbsync knows are asked by id (a sweep, hourly or at once when a webhook says one was
    deleted); the app's entry deleted by the bookkeeper is told to it once, one entered
    and deleted in QBO is no longer offered for matching."""
    online, ada, ours = the_apps_entry_in_qbo(settings, start_online)
    store = online.run.store
    entered = bookkeepers_entry(company, ada.qb_id, "2026-03-03", 1)
    online.read_again("time_tracking")  # the first read sweeps too: nothing is gone
    kept = {r.qb_id for r in store.qb_records(online.profile_id, "time_tracking")}
    assert {ours.qb_id, entered} <= kept
    swept = store.watermarks(online.profile_id)[sweep_key("TimeActivity")]
    assert swept.completed_at is not None
    assert swept.records == 0

    company.remove("TimeActivity", ours.qb_id)
    company.remove("TimeActivity", entered)
    # Intuit's webhook names the deletion: only a hint, which makes the sweep due now.
    hint = webhook_hints(
        online.runtime.connections,
        store,
        ReaderConfig(settings.topics.imports, ("TimeActivity",)),
    )
    hint([DataChange(REALM, "TimeActivity", ours.qb_id, "Delete", "2026-03-04T08:00:00Z")])
    assert store.watermarks(online.profile_id)[sweep_key("TimeActivity")].requested_at
    with changes_feed(settings, online.codec) as feed:
        online.read_again("time_tracking")

        def told() -> list[dict[str, Any]]:
            return [c for c in feed() if c["deleted"]]

        (change,) = until(told, timeout=60, what="the deletion told to the app")
        assert (change["tenant_id"], change["entity"], change["entity_id"]) == (
            TENANT,
            "time_entry",
            "te-app",
        )
        assert (change["kind"], change["qb_id"]) == ("DEACTIVATED", ours.qb_id)
        assert store.watermarks(online.profile_id)[sweep_key("TimeActivity")].records == 2
        # Neither is offered for matching any more.
        kept = {r.qb_id for r in store.qb_records(online.profile_id, "time_tracking")}
        assert not kept & {ours.qb_id, entered}

        # Swept again (the app's mapping stays: still gone): nothing new told. The
        # sweep's deletions are published ahead of what the same read finds, so a time
        # entry entered meanwhile arriving means the deletion was reconciled before it.
        sentinel = bookkeepers_entry(company, ada.qb_id, "2026-03-05", 2)
        hint([DataChange(REALM, "TimeActivity", ours.qb_id, "Delete", "2026-03-04T08:00:00Z")])
        online.read_again("time_tracking")
        assert store.watermarks(online.profile_id)[sweep_key("TimeActivity")].records == 3
        until(
            lambda: any(c["qb_id"] == sentinel for c in feed()),
            timeout=60,
            what="the time entry read with the second sweep",
        )
        assert [c["entity_id"] for c in feed() if c["deleted"]] == ["te-app"]
