"""Migrations run only where they are meant to (``qbsync db upgrade``, the chart's Job, and
``qbsync run`` on its own SQLite file): every other command refuses a database that is
behind or ahead of its code, with one line naming the revision and the fix."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from connectors.store import (
    SchemaMismatch,
    check_schema,
    current_revision,
    head_revision,
    open_store,
    upgrade,
)

pytestmark = pytest.mark.integration


def qbsync(tmp_path: Path, url: str, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(QBSYNC_DATA_DIR=str(tmp_path / "data"), QBSYNC_DATABASE_URL=url, **extra)
    return subprocess.run(
        [sys.executable, "-m", "qbsync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_an_empty_database_is_refused_until_upgraded(database_url: str) -> None:
    with pytest.raises(SchemaMismatch, match=r"no qbsync schema .* run `qbsync db upgrade`"):
        check_schema(database_url)
    upgrade(database_url)
    check_schema(database_url)
    with open_store(database_url) as store:
        assert store.profiles() == []


def test_a_database_behind_is_refused_with_its_revision(database_url: str) -> None:
    upgrade(database_url, "0007")
    with pytest.raises(SchemaMismatch) as refused:
        check_schema(database_url)
    message = str(refused.value)
    assert "revision 0007, behind this qbsync" in message
    assert head_revision() in message
    assert "run `qbsync db upgrade`" in message
    assert "\n" not in message


def test_a_database_ahead_is_refused_and_not_touched(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    engine.dispose()
    with pytest.raises(SchemaMismatch, match=r"0099_future, which this qbsync .* does not know"):
        check_schema(database_url)
    assert current_revision(database_url) == "0099_future"


def test_cli_commands_refuse_and_only_db_upgrade_migrates(
    tmp_path: Path, database_url: str
) -> None:
    listed = qbsync(tmp_path, database_url, "profile", "list")
    assert listed.returncode == 2
    (line,) = listed.stderr.splitlines()  # one line
    assert line.endswith("run `qbsync db upgrade`")
    assert current_revision(database_url) is None  # the refusal migrated nothing

    upgraded = qbsync(tmp_path, database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert f"upgraded from revision none to {head_revision()}" in upgraded.stderr
    again = qbsync(tmp_path, database_url, "db", "upgrade")
    assert f"up to date (revision {head_revision()})" in again.stderr
    assert qbsync(tmp_path, database_url, "profile", "list").returncode == 0


def test_the_gateway_refuses_a_schema_behind(tmp_path: Path, database_url: str) -> None:
    upgrade(database_url, "0006")
    # Any broker address: the schema is checked before anything connects.
    result = qbsync(tmp_path, database_url, "gateway", QBSYNC_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1")
    assert result.returncode == 2
    assert "revision 0006, behind" in result.stderr
    assert current_revision(database_url) == "0006"
