"""A call in a thread of its own, with what it raised kept for the test to look at."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["joined", "started"]


def started(call: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    """Start ``call`` in a new thread; the list receives what it raised, if anything."""
    raised: list[BaseException] = []

    def body() -> None:
        try:
            call()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, raised


def joined(*threads: threading.Thread, timeout: float = 30.0) -> None:
    """Join every thread; fail if one is still running after ``timeout`` seconds."""
    for thread in threads:
        thread.join(timeout)
        assert not thread.is_alive(), f"{thread.name} still running after {timeout:.0f}s"
