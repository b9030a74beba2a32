"""Web Connector passwords: generated, shown once, stored as scrypt hashes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = [
    "CredentialCache",
    "PasswordChecker",
    "generate_password",
    "hash_password",
    "verify_password",
]

# scrypt with n=2**14, r=8, p=1: ~50 ms and 16 MiB per check, which makes guessing slow and
# costs a gateway little at the Web Connector's few logins a minute.
_N, _R, _P = 2**14, 8, 1
_DUMMY = "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = _N) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=_R, p=_P, dklen=32)
    return f"scrypt${n}${_R}${_P}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str | None) -> bool:
    """Constant-time check. ``stored=None`` (unknown user) still costs one scrypt run, so
    response times do not tell which user names exist."""
    algorithm, n, r, p, salt, digest = (stored or _DUMMY).split("$")
    if algorithm != "scrypt":
        return False
    candidate = hashlib.scrypt(
        password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=32
    )
    return hmac.compare_digest(candidate, _unb64(digest)) and stored is not None


class CredentialCache:
    """Remembers for a while that a user name and password matched a stored hash.

    A Web Connector sends the same password on every poll (every few minutes, for every
    company file); one scrypt run per poll would make scrypt the gateway's whole CPU budget.
    After a successful check, a keyed HMAC of the password (under a random key that lives
    only in this process) is kept for ``ttl``; a hit costs microseconds. Nothing here can be
    reversed into the password, a password reset changes the stored hash and so misses, and
    failures are never cached: every wrong password still costs a full scrypt run.

    A hit extends the entry by ``ttl`` (a Web Connector that keeps polling within it never
    pays scrypt again): with a fixed expiry, 5,000 files polling once a minute cost 5,000
    scrypt runs every ``ttl`` (~0.3 of a core at 15 minutes), for nothing a reset or the
    HMAC does not already cover.
    """

    def __init__(
        self,
        ttl: float = 900.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._key = secrets.token_bytes(32)
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[str, bytes, float]] = {}
        self._lock = threading.Lock()

    def _mac(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def hit(self, username: str, password: str, stored_hash: str) -> bool:
        entry = self._entries.get(username)
        if entry is None:
            return False
        known_hash, mac, expires = entry
        now = self._clock()
        if known_hash != stored_hash or now > expires:
            return False
        if not hmac.compare_digest(mac, self._mac(password)):
            return False
        self._entries[username] = (known_hash, mac, now + self._ttl)
        return True

    def remember(self, username: str, password: str, stored_hash: str) -> None:
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()  # rare; the next polls pay one scrypt run each
            self._entries[username] = (
                stored_hash,
                self._mac(password),
                self._clock() + self._ttl,
            )


class PasswordChecker:
    """scrypt with a per-process bound: at most ``concurrency`` derivations at once.

    Each costs ~50 ms of a core and 16 MiB; unbounded, a burst of logins (guessed names
    included) keeps every core on scrypt and starves everything else the gateway serves
    (a ``serverVersion`` took 1.7 s). A check that finds no free slot within ``wait``
    seconds is not run: :meth:`verify` answers None and the caller says "busy, come back
    later", which tells nothing about the user name or the password.

    ``derivations`` and ``most_at_once`` count what ran (metrics, and tests asserting on
    which path a login took instead of on durations); ``on_check`` is told the CPU seconds
    of each derivation (the gateway's metrics: what credential checks cost at scale).
    """

    def __init__(
        self,
        concurrency: int = 2,
        wait: float = 0.25,
        on_check: Callable[[float], None] | None = None,
    ) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self._wait = wait
        self._on_check = on_check
        self._lock = threading.Lock()
        self._active = 0
        self.derivations = 0
        self.most_at_once = 0

    @contextmanager
    def slot(self) -> Iterator[bool]:
        """Hold one of the derivation slots (True), or none was free within ``wait``
        (False). A login takes its slot before it counts an attempt: an answer of "busy"
        then costs no store write and never counts toward the name's lockout."""
        if not self._slots.acquire(timeout=self._wait):
            yield False
            return
        try:
            yield True
        finally:
            self._slots.release()

    def check(self, password: str, stored: str | None) -> bool:
        """:func:`verify_password`, counted; the caller holds a :meth:`slot`."""
        with self._lock:
            self.derivations += 1
            self._active += 1
            self.most_at_once = max(self.most_at_once, self._active)
        try:
            started = time.thread_time()
            verified = verify_password(password, stored)
            if self._on_check is not None:
                self._on_check(time.thread_time() - started)
            return verified
        finally:
            with self._lock:
                self._active -= 1

    def verify(self, password: str, stored: str | None) -> bool | None:
        """:func:`verify_password` (a dummy hash for ``stored=None``), or None when no
        slot was free in time."""
        with self.slot() as free:
            return self.check(password, stored) if free else None
