"""Profiles by user name, read from the store at most once per ``ttl_s`` per name.

An idle poll needs the profile (its password hash, whether it is enabled) and nothing else
from the store; with thousands of files polling, that read was every idle poll's one database
round trip. A cached profile is used for ``ttl_s`` seconds, so a disabled profile or a reset
password takes effect within that (1 s by default), on every replica; ``ttl_s=0`` reads the
store on every call. Unknown names are not cached: a name that does not exist costs the same
read whether or not it was tried before, and the cache cannot be filled with guesses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connectors.store import Profile, Store

__all__ = ["ProfileCache"]


class ProfileCache:
    def __init__(
        self,
        store: Store,
        ttl_s: float,
        *,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[Profile, float]] = {}
        self._lock = threading.Lock()

    def by_username(self, username: str) -> Profile | None:
        if self._ttl <= 0:
            return self._store.profile_by_username(username)
        now = self._clock()
        entry = self._entries.get(username)
        if entry is not None and now < entry[1]:
            return entry[0]
        profile = self._store.profile_by_username(username)
        with self._lock:
            if profile is None:
                self._entries.pop(username, None)
            else:
                if len(self._entries) >= self._max:
                    self._entries.clear()  # rare; the next polls read the store once each
                self._entries[username] = (profile, now + self._ttl)
        return profile
