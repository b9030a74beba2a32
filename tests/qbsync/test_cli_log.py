"""``qbsync log export``: the sync log as CSV, per tenant, since a date."""

from __future__ import annotations

import csv
import io
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.store import Store, SyncLogEntry, upgrade
from qbsync.cli import app


def entry(tenant: str, entity_id: str, at: datetime, status: str = "synced") -> SyncLogEntry:
    return SyncLogEntry(
        at=at,
        tenant_id=tenant,
        profile_id="p1",
        entity="invoice",
        entity_id=entity_id,
        command_id="4b0c6b0e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
        action="ADD",
        status=status,
        code=0 if status == "synced" else 3171,
        message="Status OK"
        if status == "synced"
        else 'The "date" field is before the closing date, "Comma, too"',
        qb_id="1-2" if status == "synced" else None,
    )


def test_export_csv_per_tenant_since(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path))
    url = f"sqlite:///{(tmp_path / 'qbsync.db').resolve()}"
    upgrade(url)
    store = Store(url)
    store.log_sync(entry("t-1", "INV-1", datetime(2026, 1, 5, tzinfo=UTC)))
    store.log_sync(entry("t-1", "INV-2", datetime(2026, 2, 5, tzinfo=UTC), status="failed"))
    store.log_sync(entry("t-2", "INV-9", datetime(2026, 2, 6, tzinfo=UTC)))
    store.close()

    runner = CliRunner()
    everything = runner.invoke(app, ["log", "export", "--tenant", "t-1", "--csv"])
    assert everything.exit_code == 0, everything.output
    rows = list(csv.DictReader(io.StringIO(everything.stdout)))
    assert [(r["entity_id"], r["status"], r["code"]) for r in rows] == [
        ("INV-1", "synced", "0"),
        ("INV-2", "failed", "3171"),
    ]
    assert rows[1]["message"].endswith('"Comma, too"')  # quoted properly, not split

    recent = runner.invoke(app, ["log", "export", "--tenant", "t-1", "--since", "2026-02-01"])
    assert [r["entity_id"] for r in csv.DictReader(io.StringIO(recent.stdout))] == ["INV-2"]
