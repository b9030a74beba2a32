"""A stop with the broker gone takes no longer than the timeout it was given: the worker's
producers share one deadline, and so do each producer's reports thread and flush (a
stop that overruns its grace period is killed, and everything unacknowledged is read again,
so this is about stopping on time, not about losing anything). Pure logic over a clock."""

from __future__ import annotations

import threading

import pytest

from connectors.kafka import ProducerPool, _producer
from connectors.kafka._producer import AsyncProducer


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Slow:
    """Anything that waits: uses up to ``takes`` seconds of the timeout it is given."""

    def __init__(self, clock: _Clock, takes: float) -> None:
        self.clock = clock
        self.takes = takes
        self.given: list[float] = []

    def wait(self, timeout: float) -> None:
        self.given.append(timeout)
        self.clock.now += min(self.takes, timeout)


class _Member(_Slow):
    def close(self, timeout: float) -> None:
        self.wait(timeout)


class _Thread(_Slow):
    def join(self, timeout: float) -> None:
        self.wait(timeout)


class _Client(_Slow):
    closed = False

    def flush(self, timeout: float) -> int:
        self.wait(timeout)
        return 1

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    clock = _Clock()
    monkeypatch.setattr(_producer.time, "monotonic", clock)
    return clock


def test_the_pool_s_producers_share_one_deadline(clock: _Clock) -> None:
    members = [_Member(clock, takes=4.0) for _ in range(4)]
    pool = ProducerPool.__new__(ProducerPool)
    pool._members = members  # type: ignore[assignment]
    pool.close(timeout=10.0)
    assert [m.given for m in members] == [[10.0], [6.0], [2.0], [0.0]]
    assert clock.now == 10.0


def test_a_producer_s_reports_thread_and_flush_share_its_timeout(clock: _Clock) -> None:
    producer = AsyncProducer.__new__(AsyncProducer)
    producer._closing = threading.Event()
    thread = _Thread(clock, takes=7.0)
    client = _Client(clock, takes=60.0)
    producer._thread = thread  # type: ignore[assignment]
    producer._producer = client  # type: ignore[assignment]
    producer.close(timeout=10.0)
    assert producer._closing.is_set()
    assert thread.given == [10.0]
    assert client.given == [3.0]
    assert client.closed
    assert clock.now == 10.0
