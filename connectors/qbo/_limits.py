"""Intuit's limits per QBO company (realm), enforced before a request leaves qbsync.

From ``../shared/qbo/README.md`` ("Limits", Intuit's developer documentation): at most 500
requests per minute per realm (batch requests included) and at most 10 concurrent requests
per realm; more is answered HTTP 429 ``ThrottleExceeded``. A batch request (``POST /batch``)
counts as one of the 500 and, besides, as one of at most 40 batch requests a minute per
realm. A ``Retry-After`` pauses the whole realm, not one request: every thread sending to
that realm waits it out.

The window is a sliding log of the last ``per_minute`` start times: a request may start when
fewer than ``per_minute`` started in the last 60 seconds (``window_s``; shorter only in a
benchmark's smoke run). :meth:`RealmLimiter.delay` is the
pure rule; :meth:`RealmLimiter.slot` waits for it and for a free concurrency slot.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["BATCHES_PER_MINUTE", "MARGIN_S", "WINDOW_S", "RealmLimiter", "RealmLimits"]

WINDOW_S = 60.0
# Intuit: at most 40 batch requests per minute per realm (each also one of the 500).
BATCHES_PER_MINUTE = 40
# Intuit counts a request when it arrives, we when it leaves: latency varies, so a request
# let out exactly a window after the oldest could arrive inside Intuit's window. A second of
# headroom per minute costs 1.6 % of the rate and no 429s.
MARGIN_S = 1.0


class RealmLimiter:
    def __init__(
        self,
        *,
        per_minute: int = 500,
        concurrent: int = 10,
        window_s: float = WINDOW_S,
        margin_s: float = MARGIN_S,
        batches_per_minute: int = BATCHES_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 1 or concurrent < 1 or batches_per_minute < 1:
            raise ValueError("per_minute, concurrent and batches_per_minute must be at least 1")
        self.per_minute = per_minute
        self.concurrent = concurrent
        self.batches_per_minute = batches_per_minute
        self.window_s = window_s + margin_s
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._batches: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(concurrent)

    def delay(self, now: float, batch: bool = False) -> float:
        """Seconds until one more request (a batch request: ``batch``) may start (0: now).
        Call with the lock held."""
        for starts in (self._starts, self._batches):
            while starts and now - starts[0] >= self.window_s:
                starts.popleft()
        wait = max(0.0, self._paused_until - now)
        if len(self._starts) >= self.per_minute:
            wait = max(wait, self._starts[0] + self.window_s - now)
        if batch and len(self._batches) >= self.batches_per_minute:
            wait = max(wait, self._batches[0] + self.window_s - now)
        return wait

    def wait_s(self, batch: bool = False) -> float:
        """Seconds until one more request (a batch request: ``batch``) may start now (0: at
        once); nothing is taken."""
        with self._lock:
            return self.delay(self._clock(), batch)

    def pause(self, seconds: float) -> None:
        """Intuit said ``Retry-After: seconds``: nobody sends to this realm before then."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def _admit(self, batch: bool) -> None:
        while True:
            with self._lock:
                now = self._clock()
                wait = self.delay(now, batch)
                if wait <= 0:
                    self._starts.append(now)
                    if batch:
                        self._batches.append(now)
                    return
            self._sleep(min(wait, 1.0))  # the limit itself, not synchronization

    @contextmanager
    def slot(self, batch: bool = False) -> Iterator[None]:
        """Hold one of the realm's concurrent slots for one request (a batch request:
        ``batch``, within the batch rate too), within the rate."""
        self._slots.acquire()
        try:
            self._admit(batch)
            yield
        finally:
            self._slots.release()


class RealmLimits:
    """One :class:`RealmLimiter` per realm, created on first use (thread-safe)."""

    def __init__(
        self,
        *,
        per_minute: int = 500,
        concurrent: int = 10,
        window_s: float = WINDOW_S,
        margin_s: float = MARGIN_S,
        batches_per_minute: int = BATCHES_PER_MINUTE,
    ) -> None:
        self._batches_per_minute = batches_per_minute
        self._per_minute = per_minute
        self._concurrent = concurrent
        self._window_s = window_s
        self._margin_s = margin_s
        self._limiters: dict[str, RealmLimiter] = {}
        self._lock = threading.Lock()

    def __call__(self, realm_id: str) -> RealmLimiter:
        with self._lock:
            limiter = self._limiters.get(realm_id)
            if limiter is None:
                limiter = RealmLimiter(
                    per_minute=self._per_minute,
                    concurrent=self._concurrent,
                    window_s=self._window_s,
                    margin_s=self._margin_s,
                    batches_per_minute=self._batches_per_minute,
                )
                self._limiters[realm_id] = limiter
            return limiter
