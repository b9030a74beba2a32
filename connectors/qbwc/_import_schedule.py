"""Which files have an import due, from memory: an idle poll asks the store nothing.

With imports configured (the default), ``authenticate`` on a file with no commands asked
whether an import was due, and that read the file's import watermarks: a store read on
every idle poll, under SQLite's writer lock (docs/gateway-scale.md, "Imports due, from
memory"). Now each file's next due time (:func:`connectors.qbwc._imports.next_due`) is kept
here, learned from the watermarks whenever the gateway reads them anyway: a file's first
poll in this process, and every session's import paging (:meth:`ImportSchedule.learn`).
Requests (support's "read again", ``qbsync map refresh``, "get all") are found for all
files by one statement at most every ``check_s`` (:meth:`Store.import_requests`), made by
the poll that finds the check due.

Late, never wrong in a way that skips an import: a file whose import another replica
completed still looks due here until this replica reads its watermarks, so its next poll
here opens a session, the session's paging reads them (nothing due: it ends at once) and
this replica learns. A request made meanwhile is seen within ``check_s``. ``check_s=0``
reads the watermarks on every call (the tests' setting, as for profiles).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connectors.qbwc._imports import ImportConfig, next_due
from connectors.store import Store

__all__ = ["ImportSchedule"]


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ImportSchedule:
    def __init__(
        self,
        store: Store,
        config: ImportConfig,
        check_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
        max_entries: int = 100_000,
    ) -> None:
        self._store = store
        self._config = config
        self._check_s = check_s
        self._clock = clock
        self._now = now
        self._max = max_entries
        self._due_at: dict[str, datetime | None] = {}
        self._requested: frozenset[str] = frozenset()
        self._checking = threading.Lock()
        self._checked_at = float("-inf")
        self.checks = 0  # bulk request checks made (tests: which path a poll took)

    def due(self, profile_id: str) -> bool:
        """Whether an import may be due for the file now (a session would then read its
        watermarks and page through what is)."""
        if not self._config.entities:
            return False
        if self._check_s <= 0:
            due_at = self.learn(profile_id, self._store.watermarks(profile_id))
        else:
            self._check_requests()
            if profile_id in self._requested:
                return True
            if profile_id in self._due_at:
                due_at = self._due_at[profile_id]
            else:  # the file's first poll in this process
                due_at = self.learn(profile_id, self._store.watermarks(profile_id))
        return due_at is not None and due_at <= self._now()

    def learn(self, profile_id: str, watermarks: Mapping[str, Any]) -> datetime | None:
        """The file's watermarks as just read: its next due time, kept (None: never). A
        request they no longer show was served: the file is no longer requested."""
        due_at = next_due(self._config, watermarks)
        if len(self._due_at) >= self._max and profile_id not in self._due_at:
            self._due_at.clear()  # rare; the next polls read the store once each
        self._due_at[profile_id] = due_at
        if profile_id in self._requested and not any(
            getattr(mark, "requested_at", None) for mark in watermarks.values()
        ):
            self._requested = self._requested - {profile_id}
        return due_at

    def _check_requests(self) -> None:
        """The files with an import requested, read for all at most every ``check_s`` by
        the one call that finds the check due (the others go on with the last answer)."""
        moment = self._clock()
        if moment - self._checked_at < self._check_s or not self._checking.acquire(blocking=False):
            return
        try:
            self._checked_at = moment
            self._requested = frozenset(self._store.import_requests())
            self.checks += 1
        finally:
            self._checking.release()
