"""core.processes.ChildProcess.first_error on logs of both formats (qbsync.logs)."""

from __future__ import annotations

import json
from pathlib import Path

from core.processes import ChildProcess


class Exited:
    pid = 1
    returncode = 70

    def poll(self) -> int:
        return self.returncode


def child(log: Path) -> ChildProcess:
    return ChildProcess("worker", Exited(), log)  # type: ignore[arg-type]


def test_the_first_error_of_a_text_log_comes_with_its_traceback(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(
        "2026-12-05T16:14:09.001+00:00 INFO streams.app: command topics learned topics=2\n"
        "2026-12-05T16:14:10.100+00:00 ERROR faust.agents: agent crashed\n"
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "KeyError: 'tenant_id'\n"
        "2026-12-05T16:14:10.200+00:00 ERROR faust: second error\n"
        "2026-12-05T16:14:10.749+00:00 INFO streams.sensor: [^--PipelineSensor]: Stopping...\n"
    )
    assert child(log).first_error(lines=4).splitlines() == [
        "2026-12-05T16:14:10.100+00:00 ERROR faust.agents: agent crashed",
        "Traceback (most recent call last):",
        '  File "x.py", line 1, in <module>',
        "KeyError: 'tenant_id'",
    ]


def test_a_json_log_and_a_bare_traceback_are_found_too(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    lines = [
        {"ts": "t", "level": "INFO", "logger": "a", "message": "fine"},
        {"ts": "t", "level": "CRITICAL", "logger": "streams.app", "message": "worker stopping"},
    ]
    log.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert "worker stopping" in child(log).first_error()

    bare = tmp_path / "bare.log"
    bare.write_text("starting\nTraceback (most recent call last):\nSystemExit: 2\n")
    assert child(bare).first_error().startswith("Traceback")


def test_a_clean_or_missing_log_has_no_first_error(tmp_path: Path) -> None:
    clean = tmp_path / "clean.log"
    clean.write_text("2026-12-05T16:14:09.001+00:00 INFO a: ERRORS=0 is not a level\n")
    assert child(clean).first_error() == ""
    assert child(tmp_path / "absent.log").first_error() == ""
