"""What every command shares (docs/cli.md): exit codes, one-line errors, --version,
completion, help, --json; and the first-hour details (``profile qwc`` defaults, tenant and
profile removal, the sandbox's default company file, ``sandbox show`` when piped).

Typer's runner on a real SQLite store; no broker unless a test says so.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
import typer
from defusedxml import ElementTree
from typer.testing import CliRunner

from connectors.sandbox import CompanyFile
from qbsync.cli import app
from qbsync.demo import explain
from qbsync.runtime import free_port

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data dir (default SQLite store), no broker configured, cwd elsewhere."""
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path / "data"))
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    return tmp_path / "data"


def qbsync(*args: str, env: dict[str, str] | None = None, **extra: Any) -> Any:
    return runner.invoke(app, list(args), env=env, **extra)


def made_profile(name: str = "Acme file", *tenants: str) -> dict[str, Any]:
    args = ["profile", "create", "--name", name, "--json"]
    for tenant in tenants:
        args += ["--tenant", tenant]
    done = qbsync(*args)
    assert done.exit_code == 0, done.output
    return dict(json.loads(done.stdout))


# -- exit codes and errors ---------------------------------------------------------------

USAGE_MISTAKES = [
    # (command, words the one-line error must contain)
    (["profile", "show", "nosuch"], "no profile named 'nosuch'"),
    (["profile", "qwc", "nosuch", "--url", "https://qb.example.com/qbwc"], "no profile named"),
    (["profile", "disable", "nosuch"], "no profile named"),
    (["profile", "remove", "nosuch", "--force"], "no profile named"),
    (["profile", "reset-password", "nosuch"], "no profile named"),
    (["tenant", "create", "--id", "t", "--profile", "nosuch"], "no profile named"),
    (["tenant", "show", "nosuch"], "no tenant 'nosuch'"),
    (["tenant", "remove", "nosuch", "--force"], "no tenant 'nosuch'"),
    (["tenant", "import", "nosuch", "account"], "no tenant 'nosuch'"),
    (["map", "list", "--tenant", "nosuch"], "no tenant 'nosuch'"),
    (["log", "export", "--tenant", "nosuch"], "--tenant nosuch: no such tenant"),
    (["dlq", "list"], "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is not set"),
    (["sandbox", "run", "--username", "u", "--password", "p"], "--gateway is not set"),
    (["sandbox", "show", "--list", "nonsense"], "--list nonsense: unknown"),
    (["profile", "qwc", "Acme file"], "QBSYNC_GATEWAY_PUBLIC_URL"),
    (["profile", "qwc", "Acme file", "--url", "http://qb.example.com/qbwc"], "https://"),
    (["tenant", "nosuch-command"], "No such command"),
    (["tenant", "list", "--no-such-flag"], "No such option"),
]


def _case(value: object) -> str:
    return "-".join(value)[:40] if isinstance(value, list) else "words"


@pytest.mark.parametrize(("args", "words"), USAGE_MISTAKES, ids=_case)
def test_a_usage_or_configuration_mistake_exits_2_with_one_line(
    data_dir: Path, args: list[str], words: str
) -> None:
    made_profile()
    done = qbsync(*args)
    assert done.exit_code == 2, done.output
    assert words in done.stderr
    assert "Traceback" not in done.output
    # One error line (click's usage errors add the usage and a pointer to --help).
    ours = [line for line in done.stderr.splitlines() if line.strip() and " INFO " not in line]
    assert len([line for line in ours if line.lower().startswith("error:")]) == 1
    assert len(ours) <= 4, ours


def test_failed_work_exits_1(data_dir: Path, tmp_path: Path) -> None:
    stale = tmp_path / "events.md"
    stale.write_text("old\n")
    done = qbsync("schemas", "docs", "--output", str(stale), "--check")
    assert done.exit_code == 1
    assert "stale" in done.stderr


def test_a_bad_setting_names_the_variable(data_dir: Path) -> None:
    done = qbsync("profile", "list", env={"QBSYNC_GATEWAY_PORT": "99999"})
    assert done.exit_code == 2
    assert "QBSYNC_GATEWAY_PORT" in done.stderr
    assert "99999" in done.stderr
    assert "Traceback" not in done.output


def test_debug_shows_the_traceback(data_dir: Path) -> None:
    done = qbsync("--debug", "tenant", "show", "nosuch")
    assert done.exit_code != 0
    assert done.exception is not None  # re-raised for the traceback, not turned into a line
    assert "no tenant 'nosuch'" in str(done.exception)


