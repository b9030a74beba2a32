"""What waitress may log inside the gateway (connectors.qbwc._log_policy)."""

from __future__ import annotations

import logging
import threading

import pytest

from tests.support.servers import fetch, held, running
from tests.support.waiting import until


def test_requests_queued_behind_busy_threads_log_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """waitress warns "Task queue depth is N" for each request that finds every thread
    busy: a busy gateway's every call. The gateway's server does not let it through (an
    error from waitress still would), and the requests are all answered."""
    release = threading.Event()
    answers: list[tuple[int, bytes]] = []
    with running(held(release), threads=1, ready=False) as served:
        clients = [threading.Thread(target=fetch, args=(served.url, answers)) for _ in range(3)]
        try:
            with caplog.at_level(logging.DEBUG):
                for client in clients:
                    client.start()
                dispatcher = served.server._server.task_dispatcher
                # One request on the one thread, two waiting for it: what waitress warns of.
                until(lambda: len(dispatcher.queue) == 2, timeout=30, what="two queued requests")
                release.set()
                for client in clients:
                    client.join(timeout=60)
                queue_records = [
                    r.getMessage() for r in caplog.records if r.name == "waitress.queue"
                ]
        finally:
            release.set()
    assert [status for status, _ in answers] == [200, 200, 200]
    assert queue_records == []
    assert logging.getLogger("waitress.queue").isEnabledFor(logging.ERROR)
