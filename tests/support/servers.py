"""A WSGI app served by the gateway's own server in a thread, for tests of the server."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from connectors.qbwc._wsgi import GatewayServer, WsgiApp
from qbsync.runtime import free_port
from tests.support.waiting import answers, until

__all__ = ["Running", "fetch", "held", "ok", "running"]


@dataclass(frozen=True)
class Running:
    server: GatewayServer
    url: str
    thread: threading.Thread


@contextmanager
def running(app: WsgiApp, *, threads: int, ready: bool = True) -> Iterator[Running]:
    """``app`` on a free port (``ready``: answering GET / once this yields: not for an app
    that holds its calls); stopped at the end (a stop the test made is not repeated:
    ``stop`` runs once)."""
    port = free_port()
    server = GatewayServer(app, host="127.0.0.1", port=port, threads=threads)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    served = Running(server, f"http://127.0.0.1:{port}/", thread)
    try:
        if ready:
            until(lambda: answers(served.url), timeout=30, what="the server to answer")
        yield served
    finally:
        server.stop()
        thread.join(timeout=30)


def ok(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def held(release: threading.Event, entered: threading.Event | None = None) -> WsgiApp:
    """An app whose every call sets ``entered``, then waits for ``release`` to answer."""

    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if entered is not None:
            entered.set()
        release.wait(timeout=60)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    return app


def fetch(url: str, into: list[tuple[int, bytes]]) -> None:
    """GET ``url`` and append its status and body to ``into`` (a client thread's target)."""
    with urllib.request.urlopen(url, timeout=60) as answer:
        into.append((answer.status, answer.read()))
