"""Profiles: passwords shown once and resettable, enable/disable, the .qwc file, throttling,
and the command line that manages them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from connectors.qbwc import (
    QwcError,
    create_profile,
    render_qwc,
    reset_password,
    set_enabled,
    throttle_key,
)
from connectors.store import Profile, StoreError
from qbsync.cli import app
from tests.support.gateway import Served, connector, enqueue


def a_profile() -> Profile:
    return Profile(
        id="p1",
        name="Acme & Co",
        username="qbsync-p1",
        password_hash="x",
        owner_id="{57F3B9B6-86F1-4FCC-B1FF-966DE1813D20}",
        file_id="{57F3B9B6-86F1-4FCC-B1FF-166DE1813D20}",
        company_file="",
        enabled=True,
        run_every_minutes=3,
        created_at=datetime.now(UTC),
    )


def test_qwc_has_what_the_web_connector_needs() -> None:
    root = etree.fromstring(render_qwc(a_profile(), url="https://sync.example.com/qbwc").encode())
    assert root.tag == "QBWCXML"
    assert root.findtext("AppName") == "qbsync - Acme & Co"
    assert root.findtext("AppURL") == "https://sync.example.com/qbwc"
    assert root.findtext("AppSupport") == "https://sync.example.com/support"
    assert root.findtext("UserName") == "qbsync-p1"
    assert root.findtext("OwnerID") == "{57F3B9B6-86F1-4FCC-B1FF-966DE1813D20}"
    assert root.findtext("QBType") == "QBFS"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "3"
    assert root.findtext("IsReadOnly") == "false"
    assert root.find("PersonalDataPref") is not None
    assert root.find("UnattendedModePref") is not None
    assert "Password" not in etree.tostring(root).decode()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://sync.example.com/qbwc", "must be https://"),
        ("ftp://sync.example.com/qbwc", "must be https://"),
    ],
)
def test_qwc_refuses_urls_the_web_connector_refuses(url: str, words: str) -> None:
    with pytest.raises(QwcError, match=f"AppURL: .*{words}"):
        render_qwc(a_profile(), url=url)


def test_plain_http_is_fine_on_localhost() -> None:
    assert "http://localhost:8080/qbwc" in render_qwc(a_profile(), url="http://localhost:8080/qbwc")


def test_reset_password_stops_the_old_one_at_once(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    renewed = reset_password(served.store, served.profile.profile.name)
    assert renewed.password != served.profile.password
    assert connector(served, tmp_path).run_once().authenticate == "nvu"
    report = connector(served, tmp_path, password=renewed.password).run_once()
    assert (report.authenticate, report.requests) == ("", 1)


def test_the_first_call_after_a_reset_is_recorded_at_once(served: Served, tmp_path: Path) -> None:
    """The setup page turns green on ``last_seen_at``; the gateway writes it in bulk except
    for a first contact, which a reset makes of the next call (not a flush period later)."""
    connector(served, tmp_path).run_once()
    assert served.store.profile(served.profile.profile.id).last_seen_at is not None  # type: ignore[union-attr]
    renewed = reset_password(served.store, served.profile.profile.name)
    assert served.store.profile(served.profile.profile.id).last_seen_at is None  # type: ignore[union-attr]
    reset_at = datetime.now(UTC)
    connector(served, tmp_path, password=renewed.password).run_once()
    seen = served.store.profile(served.profile.profile.id).last_seen_at  # type: ignore[union-attr]
    assert seen is not None
    assert seen.replace(tzinfo=seen.tzinfo or UTC) >= reset_at.replace(microsecond=0)


def test_disabled_profile_gets_none_and_its_commands_wait(served: Served, tmp_path: Path) -> None:
    set_enabled(served.store, served.profile.profile.id, enabled=False)
    enqueue(served, "Ada", "Grace")
    assert connector(served, tmp_path).run_once().authenticate == "none"
    set_enabled(served.store, served.profile.profile.id, enabled=True)
    report = connector(served, tmp_path).run_once()
    assert (report.requests, report.last_progress) == (2, 100)


def test_repeated_failures_are_throttled_then_the_right_password_works_later(
    served: Served, tmp_path: Path
) -> None:
    enqueue(served, "Ada")
    for _ in range(5):
        assert connector(served, tmp_path, password="guess").run_once().authenticate == "nvu"
    # Locked out now: even the right password is refused without being checked.
    assert connector(served, tmp_path).run_once().authenticate == "nvu"
    key = throttle_key(served.profile.profile.username)
    throttle = served.store.login_throttle(key)
    assert throttle is not None
    assert throttle.failures == 6  # every attempt counted, the refused one too
    # Once the lockout has passed (lifted here), the right password works.
    served.store.lift_lockout(key)
    assert connector(served, tmp_path).run_once().authenticate == ""
    throttle = served.store.login_throttle(key)
    assert throttle is not None
    assert throttle.failures == 0


def test_host_info_is_remembered_from_the_first_call(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    connector(served, tmp_path).run_once()
    profile = served.store.profile(served.profile.profile.id)
    assert profile is not None
    assert profile.host_info is not None
    assert profile.host_info["supported_versions"] == ["13.0"]
    assert profile.host_info["country"] == "US"


def test_profile_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0

    created = runner.invoke(
        app, ["profile", "create", "--name", "Acme", "--tenant", "t1", "--tenant", "t2", "--json"]
    )
    assert created.exit_code == 0, created.output
    made = json.loads(created.stdout)
    assert set(made) >= {"username", "password", "profile_id"}

    listed = runner.invoke(app, ["profile", "list", "--json"])
    assert [(p["name"], p["tenants"]) for p in json.loads(listed.stdout)] == [
        ("Acme", ["t1", "t2"])
    ]
    assert made["password"] not in listed.stdout

    shown = runner.invoke(app, ["profile", "show", "Acme", "--json"])
    assert json.loads(shown.stdout)["profile_id"] == made["profile_id"]
    assert made["password"] not in shown.stdout

    qwc = runner.invoke(app, ["profile", "qwc", "Acme", "--url", "https://q.example.com/qbwc"])
    assert qwc.exit_code == 0
    assert etree.fromstring(qwc.stdout.encode()).findtext("UserName") == made["username"]

    bad = runner.invoke(app, ["profile", "qwc", "Acme", "--url", "http://q.example.com/qbwc"])
    assert bad.exit_code != 0

    reset = runner.invoke(app, ["profile", "reset-password", "Acme", "--json"])
    assert json.loads(reset.stdout)["password"] != made["password"]

    assert runner.invoke(app, ["profile", "disable", "Acme"]).exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["profile", "show", "Acme", "--json"]).stdout)["enabled"]
        is False
    )
    assert runner.invoke(app, ["profile", "enable", "Acme"]).exit_code == 0
    assert (
        json.loads(runner.invoke(app, ["profile", "show", "Acme", "--json"]).stdout)["enabled"]
        is True
    )

    missing = runner.invoke(app, ["profile", "show", "Nope"])
    assert missing.exit_code != 0


def test_create_profile_refuses_a_second_profile_with_the_same_name(served: Served) -> None:
    with pytest.raises(StoreError, match="exists"):
        create_profile(served.store, name="Shared Co", tenants=["t-9"])
