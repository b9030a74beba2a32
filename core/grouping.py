"""Concurrent callers' items done together: one request, one transaction (a group commit).

A caller whose item finds nothing in progress runs it at once, alone (no added wait when
there is no contention); items arriving while a run is in progress wait for it to end, then
the first of them runs every item queued since, its own included, in one call. Each caller
returns only once its own item is done, or raises its own error: the run decides which
item failed with what. Used where each run has a fixed cost that many items can share:
SQLite session writes (one transaction, so one sync of its write-ahead log, for every
session's write made at the same time: ``connectors.store``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["Grouped", "RunGroup"]

T = TypeVar("T")

RunGroup = Callable[[list[T]], Mapping[int, BaseException]]
"""Does every item of a group; the errors of those that failed, by position in the group."""

_INTERRUPTED = "the group's run was interrupted; the item may not have been done"


@dataclass
class _Waiter(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = field(default=None)


class Grouped(Generic[T]):
    """``submit(item)`` from any thread; see the module's doc."""

    def __init__(self, run: RunGroup[T]) -> None:
        self._run = run
        self._ready = threading.Condition()
        self._queued: list[_Waiter[T]] = []
        self._running = False
        self.runs = 0  # calls of ``run`` (for tests and benches)

    @property
    def waiting(self) -> int:
        """Items queued behind the run in progress."""
        with self._ready:
            return len(self._queued)

    def submit(self, item: T) -> None:
        waiter = _Waiter(item)
        with self._ready:
            self._queued.append(waiter)
            while not waiter.done and self._running:
                self._ready.wait()
            if waiter.done:
                return self._settled(waiter)
            # Nothing in progress: this caller runs everyone queued (itself included).
            group, self._queued = self._queued, []
            self._running = True
            self.runs += 1
        errors: Mapping[int, BaseException] | None = None
        try:
            errors = self._run([queued.item for queued in group])
        except Exception as exc:  # the run failed as a whole: every item of it did
            errors = dict.fromkeys(range(len(group)), exc)
        finally:
            with self._ready:
                for index, queued in enumerate(group):
                    queued.done = True
                    # None: interrupted (KeyboardInterrupt ...): no waiter may think it done.
                    queued.error = (
                        RuntimeError(_INTERRUPTED) if errors is None else errors.get(index)
                    )
                self._running = False
                self._ready.notify_all()
        return self._settled(waiter)

    @staticmethod
    def _settled(waiter: _Waiter[T]) -> None:
        if waiter.error is not None:
            raise waiter.error