def test_an_unexpected_error_is_one_line_and_points_to_debug(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken() -> None:
        raise RuntimeError("the disk is on fire\nsecond line never shown")

    monkeypatch.setattr("qbsync.cli_tenant.open_configured_store", broken)
    done = qbsync("tenant", "list")
    assert done.exit_code == 1
    assert "RuntimeError: the disk is on fire" in done.stderr
    assert "second line" not in done.stderr
    assert "--debug" in done.stderr


def test_the_exit_codes_are_documented() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    for code in ("| 0 |", "| 1 |", "| 2 |"):
        assert code in page


# -- version, completion, help -----------------------------------------------------------


def test_version() -> None:
    done = qbsync("--version")
    assert done.exit_code == 0
    assert done.stdout.strip() == f"qbsync {version('qbsync')}"


def test_shell_completion_script() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "qbsync", "--show-completion", "bash"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        # Typer's own switch: the shell is the option's value instead of being detected
        # from the parent processes (under CI there may be no interactive shell to find).
        env={**os.environ, "COLUMNS": "80", "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"},
    )
    assert done.returncode == 0, done.stderr
    assert "_QBSYNC_COMPLETE" in done.stdout
    assert "complete " in done.stdout


def _commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, command in getattr(group, "commands", {}).items():
        yield from _commands(command, (*path, name))


def test_help_shows_flags_as_flags_and_never_cuts_a_sentence() -> None:
    paths = list(_commands(typer.main.get_command(app)))
    assert ("tenant", "list") in paths
    assert ("profile", "remove") in paths
    for path in paths:
        done = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        assert done.exit_code == 0, (path, done.output)
        assert "<bool>" not in done.output, path
        lines = done.output.splitlines()
        listed = [line for line in lines if line.startswith("  ") and line.endswith("...")]
        assert listed == [], (path, listed)
    shown = runner.invoke(app, ["dlq", "replay", "--help"], terminal_width=80).output
    assert "  --force " in shown
    assert "--no-force" not in shown


# -- --json on what reports something ----------------------------------------------------


def test_json_on_every_reporting_command(data_dir: Path) -> None:
    created = made_profile("Acme file")
    from connectors.store import head_revision

    upgraded = json.loads(qbsync("db", "upgrade", "--json").stdout)
    assert upgraded == {
        "database": "up to date",
        "from_revision": head_revision(),  # the data dir's SQLite, migrated by earlier commands
        "revision": head_revision(),
    }
    off = json.loads(qbsync("profile", "disable", "Acme file", "--json").stdout)
    assert (off["profile_id"], off["enabled"]) == (created["profile_id"], False)
    assert json.loads(qbsync("profile", "enable", "Acme file", "--json").stdout)["enabled"]
    done = qbsync("tenant", "create", "--id", "acme", "--profile", "Acme file", "--json")
    assert done.exit_code == 0, done.output
    asked = json.loads(qbsync("tenant", "import", "acme", "account", "--json").stdout)
    assert asked == {
        "tenant": "acme",
        "profile_id": created["profile_id"],
        "requested": ["account"],
        "everything": False,
    }
    matched = qbsync(
        "map", "match", "--tenant", "acme", "--entity", "customer", "--id", "c-1", "--qb-id", "Q1"
    )
    assert matched.exit_code == 0, matched.output
    gone = json.loads(
        qbsync(
            "map", "unmatch", "--tenant", "acme", "--entity", "customer", "--id", "c-1", "--json"
        ).stdout
    )
    assert gone == {"tenant": "acme", "entity": "customer", "id": "c-1", "unmatched": True}
    listed = json.loads(qbsync("tenant", "list", "--json").stdout)
    assert listed == [
        {"id": "acme", "name": "acme", "profile": "Acme file", "profile_id": created["profile_id"]}
    ]


# -- tenant list, tenant remove, profile remove ------------------------------------------


def test_tenant_list_filters_by_profile(data_dir: Path) -> None:
    made_profile("One", "a", "b")
    made_profile("Two", "c")
    rows = json.loads(qbsync("tenant", "list", "--profile", "Two", "--json").stdout)
    assert [r["id"] for r in rows] == ["c"]
    table = qbsync("tenant", "list")
    assert table.exit_code == 0
    assert "3 tenants" in table.stdout


