"""The first hour, as a user runs it: ``qbsync run`` in one shell, the other commands in
another with no broker configured; they find the run through ``<data dir>/run.json``.

Real subprocesses and a real broker (the ``broker`` fixture); a real SOAP gateway and the
sandbox Web Connector.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.kafka import RecordProducer, ensure_topics
from qbsync.brokers import BrokerInfo
from qbsync.cli import app
from qbsync.runtime import free_port
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CUSTOMER = REPO / "schemas" / "avro" / "examples" / "customer.upserted.json"


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without any QBSYNC_ setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(values)
    return env


def qbsync(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qbsync", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def listening_addresses(port: int) -> set[str]:
    """The IPv4 addresses (hex, as /proc/net/tcp has them) listening on ``port``."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(address)
    return found


def errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_the_first_hour_from_run_to_a_record_in_quickbooks(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    """run -> profile create -> publish (no broker configured) -> sandbox run -> show -> log."""
    run_id = uuid.uuid4().hex[:8]
    # Only what isolates this test on the shared test broker; never the broker's address.
    shared = {"QBSYNC_TOPIC_PREFIX": f"first-{run_id}"}
    run_env = clean_env(
        **shared,
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        QBSYNC_KAFKA_EXACT_WATERMARKS=str(broker.kind != "tansu").lower(),
        QBSYNC_WORKER_SESSION_TIMEOUT_S="6",
        QBSYNC_WORKER_APP_ID=f"first-{run_id}",
        QBSYNC_WORKER_WEB_PORT=str(free_port()),
        QBSYNC_GATEWAY_IMPORTS="",
    )
    other_shell = clean_env(**shared)
    port = free_port()
    run = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "run", "--port", str(port)],
        cwd=tmp_path,
        env=run_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    run_file = tmp_path / ".qbsync" / "run.json"
    try:

        def recorded() -> dict[str, Any] | None:
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            return dict(json.loads(run_file.read_text())) if run_file.is_file() else None

        found = until(recorded, timeout=120, what="`qbsync run` to write run.json")
        children = found.pop("children")
        assert found == {
            "bootstrap_servers": broker.bootstrap_servers,
            "gateway_url": f"http://127.0.0.1:{port}",
            "worker_web_port": int(run_env["QBSYNC_WORKER_WEB_PORT"]),
            "pid": run.pid,
        }
        # The broker is the test's, not one `run` started; the console is on by default.
        assert set(children) == {"worker", "gateway", "console"}

        # The worker's web server listens on loopback only, like the gateway.
        web_port = int(run_env["QBSYNC_WORKER_WEB_PORT"])
        loopback = "0100007F"
        assert until(lambda: listening_addresses(web_port), timeout=60, what="the worker's web")
        assert listening_addresses(web_port) == {loopback}
        assert listening_addresses(port) == {loopback}

        created = qbsync(
            "profile", "create", "--name", "Acme", "--tenant", "acme-hvac", "--json",
            cwd=tmp_path, env=other_shell,
        )  # fmt: skip
        assert created.returncode == 0, created.stderr
        login = json.loads(created.stdout)

        published = qbsync(
            "publish", "--tenant", "acme-hvac", "--type", "customer.upserted",
            "--file", str(CUSTOMER), cwd=tmp_path, env=other_shell,
        )  # fmt: skip
        assert published.returncode == 0, published.stderr
        assert (
            f"using the broker of `qbsync run` (pid {run.pid}) at {broker.bootstrap_servers}"
            in published.stderr
        )
        assert json.loads(published.stdout)["topic"] == f"first-{run_id}.events"

        def customers() -> list[dict[str, Any]] | None:
            shown = qbsync("sandbox", "show", "--json", cwd=tmp_path, env=other_shell)
            if shown.returncode != 0:
                return None
            return list(json.loads(shown.stdout)) or None

        def one_session() -> None:
            done = qbsync(
                "sandbox", "run", "--username", login["username"], "--password",
                login["password"], "--until-idle", cwd=tmp_path, env=other_shell,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr
            assert f"using the gateway of `qbsync run` (pid {run.pid})" in done.stderr

        one_session()
        (customer,) = until(customers, step=one_session, timeout=120, what="the customer")
        assert customer["FullName"] == "Lakeshore Property Group"
        # The company file is in the data dir, not the directory the commands ran in.
        assert (tmp_path / ".qbsync" / "sandbox-company.db").is_file()
        assert not (tmp_path / "sandbox-company.db").exists()

        exported = qbsync(
            "log", "export", "--tenant", "acme-hvac", "--json", cwd=tmp_path, env=other_shell
        )
        assert exported.returncode == 0, exported.stderr
        (entry,) = json.loads(exported.stdout)
        assert (entry["entity_id"], entry["status"], entry["qb_id"]) == (
            "cus-1042",
            "synced",
            customer["ListID"],
        )
        for done in (created, published, exported):
            assert "Traceback" not in done.stderr

        run.send_signal(signal.SIGTERM)
        assert run.wait(60) == 0
        assert not run_file.exists()
        # With the run gone, the next command says so instead of waiting on a dead broker.
        late = qbsync("dlq", "list", cwd=tmp_path, env=other_shell)
        assert late.returncode == 2
        (line,) = errors(late.stderr)
        assert "no `qbsync run` is running" in line
    finally:
        if run.poll() is None:
            run.kill()
            run.wait(10)


def test_a_run_file_left_by_a_killed_run_is_ignored(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    data = tmp_path / ".qbsync"
    data.mkdir()
    (data / "run.json").write_text(
        json.dumps(
            {
                "bootstrap_servers": "127.0.0.1:1",
                "gateway_url": "http://127.0.0.1:1",
                "worker_web_port": 1,
                "pid": gone.pid,
            }
        )
    )
    done = qbsync("dlq", "list", cwd=tmp_path, env=clean_env())
    assert done.returncode == 2
    (line,) = errors(done.stderr)
    assert "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is not set" in line
    assert "127.0.0.1:1" not in done.stderr


def test_an_unreachable_broker_is_one_line_naming_it(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    done = qbsync(
        "publish", "--tenant", "acme-hvac", "--type", "customer.upserted",
        "--file", str(CUSTOMER), cwd=tmp_path,
        env=clean_env(QBSYNC_KAFKA_BOOTSTRAP_SERVERS=address),
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = errors(done.stderr)
    assert address in line
    assert "QBSYNC_KAFKA_BOOTSTRAP_SERVERS" in line
    # librdkafka's own connection messages are silenced.
    assert "Connect to" not in done.stderr
    assert "rdkafka" not in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_run_names_the_setting_when_the_worker_web_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = qbsync(
            "run",
            "--port",
            str(free_port()),
            cwd=tmp_path,
            env=clean_env(
                QBSYNC_KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", QBSYNC_WORKER_WEB_PORT=str(port)
            ),
        )
    assert done.returncode == 2
    (line,) = errors(done.stderr)
    assert f"port {port} on 127.0.0.1" in line
    assert "QBSYNC_WORKER_WEB_PORT" in line
    assert "Traceback" not in done.stderr
    assert not (tmp_path / ".qbsync" / "run.json").exists()


def test_removal_is_refused_while_commands_wait_for_the_file(
    broker: BrokerInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prefix = f"remove-{uuid.uuid4().hex[:8]}"
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("QBSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("QBSYNC_TOPIC_PREFIX", prefix)
    monkeypatch.setenv("QBSYNC_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
    runner = CliRunner()
    made = runner.invoke(app, ["profile", "create", "--name", "Busy", "--tenant", "t", "--json"])
    assert made.exit_code == 0, made.output
    profile_id = json.loads(made.stdout)["profile_id"]
    idle = runner.invoke(app, ["profile", "create", "--name", "Idle", "--tenant", "u"])
    assert idle.exit_code == 0, idle.output

    topic = f"{prefix}.commands.{profile_id}"
    ensure_topics({"bootstrap.servers": broker.bootstrap_servers}, {topic: 1})
    producer = RecordProducer({"bootstrap.servers": broker.bootstrap_servers})
    try:
        producer.send_all([(topic, b"t", b"a queued command")])
    finally:
        producer.close()

    for args in (["tenant", "remove", "t"], ["profile", "remove", "Busy"]):
        refused = runner.invoke(app, args)
        assert refused.exit_code == 1, refused.output
        assert f"1 command(s) wait for company file {profile_id}" in refused.stderr
        assert "--force" in refused.stderr
    listed = json.loads(runner.invoke(app, ["tenant", "list", "--json"]).stdout)
    assert sorted(t["id"] for t in listed) == ["t", "u"]

    # Nothing waits for the other file: removed without --force.
    removed = runner.invoke(app, ["tenant", "remove", "u", "--json"])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["queued_commands"] == 0
    forced = runner.invoke(app, ["profile", "remove", "Busy", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["tenants_removed"] == ["t"]
    assert json.loads(runner.invoke(app, ["tenant", "list", "--json"]).stdout) == []
