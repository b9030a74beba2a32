"""Fixtures for the sandbox: a strict company file (Intuit's schema on every request), a
clock the test moves by hand, and a sender that checks both directions against the XSD."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waitress.server import create_server

from connectors.sandbox import CompanyFile
from tests.connectors.sandbox.fake_gateway import FakeGateway, wsgi
from tests.connectors.sandbox.qbxml_text import Sender


class Clock:
    """Time that moves only when the test says so (EditSequence, TimeModified, dates)."""

    def __init__(self, now: float = 1_717_200_000.0) -> None:  # 2024-06-01T00:00:00Z
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Sleeps:
    """Records the pauses the code asked for instead of sleeping."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def company(
    tmp_path: Path, qbxml_reference: Path, clock: Clock, sleeps: Sleeps
) -> Iterator[CompanyFile]:
    file = CompanyFile(
        tmp_path / "company.db", validate_with=qbxml_reference, clock=clock, sleep=sleeps
    )
    yield file
    file.close()


@pytest.fixture
def qb(company: CompanyFile, qbxml_reference: Path) -> Sender:
    return Sender(company, qbxml_reference)


@pytest.fixture
def http_gateway() -> Iterator[tuple[str, FakeGateway]]:
    """The fake gateway served over real HTTP by waitress: ``(url, gateway)``."""
    gateway = FakeGateway()
    server: Any = create_server(wsgi(gateway), host="127.0.0.1", port=0, threads=2)

    def serve() -> None:
        # The listener is closed from the test's thread: that is how it stops.
        with contextlib.suppress(OSError, ValueError):
            server.run()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/qbwc", gateway
    finally:
        for channel in list(server._map.values()):
            channel.close()
        server.task_dispatcher.shutdown(timeout=5)
        thread.join(10)
