"""Wait for a condition by doing the work that brings it about, never by sleeping blindly."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["answers", "until"]


def until(
    check: Callable[[], T | None],
    *,
    step: Callable[[], object] | None = None,
    timeout: float = 60.0,
    what: str,
) -> T:
    """Call ``step`` (e.g. one Web Connector run, or a blocking Kafka poll) until ``check``
    returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        if step is not None:
            step()
        else:
            time.sleep(0.05)  # only between checks of an outside process's progress


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now (a server starting in another thread or process)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False
