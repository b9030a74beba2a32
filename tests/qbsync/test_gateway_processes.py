"""``qbsync gateway`` with ``QBSYNC_GATEWAY_PROCESSES=2``: two gateway processes on one port,
one ``/metrics`` for both, a killed one started again with its counts kept, a Web Connector
session served end to end, and SIGTERM stopping them all."""

from __future__ import annotations

import os
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from core.errors import ConfigurationError
from core.processes import ChildProcess, child_process
from core.settings import Settings
from qbsync._gateway_processes import check_shareable
from qbsync.brokers import BrokerInfo
from qbsync.runtime import child_env, free_port, wait_healthy
from tests.support.gateway import Served, enqueue, post, prepared, results
from tests.support.waiting import until

pytestmark = pytest.mark.integration

_SERVER_VERSION = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
    b' xmlns:q="http://developer.intuit.com/"><soap:Body><q:serverVersion/>'
    b"</soap:Body></soap:Envelope>"
)


@dataclass
class Processes:
    supervisor: ChildProcess
    url: str

    def children(self) -> set[int]:
        pid = self.supervisor.process.pid
        try:
            listed = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return set()
        return {int(child) for child in listed.split()}

    def server_versions(self, count: int) -> None:
        """``count`` serverVersion calls, each on a new connection."""
        for _ in range(count):
            status, _ = post(self.url, _SERVER_VERSION, "http://developer.intuit.com/serverVersion")
            assert status == 200

    def counted(self) -> float:
        """serverVersion calls answered, as one scrape of /metrics reports them."""
        status, text = _get(f"{self.url}/metrics")
        assert status == 200
        for family in text_string_to_metric_families(text):
            if family.name == "qbsync_gateway_soap_calls":
                return sum(
                    sample.value
                    for sample in family.samples
                    if sample.name.endswith("_total")
                    and sample.labels.get("operation") == "serverVersion"
                )
        return 0.0


def _get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return int(answer.status), answer.read().decode()


@pytest.fixture
def served(broker: BrokerInfo, settings: Settings) -> Iterator[Served]:
    with prepared(broker, settings, name="Two Processes Co", tenants=["t-1"]) as ready:
        yield ready


@contextmanager
def two_processes(served: Served, log_dir: Path) -> Iterator[Processes]:
    port = free_port()
    env = {
        **child_env(served.settings),
        "QBSYNC_GATEWAY_PORT": str(port),
        "QBSYNC_GATEWAY_PROCESSES": "2",
    }
    with child_process("gateway", ["gateway"], env=env, log_dir=log_dir) as supervisor:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(supervisor, f"{url}/healthz")
        processes = Processes(supervisor, url)
        until(lambda: len(processes.children()) == 2, timeout=60, what="two gateway processes")
        yield processes


def test_one_scrape_counts_every_process_and_a_killed_one_comes_back(
    served: Served, tmp_path: Path
) -> None:
    with two_processes(served, tmp_path / "logs") as gateway:
        # 40 new connections: the kernel gives both processes some (all 40 to one: 2**-39).
        gateway.server_versions(40)
        assert gateway.counted() == 40
        # Two scrapes, whichever process answers each, agree.
        assert gateway.counted() == 40
        text = _get(f"{gateway.url}/metrics")[1]
        assert "qbsync_build_info" in text
        # One process's CPU or memory would pass for the group's: not exported.
        assert "process_cpu_seconds_total" not in text

        before = gateway.children()
        victim = min(before)
        os.kill(victim, signal.SIGKILL)

        def started_again() -> set[int] | None:
            now = gateway.children()
            return now if len(now) == 2 and victim not in now else None

        until(started_again, timeout=60, what="the killed gateway process started again")
        gateway.server_versions(10)
        # The killed process's counts are kept: counters never go back.
        assert gateway.counted() == 50

        supervisor = gateway.supervisor.process
        children = gateway.children()
        supervisor.send_signal(signal.SIGTERM)
        assert supervisor.wait(30) == 0
        for pid in children:
            until(lambda pid=pid: _gone(pid), timeout=30, what=f"gateway process {pid} gone")  # type: ignore[misc]


def _gone(pid: int) -> bool:
    """Exited: reaped (no /proc entry, even if it vanishes while read) or a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def test_a_web_connector_session_through_the_shared_port(served: Served, tmp_path: Path) -> None:
    enqueue(served, *(f"Customer {i}" for i in range(30)))
    with two_processes(served, tmp_path / "logs") as gateway:
        wc = SandboxWebConnector(
            HttpTransport(f"{gateway.url}/qbwc"),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=CompanyFile(
                tmp_path / f"{uuid.uuid4().hex}.db", validate_with=find_reference()
            ),
        )
        report = wc.run_once()
        wc.close()
    assert (report.requests, report.last_progress) == (30, 100)
    assert len(wc.company.customers()) == 30
    assert len(results(served, 30)) == 30


@pytest.mark.parametrize(
    ("port", "platform_shares", "named"),
    [(0, True, "QBSYNC_GATEWAY_PORT"), (8080, False, "SO_REUSEPORT")],
    ids=["port-0", "no-reuseport"],
)
def test_processes_that_could_not_share_a_port_are_refused_naming_why(
    port: int, platform_shares: bool, named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        check_shareable(port, platform_shares=platform_shares)
    check_shareable(8080, platform_shares=True)  # a fixed port on Linux: no complaint
