"""core.grouping on its own (real threads, a recording run): concurrent items share a run,
each caller gets its own outcome, a failed run fails only its own items."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from core.grouping import Grouped
from tests.support.threads import joined, started
from tests.support.waiting import until


class Recorder:
    """Records each run's items; ``refuse`` names items answered with an error; ``hold``
    keeps the first run waiting until released."""

    def __init__(self, refuse: frozenset[str] = frozenset(), hold: bool = False) -> None:
        self.runs: list[list[str]] = []
        self.refuse = refuse
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, items: list[str]) -> Mapping[int, BaseException]:
        self.runs.append(list(items))
        self.entered.set()
        assert self.release.wait(30), "the test never released the held run"
        return {i: LookupError(item) for i, item in enumerate(items) if item in self.refuse}


def test_a_lone_item_runs_at_once_by_itself() -> None:
    recorder = Recorder()
    group: Grouped[str] = Grouped(recorder)
    group.submit("a")
    group.submit("b")
    assert recorder.runs == [["a"], ["b"]]
    assert group.runs == 2


def test_items_arriving_during_a_run_share_the_next_one() -> None:
    recorder = Recorder(hold=True)
    group: Grouped[str] = Grouped(recorder)
    first, first_raised = started(lambda: group.submit("a"))
    assert recorder.entered.wait(30)
    others = [started(lambda item=item: group.submit(item)) for item in ("b", "c", "d")]
    until(lambda: group.waiting == 3, what="three items queued behind the first run")
    recorder.release.set()
    joined(first, *(thread for thread, _ in others))
    assert first_raised == []
    assert all(raised == [] for _, raised in others)
    assert recorder.runs[0] == ["a"]
    assert sorted(recorder.runs[1]) == ["b", "c", "d"]
    assert group.runs == 2


def test_an_items_error_reaches_only_its_own_caller() -> None:
    recorder = Recorder(refuse=frozenset({"bad"}), hold=True)
    group: Grouped[str] = Grouped(recorder)
    first, _ = started(lambda: group.submit("a"))
    assert recorder.entered.wait(30)
    good, good_raised = started(lambda: group.submit("good"))
    bad, bad_raised = started(lambda: group.submit("bad"))
    until(lambda: group.waiting == 2, what="two items queued")
    recorder.release.set()
    joined(first, good, bad)
    assert sorted(recorder.runs[1]) == ["bad", "good"]  # they did share the run
    assert good_raised == []
    (error,) = bad_raised
    assert isinstance(error, LookupError)
    assert error.args == ("bad",)


def test_a_run_that_raises_fails_its_items_and_the_next_item_goes_on() -> None:
    attempts = iter([RuntimeError("connection lost"), None])

    def run(items: list[str]) -> Mapping[int, BaseException]:
        failure = next(attempts)
        if failure is not None:
            raise failure
        return {}

    group: Grouped[str] = Grouped(run)
    with pytest.raises(RuntimeError, match="connection lost"):
        group.submit("a")
    group.submit("a")  # not stuck behind the failed run


def test_an_interrupted_run_tells_its_waiting_items_they_may_not_be_done() -> None:
    """A KeyboardInterrupt in the run ends its caller; the others queued in it must not
    believe their items done."""
    entered, release = threading.Event(), threading.Event()
    calls: list[list[str]] = []

    def run(items: list[str]) -> Mapping[int, BaseException]:
        calls.append(items)
        if len(calls) == 1:
            entered.set()
            assert release.wait(30)
            return {}
        raise KeyboardInterrupt

    group: Grouped[str] = Grouped(run)
    first, _ = started(lambda: group.submit("a"))
    assert entered.wait(30)
    b, b_raised = started(lambda: group.submit("b"))
    c, c_raised = started(lambda: group.submit("c"))
    until(lambda: group.waiting == 2, what="two items queued")
    release.set()
    joined(first, b, c)
    raised = sorted((type(e).__name__, str(e)) for e in b_raised + c_raised)
    assert [name for name, _ in raised] == ["KeyboardInterrupt", "RuntimeError"]
    assert "may not have been done" in raised[1][1]
