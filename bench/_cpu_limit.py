"""A CPU limit for one process, as a pod's ``resources.limits.cpu`` gives it: a cgroup with a
CFS quota of ``cpus`` cores, the process (and its threads and children) moved into it.

Why the benches want it: on this two-core machine a worker that is busy uses ~0.9 of a
core and the broker 0.2-0.3 more at that rate, so two unconstrained workers cannot run at
twice one worker's rate (that would need ~2.1 cores, docs/performance.md). With the same
limit on every worker (say half a core each), one and two workers are compared with the
same CPU each and headroom left for the broker: what remains is whether the workers get
in each other's way (the group, the store, the topics), which is what "two workers scale"
asks.

cgroup v2 (``cpu`` in the root's ``cgroup.subtree_control``) or v1 (a writable
``/sys/fs/cgroup/cpu``); needs root. Anything else is a clear error, never a silent run
without the limit.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _procs import descendants

__all__ = ["CpuLimitError", "cpu_limited", "probe"]

_V2 = Path("/sys/fs/cgroup")
_V2_UNIFIED = Path("/sys/fs/cgroup/unified")
_V1 = Path("/sys/fs/cgroup/cpu")
_PERIOD_US = 100_000


class CpuLimitError(RuntimeError):
    """No cgroup CPU controller this process can write."""


def _v2_root() -> Path | None:
    for root in (_V2, _V2_UNIFIED):
        controls = root / "cgroup.subtree_control"
        if controls.is_file() and "cpu" in controls.read_text().split():
            return root
    return None


def _make(name: str, cpus: float) -> tuple[Path, str]:
    """The cgroup's directory and the file its processes are written to."""
    if cpus <= 0:
        raise CpuLimitError(f"--worker-cpus must be above 0, not {cpus}")
    quota = max(1_000, round(cpus * _PERIOD_US))
    root = _v2_root()
    try:
        if root is not None:
            group = root / name
            group.mkdir(exist_ok=True)
            (group / "cpu.max").write_text(f"{quota} {_PERIOD_US}")
            return group, "cgroup.procs"
        if (_V1 / "cpu.cfs_quota_us").is_file():
            group = _V1 / name
            group.mkdir(exist_ok=True)
            (group / "cpu.cfs_period_us").write_text(str(_PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
            return group, "cgroup.procs"
    except OSError as exc:
        raise CpuLimitError(
            f"--worker-cpus: could not make cgroup {name!r} ({exc}); it needs root and a"
            " writable cgroup CPU controller"
        ) from exc
    raise CpuLimitError(
        "--worker-cpus: no cgroup CPU controller found (cgroup v2 with 'cpu' in"
        f" {_V2}/cgroup.subtree_control, or cgroup v1 at {_V1}); run without it"
    )


def probe(cpus: float) -> None:
    """Raise :class:`CpuLimitError` now, before a long set-up, if limits cannot be made."""
    group, procs = _make(f"qbsync-bench-{os.getpid()}-probe", cpus)
    _remove(group, procs)


@contextmanager
def cpu_limited(pid: int, cpus: float, name: str) -> Iterator[Path]:
    """``pid`` and everything below it limited to ``cpus`` cores until the block ends; the
    cgroup is removed afterwards (once its processes are gone, or moved back to the root)."""
    group, procs = _make(f"qbsync-bench-{os.getpid()}-{name}", cpus)
    try:
        for member in [pid, *descendants(pid)]:
            try:
                (group / procs).write_text(str(member))
            except ProcessLookupError:
                continue
        yield group
    finally:
        _remove(group, procs)


def _remove(group: Path, procs: str) -> None:
    parent = group.parent
    try:
        members = (group / procs).read_text().split()
    except OSError:
        return
    for member in members:
        try:
            (parent / procs).write_text(member)
        except OSError:
            continue
    with contextlib.suppress(OSError):  # a process still exiting: an empty group is harmless
        group.rmdir()
