""" "Connect to QuickBooks" from the console, in a real browser (Debian's headless Chromium,
driven by Playwright): an operator clicks the button on a QBO company's page, the browser goes
to the QBO sandbox's OAuth authorize endpoint over HTTP, which sends it on to the QBO
sender's ``/qbo/callback`` (served as ``qbsync qbo send`` serves it); the sender exchanges the
code and the page shows "connected". After Intuit revokes the access, the page says
"reconnect needed", and the same button connects it again."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.qbo import (
    QboRequest,
    ReconnectNeeded,
    create_company,
    create_qbo_runtime,
)
from connectors.qbo_sandbox import QboSandbox
from connectors.qbwc import GatewayServer
from connectors.store import ConsoleStore, Store, upgrade
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli_qbo import serving_http
from qbsync.console import create_console
from qbsync.console._auth import create_user
from qbsync.console._server import prefixed
from qbsync.runtime import free_port
from tests.conftest import missing
from tests.qbsync.console.test_browser import CHROMIUM, shot, sign_in
from tests.support.qbo import qbo_settings

pytestmark = pytest.mark.integration

REALM = "9130001111"


@contextmanager
def serving_console(settings: Settings) -> Iterator[str]:
    """The console as ``qbsync console`` serves it (under its prefix), in a thread."""
    console = create_console(settings)
    server = GatewayServer(
        prefixed(console.app, settings.console.path_prefix), host="127.0.0.1", port=0, threads=4
    )
    thread = threading.Thread(target=server.run, name="console", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}{settings.console.path_prefix}"
    finally:
        server.stop()
        thread.join(10)
        console.close()


def test_an_operator_connects_a_qbo_company_and_reconnects_it_after_revocation(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    settings = Settings(data_dir=tmp_path)
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    settings.topics.prefix = f"connect-{uuid.uuid4().hex[:8]}"
    upgrade(settings.database_url)
    store = Store(settings.database_url)
    sandbox = QboSandbox()
    sandbox.add_company(REALM)  # the company the sandbox's consent page grants
    sender_port = free_port()
    try:
        profile_id = create_company(store, name="Online Co", tenants=["q-1"])
        create_user(ConsoleStore(store), "olga", "correct horse battery", "operator")
        with sandbox.serve() as url:
            qbo_settings(settings, sandbox, url, SecretStr(Fernet.generate_key().decode()))
            settings.qbo.redirect_uri = f"http://127.0.0.1:{sender_port}/qbo/callback"
            runtime = create_qbo_runtime(settings, store)
            try:
                with (
                    serving_http(
                        runtime.http_app(SecretStr(""), store), f"127.0.0.1:{sender_port}"
                    ),
                    serving_console(settings) as console_url,
                    sync_playwright() as playwright,
                ):
                    browser = playwright.chromium.launch(
                        executable_path=CHROMIUM, args=["--no-sandbox"]
                    )
                    page = sign_in(browser, console_url, "olga")
                    page.goto(f"{console_url}/files/{profile_id}")
                    expect(page.locator("#qbo-status")).to_have_text("not connected")
                    shot(page, "qbo-01-not-connected")

                    # The button: Intuit's authorize page (the sandbox grants), then the
                    # sender's callback, which exchanged the code and stored the tokens.
                    page.click("#qbo-connect")
                    callback = re.compile(rf"^http://127\.0\.0\.1:{sender_port}/qbo/callback\?")
                    expect(page).to_have_url(callback)
                    expect(page.locator("body")).to_contain_text("Connected to QuickBooks")
                    expect(page.locator("body")).to_contain_text(REALM)
                    company = runtime.connections.company(profile_id)
                    assert company is not None
                    assert (company.status, company.realm_id) == ("connected", REALM)
                    assert company.tokens is not None
                    page.goto(f"{console_url}/files/{profile_id}")
                    expect(page.locator("#qbo-status")).to_have_text("connected")
                    expect(page.locator("#qbo-realm")).to_have_text(REALM)
                    expect(page.locator("#qbo-connect")).to_have_text("Reconnect to QuickBooks")
                    shot(page, "qbo-02-connected")

                    # Intuit revokes the access (the administrator disconnected the app):
                    # the sender's next request finds out, and the page says so.
                    runtime.oauth.revoke(company.tokens.refresh_token)
                    with pytest.raises(ReconnectNeeded):
                        runtime.client.send(QboRequest.query(REALM, "select * from Customer"))
                    page.reload()
                    expect(page.locator("#qbo-status")).to_have_text("reconnect needed")
                    expect(page.locator("#qbo-reconnect")).to_contain_text("nothing is lost")
                    shot(page, "qbo-03-reconnect-needed")

                    page.click("#qbo-connect")
                    expect(page.locator("body")).to_contain_text("Connected to QuickBooks")
                    page.goto(f"{console_url}/files/{profile_id}")
                    expect(page.locator("#qbo-status")).to_have_text("connected")
                    again = runtime.connections.company(profile_id)
                    assert again is not None
                    assert again.status == "connected"
                    assert again.token_version > company.token_version
                    audited = ConsoleStore(store).audit_log(action="qbo.connect")
                    assert [(e.actor, e.target) for e in audited] == [("olga", profile_id)] * 2
                    browser.close()
            finally:
                runtime.close()
    finally:
        store.close()
