"""The WSGI server's stop: once however often it is asked, quiet, after the calls in progress.

A second signal during shutdown does nothing: Ctrl-C on `qbsync run` reaches a child twice
(SIGINT from the terminal, SIGTERM from `run`); the second handler ran inside the first
one's ``task_dispatcher.shutdown()``, whose lock is not re-entrant, and the child hung until
`run` killed it 20 s later.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from tests.support.servers import fetch, held, ok, running
from tests.support.waiting import until


def test_a_stop_inside_a_stop_returns_at_once_and_shuts_down_once() -> None:
    with running(ok, threads=2) as served:
        server = served.server
        dispatcher = server._server.task_dispatcher
        original = dispatcher.shutdown
        shutdowns: list[int] = []

        def reentered(*args: Any, **kwargs: Any) -> Any:
            shutdowns.append(1)
            if len(shutdowns) == 1:
                server.stop()  # the second signal's handler, run inside the first's shutdown
            return original(*args, **kwargs)

        dispatcher.shutdown = reentered  # type: ignore[method-assign]
        server.stop()
        served.thread.join(timeout=30)
        assert not served.thread.is_alive()
    assert shutdowns == [1]


def test_a_stop_does_not_turn_the_loop_on_its_shut_listener(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """stop() shuts the listener down (to leave a shared port at once), then closes it; a
    listener shut down reads as ready, so every turn of waitress's loop in between called
    accept() on it and logged the failure (100-300 warnings a stop, when the loop turned).
    Here the loop is made to turn three times in between: no warning from waitress."""
    with running(ok, threads=2) as served:
        listener = served.server._server
        turns = [0]
        readable = listener.readable

        def counted() -> bool:
            turns[0] += 1
            return bool(readable())

        listener.readable = counted
        close = listener.close

        def close_after_turns() -> None:
            start = turns[0]
            until(lambda: turns[0] >= start + 3, timeout=30, what="three turns of the loop")
            close()

        listener.close = close_after_turns
        with caplog.at_level(logging.DEBUG, logger="waitress"):
            served.server.stop()
            served.thread.join(timeout=30)
            warned = [r.getMessage() for r in caplog.records if r.name.startswith("waitress")]
        assert not served.thread.is_alive()
    assert turns[0] >= 3
    assert warned == []


def test_a_call_in_progress_at_a_stop_gets_its_answer(caplog: pytest.LogCaptureFixture) -> None:
    """A stop lets the call being served finish and write its answer before the
    connections close; closed under it, the call's thread failed with OSError and the
    client read a reset instead of the answer to work already done."""
    entered, release = threading.Event(), threading.Event()
    answered: list[tuple[int, bytes]] = []
    with running(held(release, entered), threads=2, ready=False) as served:
        caller = threading.Thread(target=fetch, args=(served.url, answered))
        with caplog.at_level(logging.DEBUG, logger="waitress"):
            caller.start()
            assert entered.wait(30)
            stopping = threading.Thread(target=served.server.stop)
            stopping.start()
            listener = served.server._server
            until(lambda: not listener.accepting, timeout=30, what="the stop to begin")
            release.set()
            caller.join(timeout=30)
            stopping.join(timeout=30)
            served.thread.join(timeout=30)
            failed = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
        assert not served.thread.is_alive()
    assert answered == [(200, b"done")]
    assert failed == []
