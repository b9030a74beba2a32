"""Who is calling: the credential check of ``authenticate``, with throttling and lockout.

Which path runs depends only on what the caller sent and on the counters of the name it sent,
never on whether that name exists: an unknown name is throttled, counted and checked (against
a dummy hash) exactly like a known one, so neither the answer nor its cost tells which names
exist. A password verified recently is not run through scrypt again (:class:`CredentialCache`):
a Web Connector that knows its password is never locked out by someone guessing.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from connectors.qbwc._passwords import CredentialCache, PasswordChecker
from connectors.qbwc._profile_cache import ProfileCache
from connectors.store import Profile, Store

__all__ = ["Login", "LoginPolicy", "Verdict", "global_throttle_key", "throttle_key"]

log = logging.getLogger(__name__)

# Login counters nobody has used for this long are deleted (names sprayed at the gateway).
_FORGET_LOGINS = timedelta(days=1)

Refusal = Literal["throttled", "overloaded", "nvu"]


@dataclass(frozen=True)
class LoginPolicy:
    # Failed logins for one user name before further attempts are refused unchecked, for
    # 2**(n - free) seconds (at most max_lockout): guessing gets slow, a typo does not hurt.
    free_failures: int = 5
    max_lockout: timedelta = timedelta(minutes=5)
    first_lockout: timedelta = timedelta(seconds=1)
    # Failed logins per minute over all user names beyond which logins without a recently
    # verified password are refused unchecked until the minute is over.
    global_failures_per_minute: int = 300
    # scrypt derivations at once in this process, and how long a login waits for one.
    kdf_concurrency: int = 2
    kdf_wait: float = 0.25


@dataclass(frozen=True)
class Verdict:
    """The profile whose password was given, or why there is none."""

    profile: Profile | None
    refusal: Refusal | None = None


def throttle_key(username: str) -> str:
    """The login counter of a user name, known or not (a hash: names are not stored)."""
    return "name:" + hashlib.sha256(username.encode()).hexdigest()[:40]


def global_throttle_key(moment: datetime | None) -> str:
    """The counter of failed logins over all names in ``moment``'s minute (None: prefix)."""
    return "global:" + ("" if moment is None else moment.strftime("%Y%m%dT%H%M"))


class Login:
    def __init__(
        self,
        store: Store,
        profiles: ProfileCache,
        policy: LoginPolicy,
        on_check: Callable[[float], None] | None = None,
    ) -> None:
        """``on_check``: told the CPU seconds of every scrypt check (metrics)."""
        self._store = store
        self._profiles = profiles
        self._policy = policy
        self.credentials = CredentialCache()
        self.passwords = PasswordChecker(policy.kdf_concurrency, policy.kdf_wait, on_check)
        # Checks running in this process per throttle key: unclaimed (counted only if the
        # password is wrong) and claimed (counted before the check).
        self._running_lock = threading.Lock()
        self._unclaimed: dict[str, int] = {}
        self._claimed: dict[str, int] = {}

    def check(self, username: str, password: str) -> Verdict:
        profile = self._profiles.by_username(username)
        if profile is not None and self.credentials.hit(username, password, profile.password_hash):
            return Verdict(profile)
        # The slot first: a login answered "busy" is not an attempt (no store write, and a
        # Web Connector retrying through a burst of first polls is never locked out).
        with self.passwords.slot() as free_slot:
            if not free_slot:
                log.info("authenticate: every password check slot is busy")
                return Verdict(None, "overloaded")
            return self._checked(username, password, profile)

    def _checked(self, username: str, password: str, profile: Profile | None) -> Verdict:
        """The throttled, counted scrypt check (a slot held).

        A name whose counter is clear (no failures, no lockout: every Web Connector's first
        login, and every login after a restart) is checked first and counted after, only if
        the password is wrong: its login reads the counters and writes nothing. Any other
        name, or one with a check already running in this process, claims its attempt first
        (:meth:`Store.claim_login`, one atomic count), as before. The unclaimed checks
        running in this process count against the free attempts of the claims made meanwhile,
        so in one process parallel guesses still get ``free_failures`` checks and then one at
        a time; across replicas each may run one more, once, while the counter is clear.
        """
        key = throttle_key(username)
        now = datetime.now(UTC)
        bucket = global_throttle_key(now)
        counters = self._store.login_counters(key, bucket)
        if counters.get(bucket, (0, None))[0] >= self._policy.global_failures_per_minute:
            log.info("authenticate throttled")
            return Verdict(None, "throttled")
        failures, locked_until = counters.get(key, (0, None))
        clear = failures == 0 and (locked_until is None or locked_until <= now)
        with self._running_lock:
            unclaimed = self._unclaimed.get(key, 0)
            claimed = not clear or unclaimed > 0 or self._claimed.get(key, 0) > 0
            running = self._claimed if claimed else self._unclaimed
            running[key] = running.get(key, 0) + 1
        try:
            return self._check(key, username, password, profile, claimed, unclaimed)
        finally:
            with self._running_lock:
                running[key] -= 1
                if not running[key]:
                    del running[key]

    def _check(
        self,
        key: str,
        username: str,
        password: str,
        profile: Profile | None,
        claimed: bool,
        unclaimed: int,
    ) -> Verdict:
        free = self._policy.free_failures
        if claimed and not self._store.claim_login(
            key, free_failures=free - unclaimed, lockout=self._lockout
        ):
            log.info("authenticate throttled")
            return Verdict(None, "throttled")
        verified = self.passwords.check(
            password, None if profile is None else profile.password_hash
        )
        if not verified:
            if not claimed:
                self._store.claim_login(key, free_failures=free, lockout=self._lockout)
            self._store.login_failed(key, free_failures=free, lockout=self._lockout)
            now = datetime.now(UTC)
            bucket = global_throttle_key(now)
            if self._store.count_failure(bucket) == 1:  # once a minute, by one replica
                self._store.prune_counters(
                    global_throttle_key(None), keep=[bucket], idle_before=now - _FORGET_LOGINS
                )
            log.info("authenticate refused", extra={"outcome": "nvu"})
            return Verdict(None, "nvu")
        assert profile is not None
        self.credentials.remember(username, password, profile.password_hash)
        if claimed:
            self._store.login_succeeded(key)
        return Verdict(profile)

    def _lockout(self, excess: int) -> timedelta:
        """How long a name stays locked after ``excess`` attempts beyond the free ones."""
        grown: timedelta = self._policy.first_lockout * 2 ** min(excess - 1, 20)
        return min(grown, self._policy.max_lockout)
