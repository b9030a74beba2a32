"""Profiles by user name for logins, checked against the store in bulk, not per poll.

An idle poll needs the profile (its password hash, whether it is enabled) and nothing else
from the store. A profile read once is kept; at most once per ``ttl_s`` the call that finds
it due reads what a login uses of every profile in one statement (:meth:`Store.login_fields`)
and keeps the entries that still match, drops the others (a disabled profile, a reset
password, a renamed or deleted one): so such a change takes effect within ``ttl_s`` (1 s by
default, plus one such read), on every replica. An entry nobody checked for ``2 * ttl_s``
(the bulk check failing, or not run) is read again by the poll that needs it. ``ttl_s=0``
reads the store on every call. Unknown names are not cached: a name that does not exist
costs the same read whether or not it was tried before, and the cache cannot be filled with
guesses.

Why in bulk: with every profile read at most once per second, 5,000 files polling once a
minute still read the store on every poll (each profile is polled once a minute), a
profile read per poll (a quarter of an idle poll's CPU, measured); one statement per second
for all of them costs a few milliseconds, whatever the poll rate.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from connectors.store import Profile, Store

__all__ = ["ProfileCache"]


def _fields(profile: Profile) -> tuple[str, str, bool, str]:
    """What a login uses of a profile, as :meth:`Store.login_fields` gives it."""
    return (profile.username, profile.password_hash, bool(profile.enabled), profile.company_file)


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
        # user name -> (profile, used until): an entry is valid until then.
        self._entries: dict[str, tuple[Profile, float]] = {}
        self._lock = threading.Lock()
        self._checking = threading.Lock()
        self._checked_at = clock()
        self.bulk_checks = 0  # how many bulk checks ran (tests: which path a poll took)

    def by_username(self, username: str) -> Profile | None:
        if self._ttl <= 0:
            return self._store.profile_by_username(username)
        now = self._clock()
        if now - self._checked_at >= self._ttl and self._checking.acquire(blocking=False):
            try:
                self._check(now)
            finally:
                self._checking.release()
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
                self._entries[username] = (profile, now + 2 * self._ttl)
        return profile

    def _check(self, now: float) -> None:
        """Keep the entries that still match the store (valid for another ``2 * ttl``),
        drop the rest. A failed read leaves them to expire (then read one by one)."""
        self._checked_at = now
        if not self._entries:
            return
        current = self._store.login_fields()
        self.bulk_checks += 1
        until = now + 2 * self._ttl
        with self._lock:
            for username, (profile, _) in list(self._entries.items()):
                if current.get(profile.id) == _fields(profile):
                    self._entries[username] = (profile, until)
                else:
                    del self._entries[username]
