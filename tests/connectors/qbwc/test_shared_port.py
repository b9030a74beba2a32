"""Gateway servers sharing one port (``reuse_port``, SO_REUSEPORT): the kernel spreads new
connections over them, a server that stops leaves the others serving, and a server that
does not ask to share is refused the port."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import pytest

from connectors.qbwc._wsgi import GatewayServer, WsgiApp
from qbsync.runtime import free_port
from tests.support.waiting import until


def _named(name: str) -> WsgiApp:
    def app(_environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [name.encode()]

    return app


@contextmanager
def _serving(server: GatewayServer) -> Iterator[GatewayServer]:
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(10)


def _answer(port: int) -> str:
    """One request on a new connection (as a Web Connector that reconnects)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", "/")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def test_servers_sharing_a_port_each_take_connections_and_outlive_each_other() -> None:
    port = free_port()
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                _serving(
                    GatewayServer(
                        _named(name), host="127.0.0.1", port=port, threads=2, reuse_port=True
                    )
                )
            )
            for name in ("first", "second")
        ]
        seen: set[str] = set()
        until(
            lambda: seen >= {"first", "second"},
            step=lambda: seen.add(_answer(port)),
            timeout=30,
            what="new connections reaching both servers",
        )
        servers[0].stop()
        # Once the first has closed its socket, every new connection reaches the second.
        assert {_answer(port) for _ in range(20)} == {"second"}


def test_a_server_that_does_not_share_is_refused_a_shared_port() -> None:
    port = free_port()
    shared = GatewayServer(
        _named("shared"), host="127.0.0.1", port=port, threads=1, reuse_port=True
    )
    with _serving(shared), pytest.raises(OSError):
        GatewayServer(_named("alone"), host="127.0.0.1", port=port, threads=1)
