"""When each Web Connector last called, kept in memory and written in bulk.

Every ``authenticate`` notes the time; writing it at once made each idle poll a database
write transaction (on SQLite, all behind one writer lock). Instead the times are written
together, at most once per ``flush_s`` (by whichever call comes after that), plus at once for
a profile never seen before (the console waits for a new file's first call). ``last_seen_at``
feeds the "stalled" state, counted in scheduled intervals (minutes), so it may lag by
``flush_s`` seconds; a crash loses at most that much of it, and nothing else.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from connectors.store import Store

__all__ = ["LastSeen"]


class LastSeen:
    def __init__(
        self,
        store: Store,
        *,
        flush_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._flush_s = flush_s
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[str, datetime] = {}
        self._flushed_at = clock()
        # The first contacts written, per profile: the version they were written for.
        self._firsts: dict[str, str] = {}

    def seen(self, profile_id: str, *, first: bool, version: str = "") -> None:
        """``profile_id`` called now; ``first``: it never had before (written at once).

        A profile read from a cache says ``first`` until the cache reads it again: a first
        contact is written once per ``version`` (the password hash: a reset makes the next
        call a first contact again)."""
        now = datetime.now(UTC)
        with self._lock:
            if first and self._firsts.get(profile_id) == version:
                first = False
            elif first:
                self._firsts[profile_id] = version
            self._pending[profile_id] = now
            due = first or self._clock() - self._flushed_at >= self._flush_s
            if not due:
                return
            batch, self._pending = self._pending, {}
            self._flushed_at = self._clock()
        self._store.touch_profiles(batch)

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, {}
            self._flushed_at = self._clock()
        self._store.touch_profiles(batch)
