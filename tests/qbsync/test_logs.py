"""Logs: text or JSON on request, UTC timestamps with their offset, the same ids in both, no
third-party INFO noise on CLI commands."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from qbsync.logs import configure_logging


@pytest.fixture
def restore_logging() -> object:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield None
    root.handlers[:] = handlers
    root.setLevel(level)


def _emit(capsys: pytest.CaptureFixture[str], log_format: str) -> str:
    configure_logging("INFO", log_format)
    logging.getLogger("qbsync.test").info(
        "command settled", extra={"tenant_id": "t-1", "request_id": "r-9"}
    )
    return capsys.readouterr().err.strip()


def _utc(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp)
    assert stamp.endswith("+00:00"), stamp
    assert moment.utcoffset() == timedelta(0)
    return moment


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_utc_time_level_logger_and_the_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = json.loads(_emit(capsys, "json"))
    assert line["level"] == "INFO"
    assert line["logger"] == "qbsync.test"
    assert line["message"] == "command settled"
    assert (line["tenant_id"], line["request_id"]) == ("t-1", "r-9")
    _utc(line["ts"])


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_start_with_utc_time_and_end_with_the_ids(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = _emit(capsys, "text")
    stamp, level, rest = line.split(" ", 2)
    _utc(stamp)
    assert level == "INFO"
    assert rest == "qbsync.test: command settled request_id=r-9 tenant_id=t-1"


@pytest.mark.usefixtures("restore_logging")
def test_an_exception_stays_inside_its_json_line(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("qbsync.test").exception("failed", extra={"code": "x"})
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert "RuntimeError: boom" in json.loads(lines[0])["exception"]


@pytest.mark.parametrize(
    ("level", "log_format", "named"),
    [("INFO", "yaml", "QBSYNC_LOG_FORMAT"), ("LOUD", "json", "QBSYNC_LOG_LEVEL")],
)
def test_a_bad_level_or_format_names_the_setting(level: str, log_format: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        configure_logging(level, log_format)


def _qbsync(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    environ.update(QBSYNC_DATA_DIR=str(tmp_path / "data"), **env)
    return subprocess.run(
        [sys.executable, "-m", "qbsync", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.integration
def test_cli_commands_print_no_third_party_info_lines(tmp_path: Path, database_url: str) -> None:
    upgraded = _qbsync(
        tmp_path, "db", "upgrade", QBSYNC_DATABASE_URL=database_url, QBSYNC_LOG_FORMAT="json"
    )
    assert upgraded.returncode == 0, upgraded.stderr
    created = _qbsync(
        tmp_path,
        "profile",
        "create",
        "--name",
        "Acme",
        "--tenant",
        "t-1",
        QBSYNC_DATABASE_URL=database_url,
        QBSYNC_LOG_FORMAT="json",
    )
    assert created.returncode == 0, created.stderr
    for result in (upgraded, created):
        for line in result.stderr.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                assert entry["logger"].startswith("qbsync"), line
            assert "alembic" not in line, line
            assert "Context impl" not in line, line


def test_cli_refuses_an_unknown_log_format_with_the_setting_named(tmp_path: Path) -> None:
    result = _qbsync(tmp_path, "schemas", "list", QBSYNC_LOG_FORMAT="xml")
    assert result.returncode != 0
    assert "QBSYNC_LOG_FORMAT='xml' is not a log format" in result.stderr
