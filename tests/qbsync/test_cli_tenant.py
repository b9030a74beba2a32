"""``qbsync tenant create|show|set`` on a real (SQLite) store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.qbwc import create_profile
from connectors.store import Store, upgrade
from qbsync.cli import app

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("QBSYNC_DATABASE_URL", raising=False)
    url = f"sqlite:///{tmp_path}/qbsync.db"
    upgrade(url)
    store = Store(url)
    try:
        create_profile(store, name="Acme file", tenants=[])
    finally:
        store.close()
    return tmp_path


def invoke(*args: str) -> tuple[int, str]:
    """Exit code and everything printed (stdout and stderr)."""
    result = runner.invoke(app, ["tenant", *args])
    return result.exit_code, result.output


def invoke_json(*args: str) -> Any:
    """The one JSON object printed on stdout (log lines go to stderr)."""
    result = runner.invoke(app, ["tenant", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_create_show_and_set(data_dir: Path) -> None:
    code, out = invoke("create", "--id", "acme", "--profile", "Acme file", "--name", "Acme")
    assert code == 0, out
    code, out = invoke("set", "acme", "upper_case=true", "entities.payments=false")
    assert code == 0, out
    view = invoke_json("show", "acme")
    assert (view["id"], view["name"]) == ("acme", "Acme")
    assert view["settings"]["upper_case"] is True
    assert view["settings"]["entities"]["payments"] is False
    assert view["settings"]["job_name_format"] == "{project_number} - {project_address}"
    code, out = invoke("show", "acme")
    assert code == 0
    assert "upper_case: true" in out


def test_only_changed_settings_are_stored(data_dir: Path) -> None:
    invoke("create", "--id", "acme", "--profile", "Acme file")
    invoke("set", "acme", "retainage_item=Retainage Payable")
    store = Store(f"sqlite:///{data_dir}/qbsync.db")
    try:
        tenant = store.tenant("acme")
        assert tenant is not None
        assert tenant.settings == {"retainage_item": "Retainage Payable"}
    finally:
        store.close()


def test_an_invalid_value_changes_nothing_and_names_the_key(data_dir: Path) -> None:
    invoke("create", "--id", "acme", "--profile", "Acme file")
    code, out = invoke("set", "acme", "upper_case=true", "sync_type=sometimes")
    assert code == 2  # usage or configuration (docs/cli.md)
    assert "sync_type" in out
    assert "automatic" in out
    assert invoke_json("show", "acme")["settings"]["upper_case"] is False


def test_an_unknown_key_lists_what_is_allowed(data_dir: Path) -> None:
    invoke("create", "--id", "acme", "--profile", "Acme file")
    code, out = invoke("set", "acme", "colour=red")
    assert code == 2  # usage or configuration (docs/cli.md)
    assert "colour" in out
    assert "retainage_item" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("show", "nobody"), "no tenant 'nobody'"),
        (("set", "nobody", "enabled=false"), "no tenant 'nobody'"),
        (("create", "--id", "x", "--profile", "missing"), "no profile named 'missing'"),
    ],
)
def test_clear_errors(data_dir: Path, args: tuple[str, ...], words: str) -> None:
    code, out = invoke(*args)
    assert code == 2  # usage or configuration (docs/cli.md)
    assert words in out


def test_a_duplicate_tenant_is_an_error(data_dir: Path) -> None:
    invoke("create", "--id", "acme", "--profile", "Acme file")
    code, out = invoke("create", "--id", "acme", "--profile", "Acme file")
    assert code == 2  # usage or configuration (docs/cli.md)
    assert "exists" in out


def test_an_invalid_stored_value_is_reported_and_can_be_fixed(data_dir: Path) -> None:
    invoke("create", "--id", "acme", "--profile", "Acme file")
    store = Store(f"sqlite:///{data_dir}/qbsync.db")
    try:
        store.update_tenant_settings("acme", {"sync_type": "sometimes", "upper_case": True})
    finally:
        store.close()
    code, out = invoke("show", "acme")
    assert code == 2  # usage or configuration (docs/cli.md)
    assert "sync_type" in out
    settings = invoke_json("set", "acme", "sync_type=manual")["settings"]
    assert (settings["sync_type"], settings["upper_case"]) == ("manual", True)


def test_import_asks_the_files_next_session_to_read_back(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBSYNC_GATEWAY_IMPORTS", "account,item,customer")
    assert invoke("create", "--id", "acme", "--profile", "Acme file")[0] == 0
    code, out = invoke("import", "acme", "account", "cost_code", "job")
    assert code == 0, out
    store = Store(f"sqlite:///{data_dir}/qbsync.db")
    try:
        tenant = store.tenant("acme")
        assert tenant is not None
        marks = store.watermarks(tenant.profile_id)
    finally:
        store.close()
    # Cost codes are items and jobs are customers in QuickBooks.
    assert {e for e, m in marks.items() if m.requested_at} == {"account", "item", "customer"}

    code, out = invoke("import", "acme", "acounts")
    assert code == 2
    assert "'acounts'" in out
    assert "account" in out  # what is allowed
    code, out = invoke("import", "acme", "bill")
    assert code == 2
    assert "QBSYNC_GATEWAY_IMPORTS" in out  # bills are not imported by this deployment
