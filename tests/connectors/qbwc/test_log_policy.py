"""What waitress may log inside the gateway (connectors.qbwc._log_policy)."""

from __future__ import annotations

import logging
import threading
import urllib.request
from typing import Any

import pytest

from connectors.qbwc._wsgi import GatewayServer
from qbsync.runtime import free_port
from tests.support.waiting import until


def test_requests_queued_behind_busy_threads_log_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """waitress warns "Task queue depth is N" for each request that finds every thread
    busy: a busy gateway's every call. The gateway's server does not let it through (an
    error from waitress still would), and the requests are all answered."""
    release = threading.Event()

    def held(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        release.wait(timeout=60)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    port = free_port()
    server = GatewayServer(held, host="127.0.0.1", port=port, threads=1)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    answers: list[int] = []

    def call() -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as answer:
            answers.append(answer.status)

    clients = [threading.Thread(target=call) for _ in range(3)]
    try:
        with caplog.at_level(logging.DEBUG):
            for client in clients:
                client.start()
            dispatcher = server._server.task_dispatcher
            # One request on the one thread, two waiting for it: what waitress warns of.
            until(lambda: len(dispatcher.queue) == 2, timeout=30, what="two queued requests")
            release.set()
            for client in clients:
                client.join(timeout=60)
            queue_records = [r.getMessage() for r in caplog.records if r.name == "waitress.queue"]
    finally:
        release.set()
        server.stop()
        serving.join(timeout=30)
    assert answers == [200, 200, 200]
    assert queue_records == []
    assert logging.getLogger("waitress.queue").isEnabledFor(logging.ERROR)
