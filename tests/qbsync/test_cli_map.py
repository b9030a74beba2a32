"""``qbsync map``: list, match (from a file, by hand), unmatch, against a real store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.qbwc import create_profile
from connectors.store import Mapping, Store, upgrade
from core.settings import Settings
from qbsync.cli import app


@pytest.fixture
def store(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Store:
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(settings.data_dir))
    upgrade(settings.database_url)
    opened = Store(settings.database_url)
    created = create_profile(opened, name="Books", tenants=["t-1"])
    opened.save_qb_records(
        created.profile.id,
        "customer",
        [
            {"qb_id": "Q1", "full_name": "Lovelace, Ada", "edit_sequence": "7"},
            {"qb_id": "Q2", "full_name": "Smith & Sons, Inc."},
            {"qb_id": "Q3", "full_name": "Turing"},
        ],
    )
    opened.save_mapping(Mapping("t-1", "customer", "c-3", "Q3", "2", "Turing"))
    return opened


def test_match_from_a_file_reports_and_maps(store: Store, tmp_path: Path) -> None:
    records = tmp_path / "customers.csv"
    records.write_text('id,name\nc-1,"Lovelace, Ada"\nc-2,smith and sons\nc-4,Nobody\n')
    runner = CliRunner()
    dry = runner.invoke(
        app,
        [
            "map",
            "match",
            "--tenant",
            "t-1",
            "--entity",
            "customer",
            "--records",
            str(records),
            "--dry-run",
            "--json",
        ],
    )
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert [(m["id"], m["qb_id"], m["how"]) for m in report["matched"]] == [
        ("c-1", "Q1", "exact"),
        ("c-2", "Q2", "normalized"),
    ]
    assert [u["id"] for u in report["unmatched"]] == ["c-4"]
    assert store.mapping("t-1", "customer", "c-1") is None  # a dry run changes nothing

    done = runner.invoke(
        app, ["map", "match", "--tenant", "t-1", "--entity", "customer", "--records", str(records)]
    )
    assert done.exit_code == 0, done.output
    assert "matched 2, 1 unmatched" in done.output
    mapped = store.mapping("t-1", "customer", "c-1")
    assert mapped == Mapping("t-1", "customer", "c-1", "Q1", "7", "Lovelace, Ada")

    listed = json.loads(runner.invoke(app, ["map", "list", "--tenant", "t-1", "--json"]).stdout)
    assert [(r["id"], r["qb_id"]) for r in listed] == [("c-1", "Q1"), ("c-2", "Q2"), ("c-3", "Q3")]

    gone = runner.invoke(
        app, ["map", "unmatch", "--tenant", "t-1", "--entity", "customer", "--id", "c-2"]
    )
    assert gone.exit_code == 0, gone.output
    assert store.mapping("t-1", "customer", "c-2") is None
    again = runner.invoke(
        app, ["map", "unmatch", "--tenant", "t-1", "--entity", "customer", "--id", "c-2"]
    )
    # A usage mistake: one line on stderr, exit 2 (docs/cli.md).
    assert again.exit_code == 2
    assert "no customer mapping for id 'c-2'" in again.stderr


def test_by_hand_and_clear_errors(store: Store, tmp_path: Path) -> None:
    runner = CliRunner()
    by_hand = runner.invoke(
        app,
        ["map", "match", "--tenant", "t-1", "--entity", "customer", "--id", "c-9", "--qb-id", "Q2"],
    )
    assert by_hand.exit_code == 0, by_hand.output
    assert store.mapping("t-1", "customer", "c-9").qb_id == "Q2"  # type: ignore[union-attr]

    bad = tmp_path / "bad.csv"
    bad.write_text("id,title\nc-1,Lovelace\n")
    refused = runner.invoke(
        app, ["map", "match", "--tenant", "t-1", "--entity", "customer", "--records", str(bad)]
    )
    assert "row 2 needs 'id' and 'name'" in refused.stderr
    assert refused.exit_code == 2
    nobody = runner.invoke(app, ["map", "list", "--tenant", "t-404"])
    assert "no tenant 't-404'" in nobody.stderr
    assert nobody.exit_code == 2
    nothing = runner.invoke(
        app, ["map", "match", "--tenant", "t-1", "--entity", "vendor", "--records", str(bad)]
    )
    assert "no vendor records imported" in nothing.stderr
    assert nothing.exit_code == 2


def test_cost_codes_match_the_items_they_are_in_quickbooks(store: Store, tmp_path: Path) -> None:
    """Issue 15: cost codes are items in QuickBooks; the app's records give their code."""
    profile = store.tenants()[0].profile_id
    store.save_qb_records(
        profile,
        "item",
        [
            {"qb_id": "I1", "full_name": "03-300", "edit_sequence": "3"},
            {"qb_id": "I2", "full_name": "Retainage Payable"},
        ],
    )
    records = tmp_path / "cost_codes.json"
    records.write_text(
        json.dumps(
            [
                {"id": "cc-1", "code": "03-300", "name": "Cast-in-place concrete"},
                {"id": "cc-2", "code": "09-900", "name": "Painting"},
            ]
        )
    )
    result = CliRunner().invoke(
        app,
        [
            "map",
            "match",
            "--tenant",
            "t-1",
            "--entity",
            "cost_code",
            "--records",
            str(records),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(m["id"], m["qb_id"]) for m in report["matched"]] == [("cc-1", "I1")]
    assert [u["id"] for u in report["unmatched"]] == ["cc-2"]
    mapped = store.mapping("t-1", "cost_code", "cc-1")
    assert mapped is not None
    assert (mapped.qb_id, mapped.edit_sequence) == ("I1", "3")


def test_get_all_waits_for_map_done_and_refresh_reads_for_matching(store: Store) -> None:
    """``qbsync tenant import --everything`` is refused (naming what to confirm) until
    ``qbsync map done`` for each entity the read would tell the app of; ``map refresh``
    asks a full read for matching only; ``map done --undo`` reopens."""
    runner = CliRunner()
    profile_id = store.tenant("t-1").profile_id  # type: ignore[union-attr]
    store.update_tenant_settings("t-1", {"direction": {"customer": "two_way", "job": "two_way"}})
    get_all = ["tenant", "import", "t-1", "customer", "--everything", "--json"]

    refused = runner.invoke(app, get_all)
    assert refused.exit_code == 2
    assert "qbsync map done --tenant t-1 --entity customer" in refused.stderr
    assert "customer" not in store.watermarks(profile_id)

    wrong = runner.invoke(app, ["map", "done", "--tenant", "t-1", "--entity", "terms"])
    assert wrong.exit_code == 2
    assert "a full read never delivers it as new" in wrong.stderr
    listed = "account, bill, class, cost_code, customer, employee, invoice, item, job, time_entry"
    assert f"one of {listed}, vendor" in wrong.stderr
    for entity in ("customer", "job"):
        done = runner.invoke(app, ["map", "done", "--tenant", "t-1", "--entity", entity, "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["confirmed"] is True

    asked = runner.invoke(app, get_all)
    assert asked.exit_code == 0, asked.output
    assert json.loads(asked.stdout)["requested"] == ["customer"]
    assert store.watermarks(profile_id)["customer"].full_read == "deliver"

    undo = ["map", "done", "--tenant", "t-1", "--entity", "job", "--undo", "--json"]
    assert json.loads(runner.invoke(app, undo).stdout)["changed"] is True
    assert json.loads(runner.invoke(app, undo).stdout)["changed"] is False  # not confirmed
    assert "--entity job" in runner.invoke(app, get_all).stderr

    refresh = ["map", "refresh", "--tenant", "t-1", "--entity", "vendor", "--json"]
    assert json.loads(runner.invoke(app, refresh).stdout)["reads"] == ["vendor"]
    assert store.watermarks(profile_id)["vendor"].full_read == "match"


def test_import_status_shows_what_is_asked_and_how_far_a_long_read_got(store: Store) -> None:
    """``qbsync tenant import-status``: per entity what is asked, and a read under way with
    records read and left; once completed, its records and no progress."""
    runner = CliRunner()
    profile_id = store.tenant("t-1").profile_id  # type: ignore[union-attr]
    status = ["tenant", "import-status", "t-1", "--json"]
    assert json.loads(runner.invoke(app, status).stdout)["imports"] == []

    store.request_import(profile_id, ["vendor"], full_read="match")
    store.request_import(profile_id, ["invoice"])
    store.note_import_progress(profile_id, "vendor", 34_000, 66_000)
    shown = runner.invoke(app, status)
    assert shown.exit_code == 0, shown.output
    rows = {r["entity"]: r for r in json.loads(shown.stdout)["imports"]}
    assert rows["vendor"]["asked"] == "every record, for matching"
    assert (rows["vendor"]["under_way"]["read"], rows["vendor"]["under_way"]["remaining"]) == (
        34_000,
        66_000,
    )
    assert rows["vendor"]["last_completed"] is None
    assert (rows["invoice"]["asked"], rows["invoice"]["under_way"]) == ("changes", None)
    table = runner.invoke(app, ["tenant", "import-status", "t-1"], env={"COLUMNS": "200"})
    assert "34,000 read, 66,000 left" in table.stdout
    assert "never" in table.stdout

    store.complete_import(profile_id, "vendor", None, 100_000, full_read="match")
    store.complete_import(profile_id, "invoice", None, 12)
    rows = {r["entity"]: r for r in json.loads(runner.invoke(app, status).stdout)["imports"]}
    assert rows["vendor"]["under_way"] is None
    assert (rows["invoice"]["records"], rows["invoice"]["asked"]) == (12, None)
    assert rows["invoice"]["last_completed"] is not None
    missing = runner.invoke(app, ["tenant", "import-status", "t-404"])
    assert missing.exit_code != 0
    assert "no tenant 't-404'" in missing.stderr
