"""The WSGI server's stop: a second signal during shutdown does nothing.

Ctrl-C on `qbsync run` reaches a child twice (SIGINT from the terminal, SIGTERM from `run`);
the second handler ran inside the first one's ``task_dispatcher.shutdown()``, whose lock is
not re-entrant, and the child hung until `run` killed it 20 s later.
"""

from __future__ import annotations

import threading
import urllib.request
from typing import Any

from connectors.qbwc._wsgi import GatewayServer
from qbsync.runtime import free_port
from tests.support.waiting import until


def _ok(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_a_stop_inside_a_stop_returns_at_once_and_shuts_down_once() -> None:
    port = free_port()
    server = GatewayServer(_ok, host="127.0.0.1", port=port, threads=2)
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()

    def answers() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as answer:
                return bool(answer.status == 200)
        except OSError:
            return False

    until(answers, timeout=30, what="the server to answer")
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
    serving.join(timeout=30)
    assert not serving.is_alive()
    assert shutdowns == [1]
