"""Prometheus' own checker on what our processes expose (Debian's ``prometheus`` package)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import missing

__all__ = ["check_metrics", "promtool"]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        missing("promtool is not installed (apt-get install prometheus)")
    assert found is not None
    return found


def check_metrics(exposition: bytes) -> None:
    """``promtool check metrics``: naming conventions, help, types; fails with its words."""
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, check=False
    )
    problems = (checked.stdout + checked.stderr).decode()
    assert checked.returncode == 0, problems
    assert not problems.strip(), problems
