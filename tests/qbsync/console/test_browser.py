"""The console in a real browser (Debian's headless Chromium, driven by Playwright) against a
real ``qbsync run`` on the test broker, with a sandbox Web Connector and company file:

- support signs in, finds the 3171 dead letter, reads its remedy, the bookkeeper moves the
  closing date, support replays it (dry run, then confirm) and the invoice lands once;
- a viewer cannot replay (403), a forged form without the CSRF token is refused;
- the bookkeeper opens the one-time setup link, resets the password, and the status turns
  green after the Web Connector's first successful session.

With ``QBSYNC_SCREENSHOTS_DIR`` set, every page is saved there as PNG (docs/console/).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka import RecordProducer
from connectors.qbwc import create_profile
from connectors.sandbox import (
    CLIENT_VERSION,
    CompanyFile,
    HttpTransport,
    SandboxWebConnector,
    SoapFault,
    find_reference,
)
from connectors.store import ConsoleStore, Store, upgrade
from core.contracts import AvroCodec, customer_event, validate_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.console._auth import create_user
from qbsync.runtime import free_port
from tests.conftest import missing
from tests.support.waiting import answers, until

pytestmark = pytest.mark.integration

CHROMIUM = os.environ.get("QBSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "correct horse battery"
SHOTS = os.environ.get("QBSYNC_SCREENSHOTS_DIR", "")


@dataclass
class Run:
    """``qbsync run`` with its console, a company file and its Web Connector."""

    process: subprocess.Popen[bytes]
    settings: Settings
    store: Store
    company: CompanyFile
    connector: SandboxWebConnector
    console_url: str
    gateway_url: str
    profile_id: str
    username: str
    producer: RecordProducer
    codec: AvroCodec
    faults: list[str] = field(default_factory=list)

    def publish(self, event: dict[str, Any]) -> None:
        kind = event["envelope"]["entity"].title().replace("_", "")
        value = self.codec.encode(f"com.qbsync.events.{kind}Event", event)
        self.producer.send_all([(self.settings.topics.events, b"t-1", value)])

    def poll(self) -> None:
        """One Web Connector session, as QBWC runs on its schedule. A SOAP fault ends the
        session, and QBWC simply tries again at its next run: so does this (the faults are
        kept for the failure message)."""
        assert self.process.poll() is None, "qbsync run exited"
        try:
            self.connector.run_once()
        except SoapFault as fault:
            self.faults.append(str(fault))


@pytest.fixture
def run(broker: BrokerInfo, tmp_path: Path) -> Iterator[Run]:
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    settings.topics.prefix = f"console-{uuid.uuid4().hex[:8]}"
    upgrade(settings.database_url)
    store = Store(settings.database_url)
    created = create_profile(store, name="Lovelace Plumbing", tenants=["t-1"])
    staff = ConsoleStore(store)
    create_user(staff, "olga", PASSWORD, "operator")
    create_user(staff, "vic", PASSWORD, "viewer")
    gateway_port, console_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(
        QBSYNC_DATA_DIR=str(data_dir),
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        QBSYNC_KAFKA_EXACT_WATERMARKS=str(broker.kind != "tansu").lower(),
        QBSYNC_TOPIC_PREFIX=settings.topics.prefix,
        QBSYNC_WORKER_SESSION_TIMEOUT_S="6",
        QBSYNC_WORKER_WEB_PORT=str(free_port()),
        QBSYNC_WORKER_APP_ID=f"qbsync-{settings.topics.prefix}",
        QBSYNC_GATEWAY_IMPORTS="",
        QBSYNC_CONSOLE_PORT=str(console_port),
        QBSYNC_CONSOLE_STATUS_POLL_S="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "qbsync", "run", "--port", str(gateway_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    producer = RecordProducer(settings.kafka.client_config())
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    connector = SandboxWebConnector(
        HttpTransport(gateway_url + "/qbwc"),
        username=created.profile.username,
        password=created.password,
        company=company,
    )
    try:
        until(
            lambda: (
                process.poll() is not None
                or (
                    answers(f"{gateway_url}/healthz")
                    and answers(f"http://127.0.0.1:{console_port}/healthz")
                )
            ),
            timeout=120,
            what="qbsync run's gateway and console",
        )
        assert process.poll() is None, "qbsync run exited during start-up"
        yield Run(
            process,
            settings,
            store,
            company,
            connector,
            # Chromium treats http://localhost as a secure context: Secure cookies work.
            f"http://localhost:{console_port}/console",
            gateway_url,
            created.profile.id,
            created.profile.username,
            producer,
            AvroCodec(),
        )
    finally:
        connector.close()
        producer.close()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        company.close()
        store.close()


def invoice(entity_id: str, customer_id: str, day: str) -> dict[str, Any]:
    envelope = {
        "tenant_id": "t-1",
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    payload = {
        "customer": {"id": customer_id},
        "txn_date": day,
        "ref_number": entity_id.upper(),
        "status": "READY_FOR_SYNC",
        "lines": [{"line_id": "l1", "description": "Boiler service", "amount": "185.00"}],
    }
    return validate_event("invoice.upserted", {"envelope": envelope, "invoice": payload})


def shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def sign_in(browser: Any, url: str, user: str, *, screenshot: bool = False) -> Any:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    if screenshot:
        shot(page, "01-sign-in")
    page.click("button[type=submit]")
    page.wait_for_selector("#connections")
    return page


def reloaded_until(page: Any, shown: Callable[[], bool], what: str) -> None:
    """Reload the page until ``shown`` (what the worker does reaches the page later)."""

    def look() -> bool:
        if shown():
            return True
        page.reload()
        return False

    until(look, timeout=60, what=what)


def forge(page: Any, action: str, fields: dict[str, str]) -> Any:
    """Submit a hand-made form from the page, as a hostile or a curious user could."""
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.evaluate(
            """([action, fields]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                for (const [name, value] of Object.entries(fields)) {
                    const input = document.createElement("input");
                    input.type = "hidden"; input.name = name; input.value = value;
                    form.appendChild(input);
                }
                document.body.appendChild(form);
                form.submit();
            }""",
            [action, fields],
        )
    return answer.value


def test_support_replays_a_3171_after_the_closing_date_moves_and_the_bookkeeper_connects(
    run: Run,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    run.company.set_closing_date(date(2026, 1, 31))
    run.publish(customer_event("t-1", "c-1", {"last_name": "Lovelace"}))
    run.publish(invoice("i-1", "c-1", day="2026-01-15"))  # in the closed period
    run.publish(invoice("i-2", "c-2", day="2026-03-02"))  # its customer never comes: parked
    until(
        lambda: any(e.code == 3171 for e in run.store.sync_log("t-1")),
        step=run.poll,
        timeout=120,
        what=f"QuickBooks' 3171 refusal (gateway faults: {run.faults})",
    )
    assert run.company.records("Invoice") == []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = sign_in(browser, run.console_url, "olga", screenshot=True)
        cookie = next(c for c in page.context.cookies() if c["name"] == "qbsync_console")
        assert (cookie["httpOnly"], cookie["secure"], cookie["sameSite"]) == (True, True, "Strict")
        assert "Lovelace Plumbing" in page.inner_text("#connections")
        shot(page, "02-connections")

        # Find the dead letter: the list, filtered by code, until the worker has filed it.
        page.click("text=Dead letters")
        page.fill("input[name=code]", "3171")
        page.click("form.filters >> text=Filter")

        reloaded_until(
            page,
            lambda: page.locator("tr[data-code='3171']").count() > 0,
            "the 3171 dead letter on the page",
        )
        shot(page, "03-dead-letters")
        page.click("tr[data-code='3171'] a")
        remedy = page.inner_text("#remedy")
        assert "closing date" in remedy.lower()
        assert "InvoiceAdd" in page.inner_text("#request-xml")
        shot(page, "04-dead-letter")
        letter_url = page.url

        # The bookkeeper moves the closing date in QuickBooks; support replays.
        run.company.set_closing_date(date(2025, 12, 31))
        page.click("#replay")
        preview = page.inner_text("#what-will-be-sent")
        assert "3171" in preview
        assert "invoice:i-1" in preview
        assert f"{run.settings.topics.prefix}.commands.{run.profile_id}" in preview
        assert "1 to replay, 0 replayed before" in page.inner_text("#plan")
        assert run.company.records("Invoice") == []  # a dry run sends nothing
        shot(page, "05-replay-dry-run")
        page.click("#confirm")
        assert "Sent 1" in page.inner_text("#sent")

        until(
            lambda: run.company.records("Invoice"),
            step=run.poll,
            timeout=120,
            what="the replayed invoice in QuickBooks",
        )
        run.poll()
        run.poll()
        (only,) = run.company.records("Invoice")
        assert only["RefNumber"] == "I-1"
        page.goto(letter_url)
        assert "replayed by olga" in page.inner_text("#replays")
        assert page.locator("#replay").count() == 0  # once
        shot(page, "06-dead-letter-replayed")

        # A viewer sees the letter but has no replay button, and a hand-made form is a 403.
        viewer = sign_in(browser, run.console_url, "vic")
        viewer.goto(letter_url)
        assert viewer.locator("#replay").count() == 0
        assert "closing date" in viewer.inner_text("#remedy").lower()
        assert viewer.locator("#request-xml").count() == 0  # the payload is an operator's
        token = viewer.get_attribute("header input[name=csrf_token]", "value")
        refused = forge(
            viewer,
            f"{run.console_url}/dead-letters/replay",
            {"csrf_token": token, "id": letter_url.rsplit("/", 1)[1], "step": "preview"},
        )
        assert refused.status == 403
        assert "operator" in viewer.inner_text("#error-message")
        shot(viewer, "07-viewer-403")

        # An operator's session, but a form without the CSRF token (a cross-site forgery).
        page.goto(letter_url)
        forged = forge(
            page,
            f"{run.console_url}/dead-letters/replay",
            {"id": letter_url.rsplit("/", 1)[1], "step": "confirm", "ids": ""},
        )
        assert forged.status == 403
        assert "security token" in page.inner_text("#error-message")
        replays = ConsoleStore(run.store).audit_log(action="dlq.replay")
        assert [(e.actor, e.detail["code"]) for e in replays] == [("olga", "3171")]

        # The support question, answered on one page: the record's whole story.
        page.goto(f"{run.console_url}/records?tenant=t-1&id=i-1")
        assert "is QuickBooks" in page.inner_text("#record-mapping")
        assert "3171" in page.inner_text("#record-letters")
        story = page.inner_text("#record-log")
        assert "failed" in story
        assert "synced" in story
        shot(page, "15-record")

        # The other pages, for the record.
        page.goto(f"{run.console_url}/log?tenant=t-1")
        assert "Closing date" in page.inner_text("#log") or "closing date" in page.inner_text(
            "#log"
        )
        shot(page, "08-sync-log")
        page.goto(f"{run.console_url}/mappings?tenant=t-1")
        assert "c-1" in page.inner_text("#mappings")
        shot(page, "09-mappings")
        page.goto(f"{run.console_url}/parked?tenant=t-1")

        reloaded_until(
            page,
            lambda: "i-2" in page.inner_text("#parked"),
            "the invoice waiting for its customer",
        )
        waiting = page.inner_text("#parked")
        assert "waiting" in waiting
        assert "customer:c-2" in waiting
        shot(page, "10-parked")

        # The customer will never come: support dead-letters the parked invoice by hand,
        # after a confirmation saying what happens; the worker files it once.
        page.click("tr[data-record='invoice:i-2'] a.parked-dead-letter")
        what = page.inner_text("#parked-what")
        assert f"dead-letter topic {run.settings.topics.dead_letters}" in what
        assert "Nothing is sent to QuickBooks" in what
        shot(page, "16-parked-confirm")
        page.click("#parked-confirm")
        assert "Requested:" in page.inner_text("#parked-requested")
        shot(page, "17-parked-requested")
        page.goto(f"{run.console_url}/dead-letters?code=withdrawn")

        reloaded_until(
            page,
            lambda: page.locator("tr[data-code='withdrawn']").count() > 0,
            "the withdrawn invoice among the dead letters",
        )
        assert "replay this dead letter" in page.inner_text("tr[data-code='withdrawn']")
        shot(page, "18-parked-dead-letter")
        page.goto(f"{run.console_url}/parked?tenant=t-1")

        reloaded_until(
            page,
            lambda: "i-2" not in page.inner_text("#parked"),
            "the invoice out of the parked records",
        )
        from qbsync.dead_letters import LetterFilter, read_letters

        letters = read_letters(run.settings, LetterFilter(code="withdrawn"))
        assert [(dl["entity"], dl["entity_id"]) for dl in letters] == [("invoice", "i-2")]
        assert "by olga" in letters[0]["reason"]
        assert run.store.release_requests() == []
        assert [
            e.actor for e in ConsoleStore(run.store).audit_log(action="parked.dead-letter")
        ] == ["olga"]

        # The bookkeeper's setup: a one-time link from the file's page.
        page.goto(f"{run.console_url}/connections")
        assert CLIENT_VERSION in page.inner_text("#connections td.web-connector")
        assert "qbXML" in page.inner_text("#connections td.quickbooks")
        page.goto(f"{run.console_url}/files/{run.profile_id}")
        # Its sessions: the one QuickBooks refused the 3171 in, explained; the replay's.
        assert page.inner_text("#web-connector") == CLIENT_VERSION
        sessions = page.inner_text("#sessions")
        assert "1 refused by QuickBooks" in sessions
        assert "closing date" in sessions.lower()
        assert "closed; 1 synced" in sessions
        assert f"{CLIENT_VERSION} · " in sessions
        shot(page, "19-file-sessions")
        page.click("text=Make a new setup link")
        link = page.inner_text("#setup-link")
        shot(page, "11-file")
        bookkeeper = browser.new_context(accept_downloads=True).new_page()
        bookkeeper.goto(link)
        assert bookkeeper.inner_text("#status") == "waiting"
        with bookkeeper.expect_download() as download:
            bookkeeper.click("#qwc")
        qwc = Path(download.value.path()).read_text(encoding="utf-8")
        assert f"<UserName>{run.username}</UserName>" in qwc
        bookkeeper.click("#reset")
        password = bookkeeper.inner_text("#new-password")
        shot(bookkeeper, "12-setup-new-password")
        again = browser.new_context().new_page()
        again.goto(link)
        assert "used already" in again.inner_text("#error-message")

        # The Web Connector with the new password: the page turns green by itself.
        fresh = SandboxWebConnector(
            HttpTransport(run.gateway_url + "/qbwc"),
            username=run.username,
            password=password,
            company=run.company,
        )
        try:
            fresh.run_once()
        finally:
            fresh.close()
        # The page's own script polls the status (no reload): wait for the badge to change.
        expect(bookkeeper.locator("#status")).to_have_text("connected", timeout=30_000)
        assert "state-connected" in (bookkeeper.get_attribute("#status", "class") or "")
        shot(bookkeeper, "13-setup-connected")
        page.goto(f"{run.console_url}/audit")
        audit = page.inner_text("#audit")
        assert "dlq.replay" in audit
        assert "setup.password-reset" in audit
        shot(page, "14-audit")
        browser.close()
