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
from dataclasses import dataclass

from connectors.store import Profile, Store

__all__ = ["ProfileCache"]


def _fields(profile: Profile) -> tuple[str, str, bool, str]:
    """What a login uses of a profile, as :meth:`Store.login_fields` gives it."""
    return (profile.username, profile.password_hash, bool(profile.enabled), profile.company_file)


@dataclass(frozen=True)
class _Entry:
    profile: Profile
    profile_id: str
    fields: tuple[str, str, bool, str]  # _fields(profile), kept: the bulk check compares it
    read_at: float


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
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._checking = threading.Lock()
        # When the last bulk check began: every entry it kept matched the store then.
        self._checked_at = clock()
        self._confirmed_at = float("-inf")
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
        # Valid for 2 * ttl after it was read or last confirmed by a bulk check.
        if entry is not None and now < max(entry.read_at, self._confirmed_at) + 2 * self._ttl:
            return entry.profile
        profile = self._store.profile_by_username(username)
        with self._lock:
            if profile is None:
                self._entries.pop(username, None)
            else:
                if len(self._entries) >= self._max:
                    self._entries.clear()  # rare; the next polls read the store once each
                self._entries[username] = _Entry(profile, profile.id, _fields(profile), now)
        return profile

    def _check(self, now: float) -> None:
        """Drop the entries that no longer match the store; the rest are confirmed as of
        ``now``. A failed read leaves them to expire (then read one by one)."""
        self._checked_at = now
        if not self._entries:
            return
        current = self._store.login_fields()
        self.bulk_checks += 1
        with self._lock:
            stale = [
                username
                for username, entry in self._entries.items()
                if current.get(entry.profile_id) != entry.fields
            ]
            for username in stale:
                del self._entries[username]
            # An entry read after ``now`` is newer than this check: its own read_at counts.
            self._confirmed_at = now
