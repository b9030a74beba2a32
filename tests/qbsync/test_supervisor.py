"""core.processes.Supervised on its own (a fake child and clock): restarts after the
backoff, doubling up to the cap, counting again once a child stayed up."""

from __future__ import annotations

from pathlib import Path

from core.processes import ChildProcess, Supervised


class FakePopen:
    pid = 1

    def __init__(self) -> None:
        self.returncode: int | None = None

    def poll(self) -> int | None:
        return self.returncode


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_to_its_cap_and_resets_after_a_stable_run() -> None:
    clock = Clock()
    started: list[FakePopen] = []

    def start() -> ChildProcess:
        started.append(FakePopen())
        return ChildProcess("gateway", started[-1], Path("unused.log"))  # type: ignore[arg-type]

    child = Supervised("gateway", start, backoff_s=1, max_backoff_s=3, stable_s=10, clock=clock)
    delays = []
    for _ in range(4):
        started[-1].returncode = -9
        assert child.check() is False  # noticed: waits for the backoff
        begun = clock.now
        while not child.check():
            clock.now += 0.5
        delays.append(clock.now - begun)
    assert delays == [1.0, 2.0, 3.0, 3.0]
    assert (len(started), child.restarts, child.attempt) == (5, 4, 4)

    clock.now += 10  # up long enough: the next exit is a first attempt again
    assert child.check() is False
    assert child.attempt == 0
    started[-1].returncode = 1
    child.check()
    assert child.attempt == 1
