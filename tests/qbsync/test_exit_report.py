"""What a dead child's report says (qbsync.runtime): exit code, last line, first error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core.processes import ChildProcess
from qbsync.runtime import _exited


def exited(name: str, log: Path) -> ChildProcess:
    """A real child that has exited with 70 (the worker's HALTED), logging to ``log``."""
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(70)"])
    process.wait(30)
    return ChildProcess(name, process, log)


def test_the_report_names_the_cause_as_well_as_the_shutdown(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text(
        "2026-12-05T16:14:10.100+00:00 ERROR faust.agents: agent translate crashed\n"
        "2026-12-05T16:14:10.749+00:00 INFO streams.sensor: Stopping...\n"
    )
    report = _exited(exited("worker", log), "exited")
    assert report.splitlines() == [
        "the worker exited (exit code 70): 2026-12-05T16:14:10.749+00:00 INFO streams.sensor:"
        " Stopping...",
        "  its first error:",
        "    2026-12-05T16:14:10.100+00:00 ERROR faust.agents: agent translate crashed",
        "    2026-12-05T16:14:10.749+00:00 INFO streams.sensor: Stopping...",
        f"  its log: {log}",
    ]


def test_a_last_line_that_is_the_error_is_not_said_twice(tmp_path: Path) -> None:
    log = tmp_path / "gateway.log"
    log.write_text("2026-12-05T16:14:10.100+00:00 CRITICAL gateway: port in use\n")
    report = _exited(exited("gateway", log), "exited during start-up")
    assert "first error" not in report
    assert report.startswith("the gateway exited during start-up (exit code 70): ")
