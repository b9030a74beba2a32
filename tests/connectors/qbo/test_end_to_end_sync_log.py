"""The sync log per record over QuickBooks Online (issue 19): every command the QBO sender
settled is in the tenant's log with QBO's id; ``qbsync log export --entity --id`` writes one
record's history as CSV, ``qbsync log clear`` deletes it (that record's only). Real worker,
real Kafka, the QBO sandbox over HTTP, the CLI on the same store."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, cli_sees, cli_stdout
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001921"
TENANT = "q-1"


def exported(tmp_path: Path, *narrow: str) -> list[dict[str, Any]]:
    target = tmp_path / "log.csv"
    cli_stdout("log", "export", "--tenant", TENANT, "--csv", "--output", str(target), *narrow)
    with target.open(newline="", encoding="utf-8") as found:
        return list(csv.DictReader(found))


def test_a_records_log_over_qbo_exports_as_csv_and_clears(
    settings: Settings,
    tmp_path: Path,
    company: Company,
    start_online: StartOnline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    online = start_online()
    cli_sees(settings, monkeypatch)
    online.publish(
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}),
        customer_event(TENANT, "c-2", {"company_name": "Quay Optics"}),
    )
    until(lambda: online.synced("customer", "c-2"), step=online.drain, timeout=120, what="c-2")
    first = online.synced("customer", "c-1")
    assert first is not None
    online.publish(
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental", "phone": "555-0101"})
    )

    def history() -> list[dict[str, Any]]:
        online.drain()
        rows = exported(tmp_path, "--entity", "customer", "--id", "c-1")
        return rows if len(rows) == 2 else []

    rows = until(history, timeout=120, what="c-1's create and update in the log")
    assert [(r["entity"], r["entity_id"], r["status"]) for r in rows] == [
        ("customer", "c-1", "synced"),
        ("customer", "c-1", "synced"),
    ]
    # QBO's id of the one customer, the same for the create and the update.
    qbo_ids = {c["DisplayName"]: c["Id"] for c in company.all("Customer")}
    assert {r["qb_id"] for r in rows} == {qbo_ids["Harbor Dental"]}
    assert len({r["command_id"] for r in rows}) == 2
    assert [r["entity_id"] for r in exported(tmp_path)].count("c-2") == 1

    cleared = json.loads(
        cli_stdout(
            "log", "clear", "--tenant", TENANT, "--entity", "customer", "--id", "c-1", "--json"
        )
    )
    assert cleared["cleared"] == 2
    assert exported(tmp_path, "--entity", "customer", "--id", "c-1") == []
    rest = exported(tmp_path)
    assert [(r["entity_id"], r["qb_id"]) for r in rest] == [("c-2", qbo_ids["Quay Optics"])]
    # Only the history went: the mapping stays, QBO still has both customers once.
    assert online.synced("customer", "c-1") is not None
    assert sorted(qbo_ids) == ["Harbor Dental", "Quay Optics"]