def test_remove_needs_a_broker_to_know_nothing_is_queued_or_force(data_dir: Path) -> None:
    made_profile("One", "a")
    done = qbsync("tenant", "remove", "a")
    assert done.exit_code == 2
    assert "cannot tell whether commands wait" in done.stderr
    assert "--force" in done.stderr
    assert [r["id"] for r in json.loads(qbsync("tenant", "list", "--json").stdout)] == ["a"]


def test_forced_removal_forgets_the_tenant_and_profile(data_dir: Path) -> None:
    made_profile("One", "a", "b")
    mapped = qbsync(
        "map", "match", "--tenant", "a", "--entity", "customer", "--id", "x", "--qb-id", "Q"
    )
    assert mapped.exit_code == 0, mapped.output
    removed = json.loads(qbsync("tenant", "remove", "a", "--force", "--json").stdout)
    assert removed["tenant"] == "a"
    assert removed["rows_removed"] == 2  # the tenant and its one mapping
    assert qbsync("tenant", "show", "a").exit_code == 2
    gone = json.loads(qbsync("profile", "remove", "One", "--force", "--json").stdout)
    assert gone["tenants_removed"] == ["b"]
    assert json.loads(qbsync("profile", "list", "--json").stdout) == []


# -- profile qwc -------------------------------------------------------------------------


def test_qwc_url_from_settings_schedule_and_qb_type(data_dir: Path) -> None:
    made_profile()
    env = {"QBSYNC_GATEWAY_PUBLIC_URL": "https://qb.example.com/qbwc"}
    done = qbsync("profile", "qwc", "Acme file", env=env)
    assert done.exit_code == 0, done.output
    root = ElementTree.fromstring(done.stdout.encode())
    assert root.findtext("AppURL") == "https://qb.example.com/qbwc"
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "3"

    done = qbsync(
        "profile", "qwc", "Acme file", "--schedule-minutes", "15", "--qb-type", "QBPOS", env=env
    )
    assert done.exit_code == 0, done.output
    root = ElementTree.fromstring(done.stdout.encode())
    assert (root.findtext("QBType"), root.findtext("Scheduler/RunEveryNMinutes")) == (
        "QBPOS",
        "15",
    )
    # Kept on the profile: stalled-file detection uses the same schedule.
    shown = json.loads(qbsync("profile", "show", "Acme file", "--json").stdout)
    assert shown["run_every_minutes"] == 15
    bad = qbsync("profile", "qwc", "Acme file", "--qb-type", "QBOE", env=env)
    assert bad.exit_code == 2
    assert "QBFS or QBPOS" in bad.stderr


# -- sandbox -----------------------------------------------------------------------------


def test_sandbox_run_keeps_its_company_file_in_the_data_dir_and_names_a_dead_gateway(
    data_dir: Path,
) -> None:
    url = f"http://127.0.0.1:{free_port()}/qbwc"
    done = qbsync("sandbox", "run", "--gateway", url, "--username", "u", "--password", "p")
    assert done.exit_code == 2
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert url in line
    assert "qbsync run" in line
    assert "Traceback" not in done.output
    assert (data_dir / "sandbox-company.db").is_file()
    assert list(Path.cwd().iterdir()) == []


def test_sandbox_show_does_not_cut_columns_when_piped(data_dir: Path) -> None:
    name = "Bartholomew Featherstonehaugh-Cholmondeley"[:41]
    company = CompanyFile(data_dir / "sandbox-company.db", company_name="Wide Co")
    try:
        request = (
            '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML>'
            '<QBXMLMsgsRq onError="stopOnError"><CustomerAddRq><CustomerAdd>'
            f"<Name>{name}</Name></CustomerAdd></CustomerAddRq></QBXMLMsgsRq></QBXML>"
        )
        company.begin_session()
        company.process(request)
        company.end_session()
        (customer,) = company.records("Customer")
    finally:
        company.close()
    done = qbsync("sandbox", "show", env={"COLUMNS": "80"}, terminal_width=80)
    assert done.exit_code == 0, done.output
    (row,) = [line for line in done.stdout.splitlines() if customer["ListID"] in line]
    assert name in row
    assert str(customer["TimeModified"]) in row


# -- the demo's words --------------------------------------------------------------------


