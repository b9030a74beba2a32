"""``qbsync run`` as an operator runs it on one machine (issue 13, item 6): a real process
with no broker configured, so it starts Apache Kafka under its data dir. A child killed
with SIGKILL comes back and nothing else stops; a command queued before ``run`` is stopped
is still there after it starts again, and is delivered."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import RecordProducer
from connectors.qbwc import NewProfile, create_profile
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import Store
from core.contracts import AvroCodec, customer_event
from qbsync.brokers import BrokerInfo
from qbsync.runtime import RUN_FILE, free_port
from tests.conftest import missing
from tests.support.waiting import answers, until

pytestmark = pytest.mark.integration


@pytest.fixture
def data_dir(tmp_path: Path, broker: BrokerInfo) -> Path:
    """A data dir for ``qbsync run``; ``broker`` only makes sure the Kafka jars are cached
    (the run starts its own broker from them)."""
    if broker.kind != "kafka":
        missing("qbsync run's local broker is Apache Kafka on the JVM; the tests use another")
    return tmp_path / "data"


def run_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(
        QBSYNC_DATA_DIR=str(data_dir),
        QBSYNC_GATEWAY_PORT=str(free_port()),
        QBSYNC_WORKER_WEB_PORT=str(free_port()),
        QBSYNC_TOPIC_PREFIX=f"run-{uuid.uuid4().hex[:6]}",
        QBSYNC_GATEWAY_IMPORTS="",
        QBSYNC_WORKER_SESSION_TIMEOUT_S="6",
    )
    if "QBSYNC_CACHE_DIR" in os.environ:
        env["QBSYNC_CACHE_DIR"] = os.environ["QBSYNC_CACHE_DIR"]
    return env


@contextmanager
def qbsync_run(data_dir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """``qbsync run`` until its run.json appears (everything answers); SIGTERM at the end,
    which must stop it cleanly (exit code 0) and remove run.json."""
    data_dir.mkdir(parents=True, exist_ok=True)
    output = (data_dir / "run.out").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "run"],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )

    def started() -> bool:
        assert process.poll() is None, (data_dir / "run.out").read_text()
        return (data_dir / RUN_FILE).is_file()

    try:
        until(started, timeout=180, what="qbsync run to come up")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(90)
        output.close()
    assert code == 0, (data_dir / "run.out").read_text()
    assert not (data_dir / RUN_FILE).exists()


def run_file(data_dir: Path) -> dict[str, Any]:
    return json.loads((data_dir / RUN_FILE).read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def healthy(url: str) -> bool:
    return answers(f"{url}/healthz")


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_gateway_comes_back_and_nothing_else_stops(data_dir: Path) -> None:
    env = run_env(data_dir)
    with qbsync_run(data_dir, env) as run:
        before = run_file(data_dir)
        assert set(before["children"]) == {"broker", "worker", "gateway", "console"}
        assert before["pid"] == run.pid
        assert healthy(before["gateway_url"])
        os.kill(before["children"]["gateway"], signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            now = run_file(data_dir)
            moved = now["children"]["gateway"] != before["children"]["gateway"]
            return now if moved and healthy(now["gateway_url"]) else None

        after = until(restarted, timeout=60, what="the gateway restarted and serving")
        assert run.poll() is None
        for name in ("broker", "worker", "console"):  # no cascade: the others kept running
            assert after["children"][name] == before["children"][name]
            assert running(after["children"][name])
        assert after["bootstrap_servers"] == before["bootstrap_servers"]
        text = (data_dir / "run.out").read_text()
        assert "child exited; restarting" in text
        assert "child=gateway" in text
        assert "code=-9" in text
        assert "attempt=1" in text
    assert not any(running(pid) for pid in after["children"].values())


def test_a_queued_command_survives_a_restart_of_run_and_is_delivered(
    data_dir: Path, tmp_path: Path
) -> None:
    env = run_env(data_dir)
    prefix = env["QBSYNC_TOPIC_PREFIX"]
    with qbsync_run(data_dir, env):
        first = run_file(data_dir)
        store = Store(f"sqlite:///{(data_dir / 'qbsync.db').resolve()}")
        try:
            created = create_profile(store, name="Restart Co", tenants=["t-1"])
        finally:
            store.close()
        producer = RecordProducer({"bootstrap.servers": first["bootstrap_servers"]})
        try:
            value = AvroCodec().encode(
                "com.qbsync.events.CustomerEvent",
                customer_event("t-1", "c-1", {"last_name": "Lovelace"}),
            )
            producer.send_all([(f"{prefix}.events", b"t-1", value)])
        finally:
            producer.close()
        topic = f"{prefix}.commands.{created.profile.id}"
        until(
            lambda: queued(first["bootstrap_servers"], topic) == 1,
            timeout=90,
            what="the command queued for the file",
        )
    # Stopped: the broker with it. Started again: the same data dir, the command still there.
    with qbsync_run(data_dir, env):
        second = run_file(data_dir)
        assert queued(second["bootstrap_servers"], topic) == 1
        assert delivered_customers(
            tmp_path,
            second["gateway_url"],
            created,
            timeout=90,
            what="the customer delivered after the restart",
        ) == ["Lovelace"]


def delivered_customers(
    tmp_path: Path, gateway_url: str, created: NewProfile, *, timeout: float, what: str
) -> list[str]:
    """A sandbox company file's Web Connector runs sessions until a customer arrives: their
    names."""
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    connector = SandboxWebConnector(
        HttpTransport(gateway_url + "/qbwc"),
        username=created.profile.username,
        password=created.password,
        company=company,
    )
    try:
        until(lambda: company.customers(), step=connector.run_once, timeout=timeout, what=what)
        return [c["FullName"] for c in company.customers()]
    finally:
        connector.close()
        company.close()


def queued(bootstrap_servers: str, topic: str) -> int:
    """Messages on the file's topic (its high watermark; none are deleted by time)."""
    consumer = Consumer({"bootstrap.servers": bootstrap_servers, "group.id": "test-watermark"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return int(high)
    except Exception:  # the topic is not there yet
        return -1
    finally:
        consumer.close()


def test_without_java_or_a_broker_run_says_how_to_fix_it_in_one_line(tmp_path: Path) -> None:
    env = run_env(tmp_path / "data")
    env["PATH"] = str(tmp_path / "empty")  # no java, no mvn
    done = subprocess.run(
        [sys.executable, "-m", "qbsync", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.stderr.rstrip().endswith(line)  # the last word, not followed by a traceback
    assert "install Java" in line
    assert "QBSYNC_KAFKA_BOOTSTRAP_SERVERS" in line


def test_a_killed_broker_and_worker_come_back_and_an_event_still_lands(
    data_dir: Path, tmp_path: Path
) -> None:
    env = run_env(data_dir)
    prefix = env["QBSYNC_TOPIC_PREFIX"]
    with qbsync_run(data_dir, env) as run:
        before = run_file(data_dir)
        store = Store(f"sqlite:///{(data_dir / 'qbsync.db').resolve()}")
        try:
            created = create_profile(store, name="Crash Co", tenants=["t-1"])
        finally:
            store.close()
        for name in ("broker", "worker"):
            os.kill(before["children"][name], signal.SIGKILL)

        def restarted() -> dict[str, Any] | None:
            now = run_file(data_dir)
            moved = all(
                now["children"][name] != before["children"][name] for name in ("broker", "worker")
            )
            return now if moved else None

        after = until(restarted, timeout=90, what="the broker and the worker restarted")
        assert after["bootstrap_servers"] == before["bootstrap_servers"]  # same port again
        assert after["children"]["gateway"] == before["children"]["gateway"]
        producer = RecordProducer({"bootstrap.servers": after["bootstrap_servers"]})
        try:
            value = AvroCodec().encode(
                "com.qbsync.events.CustomerEvent",
                customer_event("t-1", "c-1", {"last_name": "Hopper"}),
            )
            producer.send_all([(f"{prefix}.events", b"t-1", value)], timeout=60)
        finally:
            producer.close()
        assert delivered_customers(
            tmp_path,
            after["gateway_url"],
            created,
            timeout=120,
            what="the customer delivered after the crashes",
        ) == ["Hopper"]
        assert run.poll() is None
        text = (data_dir / "run.out").read_text()
        assert "child=broker" in text
        assert "child=worker" in text
