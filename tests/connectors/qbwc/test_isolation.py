"""Tenants never see each other's data; any replica can answer any call; secrets stay out
of logs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from connectors.qbwc import create_profile
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector
from core.processes import child_process
from qbsync.runtime import child_env, free_port, wait_healthy
from tests.support.gateway import Served, authenticate, connector, enqueue, results, send_request
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def test_each_profile_only_ever_receives_its_own_files_commands(
    served: Served, tmp_path: Path
) -> None:
    other = create_profile(served.store, name="Other Co", tenants=["t-other"])
    enqueue(served, "Shared A", "Shared B")
    enqueue(served, "Other A", profile=other)

    shared_wc = connector(served, tmp_path)
    other_wc = connector(served, tmp_path, profile=other)
    assert shared_wc.run_once().requests == 2
    assert other_wc.run_once().requests == 1
    assert [c["FullName"] for c in shared_wc.company.customers()] == ["Shared A", "Shared B"]
    assert [c["FullName"] for c in other_wc.company.customers()] == ["Other A"]


def test_a_ticket_is_worth_nothing_outside_its_session(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    wc = connector(served, tmp_path)
    ticket = authenticate(wc, served.profile)
    for guess in ("", "x", ticket[:-1], ticket.upper(), str(uuid.uuid4())):
        if guess == ticket:
            continue
        answer = send_request(wc, guess)
        assert not answer, f"ticket {guess!r} got work"
    wc.call("closeConnection", ticket=ticket)
    # Tickets are long and random.
    assert len(ticket) >= 40
    assert (
        len({wc.call("authenticate", strUserName="u", strPassword="p")[0].text for _ in range(5)})
        == 5
    )


class AlternatingTransport:
    """Sends each call to the next gateway in turn, as a load balancer without affinity."""

    def __init__(self, urls: list[str]) -> None:
        self._transports = [HttpTransport(url) for url in urls]
        self.calls = [0] * len(urls)
        self._next = 0

    def post(self, body: bytes, soap_action: str) -> bytes:
        index = self._next
        self._next = (self._next + 1) % len(self._transports)
        self.calls[index] += 1
        return self._transports[index].post(body, soap_action)

    def close(self) -> None:
        for transport in self._transports:
            transport.close()


@pytest.fixture
def two_gateways(served: Served, tmp_path: Path) -> Iterator[list[str]]:
    """Two gateway processes on the same store and broker."""
    with ExitStack() as stack:
        urls = []
        for index in range(2):
            port = free_port()
            env = {**child_env(served.settings), "QBSYNC_GATEWAY_PORT": str(port)}
            child = stack.enter_context(
                child_process(f"gateway-{index}", ["gateway"], env=env, log_dir=tmp_path / "logs")
            )
            url = f"http://127.0.0.1:{port}"
            wait_healthy(child, f"{url}/healthz")
            urls.append(url)
        yield urls


def test_two_gateway_processes_behind_one_url_serve_one_session(
    served: Served, two_gateways: list[str], tmp_path: Path
) -> None:
    served.settings.gateway.batch_size = 25
    enqueue(served, *(f"Customer {i}" for i in range(30)))
    transport = AlternatingTransport([f"{url}/qbwc" for url in two_gateways])
    wc = SandboxWebConnector(
        transport,
        username=served.profile.profile.username,
        password=served.profile.password,
        company=CompanyFile(tmp_path / "two.db"),
    )
    # The gateway processes run with their work index on (as by default): the commands are
    # found by the first poll after its refresh has seen them.
    report = until(
        lambda: (run := wc.run_once()).requests and run, timeout=30, what="a session with work"
    )
    wc.close()
    assert transport.calls[0] > 2
    assert transport.calls[1] > 2
    assert (report.messages, report.requests, report.last_progress) == (2, 30, 100)
    assert len(wc.company.customers()) == 30
    assert len(results(served, 30)) == 30


def test_no_password_ticket_or_payload_reaches_the_logs(
    served: Served, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    enqueue(served, "Very Secret Customer Name")
    wc = connector(served, tmp_path)
    seen_tickets: list[str] = []
    original = wc.call

    def spy(operation: str, **params: str):  # type: ignore[no-untyped-def]
        result = original(operation, **params)
        if operation == "authenticate":
            seen_tickets.append(result[0].text or "")
        return result

    wc.call = spy  # type: ignore[method-assign]
    connector(served, tmp_path, password="wrong-password-123").run_once()
    report = wc.run_once()
    assert report.requests == 1
    logged = "\n".join(
        record.getMessage() + " " + " ".join(str(v) for v in record.__dict__.values())
        for record in caplog.records
    )
    assert "session opened" in logged  # the events are logged...
    for secret in (served.profile.password, "wrong-password-123", *seen_tickets):
        assert secret not in logged  # ...but never the secrets
    assert "Very Secret Customer Name" not in logged  # nor payloads