def test_the_demo_explains_its_dead_letter_and_what_to_try_next(tmp_path: Path) -> None:
    summary = {
        "broker": {"kind": "tansu", "version": "0.6.0"},
        "events_published": 16,
        "commands_sent": 15,
        "results_ok": 15,
        "results_error": 0,
        "dead_letters": 1,
        "dead_letter_codes": {"undecodable": 1},
        "dead_letter_list": [
            {"id": "0f1e2d3c-aaaa", "code": "undecodable", "tenant": "acme-field", "reason": "R"}
        ],
        "records_in_quickbooks": 12,
        "duplicates_in_quickbooks": 0,
        "tenants": 3,
        "company_files": 2,
        "settled": True,
        "topic_prefix": "qbsync-demo-abc",
        "kept": str(tmp_path / "kept"),
    }
    text = "\n".join(explain(summary))
    assert "on purpose" in text
    assert "0f1e2d3c undecodable: R" in text
    assert "qbsync dlq show" in text
    for command in ("qbsync run", "qbsync profile create", "qbsync publish"):
        assert command in text
    assert str(tmp_path / "kept") in text
    assert "2 Desktop company files (qbXML) and 0 QuickBooks Online company" in text
    online = {
        "name": "Online Co (realm 9130350000000001)",
        "connected_via": "http://127.0.0.1:8091/qbo/callback",
        "records": 4,
        "api_requests": 9,
        "throttled": 0,
    }
    with_qbo = "\n".join(explain({**summary, "qbo_companies": 1, "qbo": online}))
    assert "through the sender's OAuth callback (http://127.0.0.1:8091/qbo/callback)" in with_qbo
    assert "it holds 4 customers after 9 API requests (0 throttled)" in with_qbo
    external = explain({**summary, "broker": {"kind": "external"}, "kept": None})
    assert any(
        "QBSYNC_TOPIC_PREFIX=qbsync-demo-abc qbsync dlq show 0f1e2d3c" in x for x in external
    )
    assert not any("Kept in" in line for line in external)


# -- the README ----------------------------------------------------------------------------


def test_the_readme_points_a_new_user_to_what_they_need() -> None:
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()
    for heading in ("## Connect a real QuickBooks", "## Deploy", "## From the demo"):
        assert heading in readme
    for link in ("docs/connect.md", "docs/events.md", "schemas/avro/examples/", "docs/cli.md"):
        assert f"]({link})" in readme
        assert (repo / link).exists()
    connect = (repo / "docs" / "connect.md").read_text()
    for step in ("Web Connector", ".qwc", "Password", "single-user", "HTTPS", "Admin"):
        assert step in connect
    for part in ("Image", "Chart", "PostgreSQL", "Kafka", "TLS in front"):
        assert f"**{part}**" in readme


def test_the_bench_time_is_the_same_in_the_readme_and_the_makefile() -> None:
    repo = Path(__file__).resolve().parents[2]
    pattern = re.compile(r"about ([\d.]+(?: to [\d.]+)?) minutes on 2 cores")
    (in_readme,) = pattern.findall((repo / "README.md").read_text())
    (in_makefile,) = pattern.findall((repo / "Makefile").read_text())
    assert in_readme == in_makefile


@pytest.mark.parametrize(
    ("command", "setting"),
    [
        (["gateway"], "QBSYNC_GATEWAY_PORT"),
        (["worker"], "QBSYNC_WORKER_WEB_PORT"),
    ],
)
def test_a_taken_port_names_its_setting(data_dir: Path, command: list[str], setting: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = qbsync(
            *command,
            env={
                "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1",
                "QBSYNC_GATEWAY_PORT": port,
                "QBSYNC_WORKER_WEB_PORT": port,
            },
        )
    assert done.exit_code == 2, done.output
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert f"port {port} on 127.0.0.1" in line
    assert setting in line


def test_schemas_check_json() -> None:
    done = qbsync("schemas", "check", "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["problems"] == []
    released = Path(__file__).resolve().parents[2] / "schemas" / "avro" / "released"
    assert sorted(report["released"]) == sorted(p.name for p in released.iterdir() if p.is_dir())


def test_a_database_that_does_not_answer_names_the_setting_not_the_password(
    data_dir: Path,
) -> None:
    url = f"postgresql+psycopg://qbsync:hunter2-secret@127.0.0.1:{free_port()}/nowhere"
    done = qbsync("tenant", "list", env={"QBSYNC_DATABASE_URL": url})
    assert done.exit_code == 2, done.output
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert "QBSYNC_DATABASE_URL" in line
    assert "hunter2-secret" not in done.output
    assert "Traceback" not in done.output
