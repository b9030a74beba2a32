"""Processes seen from ``/proc``: CPU seconds (of a process, of its kinds of threads) and
the processes below one; the benches account their servers', brokers' and workers' CPU
with them."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """User plus system CPU of these processes so far (0 for one that is gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of each kind of thread of ``pid`` so far, by the kernel's thread name
    with its number dropped: librdkafka names its threads (``rdk:main``, ``rdk:broker``
    ...), Python's threads all carry the process's name. Shows how much of a call's CPU is
    the Kafka client's C threads rather than Python."""
    kinds: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            head, tail = (task / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        name = head.split("(", 1)[1].rstrip("0123456789-_")
        fields = tail.split()
        kinds[name] = kinds.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / _TICKS
    return kinds


def descendants(root: int) -> list[int]:
    """Every process below ``root`` (the broker, when this script started it)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            parents.setdefault(ppid, []).append(int(entry.name))
    found: list[int] = []
    todo = [root]
    while todo:
        children = parents.get(todo.pop(), [])
        found.extend(children)
        todo.extend(children)
    return found


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle so far (all cores, every process: the
    database server's too), from ``/proc/stat``."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICKS
