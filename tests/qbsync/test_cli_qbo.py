"""``qbsync qbo add|connect|complete|status``: the connect flow an operator runs, against the
QBO sandbox's OAuth server over HTTP and a real store."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import httpx2
import pytest
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.qbo_sandbox import QboSandbox
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app
from qbsync.runtime import prepare_topics
from tests.support.qbo import REDIRECT, enqueue_commands, oauth_app, qbo_command

REALM = "7770001"


@pytest.fixture
def served(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[QboSandbox]:
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    sandbox = QboSandbox()
    sandbox.add_company(REALM)
    with sandbox.serve() as url:
        registered = oauth_app(sandbox, url)
        for name, value in {
            "DATA_DIR": str(settings.data_dir),
            "QBO_API_BASE_URL": url,
            "QBO_AUTHORIZE_URL": registered.authorize_url,
            "QBO_TOKEN_URL": registered.token_url,
            "QBO_REVOKE_URL": registered.revoke_url,
            "QBO_CLIENT_ID": registered.client_id,
            "QBO_CLIENT_SECRET": registered.client_secret.get_secret_value(),
            "QBO_REDIRECT_URI": REDIRECT,
            "QBO_TOKEN_KEYS": Fernet.generate_key().decode(),
        }.items():
            monkeypatch.setenv(f"QBSYNC_{name}", value)
        yield sandbox


def test_add_connect_complete_status(served: QboSandbox) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["qbo", "add", "--name", "Online Co", "--tenant", "t-9"])
    assert added.exit_code == 0, added.output
    profile_id = added.stdout.strip()

    connect = runner.invoke(app, ["qbo", "connect", profile_id])
    assert connect.exit_code == 0, connect.output
    consent = httpx2.get(connect.stdout.strip(), follow_redirects=False, timeout=10)
    assert consent.status_code == 302
    callback = consent.headers["Location"]
    assert callback.startswith(REDIRECT)

    done = runner.invoke(app, ["qbo", "complete", callback])
    assert done.exit_code == 0, done.output
    assert f"realm {REALM}" in done.stdout

    status = json.loads(runner.invoke(app, ["qbo", "status", "--json"]).stdout)
    assert [(s["profile_id"], s["realm_id"], s["status"]) for s in status] == [
        (profile_id, REALM, "connected")
    ]
    # The code was spent: completing twice is refused with the reason.
    again = runner.invoke(app, ["qbo", "complete", callback])
    assert again.exit_code != 0


def test_missing_settings_are_named(served: QboSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QBSYNC_QBO_CLIENT_ID")
    result = CliRunner().invoke(app, ["qbo", "connect", "p-1"])
    assert result.exit_code == 2  # configuration (docs/cli.md)
    assert "QBSYNC_QBO_CLIENT_ID" in result.output


def test_send_once_drains_a_connected_company(
    served: QboSandbox, broker: BrokerInfo, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QBSYNC_KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap_servers)
    monkeypatch.setenv("QBSYNC_TOPIC_PREFIX", settings.topics.prefix)
    configured = Settings()
    prepare_topics(configured)
    runner = CliRunner()
    profile_id = runner.invoke(app, ["qbo", "add", "--name", "Co", "--tenant", "t-9"]).stdout
    profile_id = profile_id.strip()
    authorize = runner.invoke(app, ["qbo", "connect", profile_id]).stdout.strip()
    callback = served.consent(authorize, REALM)
    assert runner.invoke(app, ["qbo", "complete", callback]).exit_code == 0
    request = QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": "From CLI"})
    enqueue_commands(
        configured,
        AvroCodec(),
        profile_id,
        [qbo_command(profile_id, "customer", "c-1", request, tenant_id="t-9")],
    )

    sent = runner.invoke(app, ["qbo", "send", "--once"])
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)[profile_id]["ok"] == 1
    assert [c["DisplayName"] for c in served.company(REALM).all("Customer")] == ["From CLI"]
