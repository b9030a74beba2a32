"""The peer for ``bench/gateway_peer.py``: the PyPI package qbwc-kit's ``QBWCService`` mounted
as bare WSGI on waitress, its work queues in memory (run as a script, with the pinned
qbwc-kit on ``PYTHONPATH``).

Each user ``peer-<n>`` (password ``--password``) has a queue of customer adds; one task per
session sends them ``--per-message`` at a time. ``POST /fill?count=N`` refills every queue
with N adds (outside the measured calls); ``GET /healthz`` answers ``ok``; every other POST is
a SOAP call handed to ``QBWCService.dispatch``.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Generator, Iterable
from typing import Any
from urllib.parse import parse_qs

import waitress
from qbwc_kit import QBWCService, QBXMLRequest, add  # type: ignore[import-not-found]


class _Queues:
    def __init__(self, users: int, password: str, per_message: int) -> None:
        self._password = password
        self._per_message = per_message
        self._lock = threading.Lock()
        self.queues: dict[str, list[str]] = {f"peer-{n}": [] for n in range(users)}
        self.done = 0

    def fill(self, count: int) -> None:
        with self._lock:
            for user, queue in self.queues.items():
                queue[:] = [f"Peer {user} {i}" for i in range(count)]

    def authenticate(self, username: str, password: str) -> bool:
        return username in self.queues and password == self._password

    def tasks_for(self, username: str) -> Iterable[Any]:
        return [_Drain(self, username)] if self.queues[username] else []


class _Drain:
    name = "drain"

    def __init__(self, queues: _Queues, username: str) -> None:
        self._queues = queues
        self._username = username

    def run(self, ctx: Any) -> Generator[QBXMLRequest, Any, None]:
        queue = self._queues.queues[self._username]
        while queue:
            batch = queue[: self._queues._per_message]
            result = yield QBXMLRequest([add("Customer", {"Name": name}) for name in batch])
            for response in result:
                response.raise_for_status()
            del queue[: len(batch)]
            self._queues.done += len(batch)


def app(service: QBWCService, queues: _Queues) -> Callable[..., list[bytes]]:
    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        if path == "/fill":
            count = int(parse_qs(environ.get("QUERY_STRING", "")).get("count", ["0"])[0])
            queues.fill(count)
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"filled"]
        answer = service.dispatch(body).encode()
        start_response(
            "200 OK",
            [("Content-Type", "text/xml; charset=utf-8"), ("Content-Length", str(len(answer)))],
        )
        return [answer]

    return wsgi


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--per-message", type=int, default=25)
    parser.add_argument("--threads", type=int, default=16)
    args = parser.parse_args()
    queues = _Queues(args.users, args.password, args.per_message)
    service = QBWCService(authenticator=queues)
    waitress.serve(
        app(service, queues),
        host="127.0.0.1",
        port=args.port,
        threads=args.threads,
        connection_limit=1000,
        _quiet=True,
    )


if __name__ == "__main__":
    main()
