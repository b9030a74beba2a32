"""The command line as a user runs it: ``qbsync demo --json`` and ``qbsync run``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from qbsync.brokers import BrokerInfo
from qbsync.runtime import free_port
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def processes_using(data_dir: Path) -> list[int]:
    """Pids whose environment names ``data_dir`` (children of qbsync carry it)."""
    marker = f"QBSYNC_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def env_for(broker: BrokerInfo, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(
        QBSYNC_DATA_DIR=str(data_dir),
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        QBSYNC_KAFKA_EXACT_WATERMARKS=str(broker.kind != "tansu").lower(),
        QBSYNC_WORKER_SESSION_TIMEOUT_S="6",
        QBSYNC_TOPIC_PREFIX=f"cli-{data_dir.name[-8:]}",
    )
    return env


def start_run(broker: BrokerInfo, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    """``qbsync run`` as a user starts it, on the test broker."""
    env = env_for(broker, data_dir)
    env["QBSYNC_WORKER_WEB_PORT"] = str(free_port())
    env["QBSYNC_CONSOLE_PORT"] = str(free_port())
    return subprocess.Popen(
        [sys.executable, "-m", "qbsync", "run", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_demo_json_settles_everything_and_leaves_nothing_running(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    done = subprocess.run(
        [sys.executable, "-m", "qbsync", "demo", "--json", "--customers", "3", "--timeout", "60"],
        env=env_for(broker, data_dir),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()[-3000:]
    summary = json.loads(done.stdout)
    assert summary["broker"]["kind"] == "external"
    assert summary["settled"] is True
    # 3 Desktop tenants and 1 QBO tenant x 3 customers, one edit per tenant, one malformed.
    assert summary["events_published"] == 12 + 4 + 1
    assert summary["commands_sent"] == 16
    assert (summary["results_ok"], summary["results_error"]) == (16, 0)
    assert summary["dead_letters"] == 1
    assert summary["dead_letter_codes"] == {"undecodable": 1}
    # The deliberate one, with its reason, for the demo's words (qbsync.demo.explain).
    (letter,) = summary["dead_letter_list"]
    assert letter["code"] == "undecodable"
    assert "could not be decoded" in letter["reason"]
    assert summary["kept"] is None
    assert summary["records_in_quickbooks"] == 12
    assert summary["duplicates_in_quickbooks"] == 0
    # Side by side: two Desktop files (2 tenants + 1) and the QBO company (1 tenant).
    assert (summary["company_files"], summary["qbo_companies"]) == (2, 1)
    by_kind = sorted(
        (c["kind"], c["tenants"], c["records"], c["duplicates"]) for c in summary["companies"]
    )
    assert by_kind == [("desktop", 1, 3, 0), ("desktop", 2, 6, 0), ("qbo", 1, 3, 0)]
    qbo = summary["qbo"]
    assert qbo["connected_via"].endswith("/qbo/callback")
    # 3 creates (one batch request when they wait together) and 1 update, never throttled.
    assert qbo["api_requests"] >= 2
    assert qbo["throttled"] == 0
    assert summary["elapsed_s"] > 0
    assert processes_using(data_dir.resolve() / "demo") == []
    assert not (data_dir / "demo").exists() or not any((data_dir / "demo").iterdir())


@pytest.mark.parametrize(
    ("stop_with", "exit_code"),
    [(signal.SIGTERM, 0), (signal.SIGINT, 130)],  # docs/cli.md: 130 is Ctrl-C
    ids=["sigterm", "ctrl-c"],
)
def test_run_serves_the_wsdl_and_stops_cleanly_on_sigterm(
    broker: BrokerInfo, tmp_path: Path, stop_with: signal.Signals, exit_code: int
) -> None:
    port = free_port()
    process = start_run(broker, tmp_path, port)

    def wsdl() -> bytes | None:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/qbwc?wsdl", timeout=2) as answer:
                return bytes(answer.read())
        except OSError:
            return None

    try:
        body = until(wsdl, timeout=90, what="the gateway started by `qbsync run`")
        assert b"http://developer.intuit.com/" in body
        # `qbsync run` itself, the worker, the gateway and the support console:
        assert process.pid in processes_using(tmp_path)
        assert len(processes_using(tmp_path)) == 4
        process.send_signal(stop_with)
        assert process.wait(60) == exit_code
        assert processes_using(tmp_path) == []
    finally:
        if process.poll() is None:
            process.kill()  # its children get SIGTERM from the kernel (PDEATHSIG)
        until(lambda: not processes_using(tmp_path), timeout=30, what="every child to be gone")


def test_children_do_not_outlive_a_killed_run(broker: BrokerInfo, tmp_path: Path) -> None:
    """kill -9 of `qbsync run` itself: the worker, the gateway and the console stop too."""
    process = start_run(broker, tmp_path, free_port())
    try:
        until(
            lambda: len(processes_using(tmp_path)) == 4,
            timeout=90,
            what="`qbsync run` and its three children",
        )
    finally:
        process.kill()
        process.wait(10)
    until(lambda: not processes_using(tmp_path), timeout=30, what="the orphans to stop")
