"""``qbsync run`` with QuickBooks Online configured, as an operator runs it: the QBO sender
is one of its supervised children and serves the OAuth callback. "Connect to QuickBooks"
goes through Intuit's redirect (the sandbox's consent, over HTTP) to that callback; a
customer published for the company's tenant lands in QBO once; a sender killed with SIGKILL
comes back and the next customer lands too."""

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

import httpx2
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.kafka import RecordProducer
from connectors.qbo import QboConnections, TokenCipher, authorize_url, create_company
from connectors.qbo_sandbox import QboSandbox
from connectors.store import Store
from core.contracts import AvroCodec, customer_event
from qbsync.brokers import BrokerInfo
from qbsync.runtime import RUN_FILE, free_port
from tests.support.qbo import oauth_app
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "7770001111"
TENANT = "online-1"


def _env(
    broker: BrokerInfo, data_dir: Path, sandbox: QboSandbox, url: str, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    app = oauth_app(sandbox, url)
    env.update(
        QBSYNC_DATA_DIR=str(data_dir),
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        QBSYNC_GATEWAY_PORT=str(free_port()),
        QBSYNC_WORKER_WEB_PORT=str(free_port()),
        QBSYNC_TOPIC_PREFIX=f"run-{uuid.uuid4().hex[:6]}",
        QBSYNC_GATEWAY_IMPORTS="",
        QBSYNC_CONSOLE_ENABLED="false",
        QBSYNC_WORKER_SESSION_TIMEOUT_S="6",
        QBSYNC_QBO_API_BASE_URL=url,
        QBSYNC_QBO_AUTHORIZE_URL=app.authorize_url,
        QBSYNC_QBO_TOKEN_URL=app.token_url,
        QBSYNC_QBO_REVOKE_URL=app.revoke_url,
        QBSYNC_QBO_CLIENT_ID=app.client_id,
        QBSYNC_QBO_CLIENT_SECRET=app.client_secret.get_secret_value(),
        QBSYNC_QBO_REDIRECT_URI=f"http://127.0.0.1:{port}/qbo/callback",
        QBSYNC_QBO_LISTEN=f"127.0.0.1:{port}",
        QBSYNC_QBO_TOKEN_KEYS=Fernet.generate_key().decode(),
        QBSYNC_QBO_READ_ENTITIES="",
        QBSYNC_QBO_RETRY_BASE_S="0.05",
        # The killed sender's lease on the company lapses after this; its successor waits.
        QBSYNC_QBO_DRAIN_LEASE_S="5",
    )
    return env


@contextmanager
def _qbsync_run(data_dir: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir / "run.out"
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "qbsync", "run"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def started() -> bool:
        assert process.poll() is None, log.read_text()
        return (data_dir / RUN_FILE).is_file()

    try:
        until(started, timeout=180, what="qbsync run to come up")
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(90)
    assert code == 0, log.read_text()


def _children(data_dir: Path) -> dict[str, int]:
    children: dict[str, int] = json.loads((data_dir / RUN_FILE).read_text())["children"]
    return children


def _healthy(origin: str) -> bool:
    try:
        return httpx2.get(f"{origin}/healthz", timeout=2).status_code == 200
    except httpx2.HTTPError:
        return False


def _publish(env: dict[str, str], entity_id: str, customer: dict[str, Any]) -> None:
    producer = RecordProducer({"bootstrap.servers": env["QBSYNC_KAFKA_BOOTSTRAP_SERVERS"]})
    try:
        value = AvroCodec().encode(
            "com.qbsync.events.CustomerEvent", customer_event(TENANT, entity_id, customer)
        )
        producer.send_all([(f"{env['QBSYNC_TOPIC_PREFIX']}.events", TENANT.encode(), value)])
    finally:
        producer.close()


def test_run_supervises_the_qbo_sender_which_serves_connect_to_quickbooks(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    sandbox = QboSandbox()
    company = sandbox.add_company(REALM)
    data_dir = tmp_path / "data"
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with sandbox.serve() as url:
        env = _env(broker, data_dir, sandbox, url, port)
        with _qbsync_run(data_dir, env):
            before = _children(data_dir)
            assert set(before) == {"worker", "gateway", "qbo"}
            assert _healthy(origin)
            store = Store(f"sqlite:///{(data_dir / 'qbsync.db').resolve()}")
            try:
                profile_id = create_company(store, name="Online Co", tenants=[TENANT])
                connections = QboConnections(
                    store.engine, TokenCipher(SecretStr(env["QBSYNC_QBO_TOKEN_KEYS"]))
                )
                # "Connect to QuickBooks": the administrator opens the authorize URL, Intuit
                # redirects the browser to the sender's callback.
                app = oauth_app(sandbox, url)
                app = type(app)(**{**vars(app), "redirect_uri": env["QBSYNC_QBO_REDIRECT_URI"]})
                state = connections.begin_connect(profile_id)
                callback = sandbox.consent(authorize_url(app, state), REALM)
                assert callback.startswith(f"{origin}/qbo/callback?")
                page = httpx2.get(callback, timeout=30)
                assert page.status_code == 200, page.text
                assert "Connected to QuickBooks" in page.text
                assert REALM in page.text
                assert profile_id in page.text
                connected = connections.company(profile_id)
                assert connected is not None
                assert (connected.status, connected.realm_id) == ("connected", REALM)
                # The same redirect again: the code worked once, the page says so.
                again = httpx2.get(callback, timeout=30)
                assert again.status_code == 400
                assert "connect the company again" in again.text

                _publish(env, "c-1", {"last_name": "Lovelace"})
                until(
                    lambda: len(company.all("Customer")) == 1,
                    timeout=90,
                    what="the customer created in QBO by run's sender",
                )
                os.kill(before["qbo"], signal.SIGKILL)

                def restarted() -> bool:
                    now = _children(data_dir)
                    return now["qbo"] != before["qbo"] and _healthy(origin)

                until(restarted, timeout=60, what="the sender restarted and serving")
                after = _children(data_dir)
                assert (after["worker"], after["gateway"]) == (before["worker"], before["gateway"])
                _publish(env, "c-2", {"last_name": "Hopper"})
                until(
                    lambda: len(company.all("Customer")) == 2,
                    timeout=90,
                    what="the next customer created after the restart",
                )
                names = sorted(c["DisplayName"] for c in company.all("Customer"))
                assert names == ["Hopper", "Lovelace"]
            finally:
                store.close()
    text = (data_dir / "run.out").read_text()
    assert "child=qbo" in text
    assert "QBO callback on" in text
