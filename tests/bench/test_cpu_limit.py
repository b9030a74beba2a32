"""``bench/_cpu_limit.py``: the per-worker CPU limit of ``bench/transform.py --worker-cpus``
puts a process (and its children) in a cgroup of its own and takes it out again, or says
clearly that it cannot; ``transform.py`` refuses the option where it does not apply."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cpu_limit(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(REPO / "bench"))
    return importlib.import_module("_cpu_limit")


def _controller_writable(cpu_limit: ModuleType) -> bool:
    try:
        cpu_limit.probe(0.5)
    except cpu_limit.CpuLimitError:
        return False
    return True


def test_a_limit_of_no_cpu_is_refused(cpu_limit: ModuleType) -> None:
    with pytest.raises(cpu_limit.CpuLimitError, match="--worker-cpus must be above 0"):
        cpu_limit.probe(0)
    # Refused before any group is made, so this process is never moved into one.
    with (
        pytest.raises(cpu_limit.CpuLimitError, match=r"must be above 0, not -1\.0"),
        cpu_limit.cpu_limited(os.getpid(), -1.0, "refused"),
    ):
        pass


def test_a_process_and_its_child_run_in_the_limited_group_until_the_block_ends(
    cpu_limit: ModuleType,
) -> None:
    """Where no controller can be written (not root, no cgroup CPU controller), the error
    names the option and what it needs instead: never a silent run without the limit."""
    if not _controller_writable(cpu_limit):
        with (
            pytest.raises(cpu_limit.CpuLimitError, match="--worker-cpus"),
            cpu_limit.cpu_limited(1, 0.5, "refused"),
        ):
            pass
        return
    # The parent says its child's pid once the child exists: read, not waited for.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess; c = subprocess.Popen(['sleep', '60']);"
            " print(c.pid, flush=True); c.wait()",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        with cpu_limit.cpu_limited(parent.pid, 0.25, "test") as group:
            members = (group / "cgroup.procs").read_text().split()
            assert str(parent.pid) in members
            assert str(child) in members
            assert _quota(group) == pytest.approx(0.25)
            assert group.name in _groups_of(child)
        assert not group.exists()
        assert group.name not in _groups_of(parent.pid)
        assert group.name not in _groups_of(child)
    finally:
        subprocess.run(["kill", str(child)], check=False)
        parent.kill()
        parent.wait()


def _quota(group: Path) -> float:
    if (group / "cpu.max").exists():
        quota, period = (group / "cpu.max").read_text().split()
        return int(quota) / int(period)
    quota_us = int((group / "cpu.cfs_quota_us").read_text())
    return quota_us / int((group / "cpu.cfs_period_us").read_text())


def _groups_of(pid: int) -> str:
    """The cgroups the process is in, one line per hierarchy (``/proc/<pid>/cgroup``)."""
    return Path(f"/proc/{pid}/cgroup").read_text()


def test_transform_refuses_a_cpu_limit_without_several_workers() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "transform.py"), "--worker-cpus", "0.5"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "--worker-cpus applies to the scale runs" in result.stderr
