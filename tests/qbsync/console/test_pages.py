"""The console's pages through Flask's test client, on real SQLite and PostgreSQL: sign-in,
roles, CSRF, audit, mappings, the sync log's CSV, the setup page's one-time link."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from connectors.kafka import RecordProducer
from connectors.qbwc import create_profile, verify_password
from connectors.store import ConsoleStore, Mapping, Store, SyncLogEntry, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.console import Console, create_console
from qbsync.console._auth import create_user
from qbsync.runtime import prepare_topics, use_broker
from streams.app import Failure, Pipeline, Source
from tests.support.waiting import until

pytestmark = pytest.mark.integration

PASSWORD = "correct horse battery"


@pytest.fixture
def console(settings: Settings, database_url: str) -> Iterator[Console]:
    settings.database.url = SecretStr(database_url)
    upgrade(database_url)
    built = create_console(settings)
    built.app.testing = True
    staff = ConsoleStore(built.store)
    create_user(staff, "olga", PASSWORD, "operator")
    create_user(staff, "vic", PASSWORD, "viewer")
    yield built
    built.close()


def client(console: Console) -> FlaskClient:
    return console.app.test_client()


def token(page: bytes) -> str:
    found = re.search(rb'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1).decode()


def signed_in(console: Console, user: str) -> tuple[FlaskClient, str]:
    browser = client(console)
    form = browser.get("/login")
    answer = browser.post(
        "/login",
        data={"username": user, "password": PASSWORD, "csrf_token": token(form.data)},
    )
    assert answer.status_code == 302, answer.data
    page = browser.get("/connections")
    assert page.status_code == 200
    return browser, token(page.data)


def test_sign_in_sets_a_secure_httponly_strict_cookie_and_a_wrong_password_does_not(
    console: Console,
) -> None:
    browser = client(console)
    assert browser.get("/connections").status_code == 302  # to the sign-in page
    form = browser.get("/login")
    wrong = browser.post(
        "/login", data={"username": "olga", "password": "nope", "csrf_token": token(form.data)}
    )
    assert wrong.status_code == 401
    assert b"do not match" in wrong.data
    form = browser.get("/login")
    right = browser.post(
        "/login",
        data={"username": "olga", "password": PASSWORD, "csrf_token": token(form.data)},
    )
    cookie = next(c for c in right.headers.getlist("Set-Cookie") if c.startswith("qbsync_console="))
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert browser.get("/connections").status_code == 200
    # The store keeps a scrypt hash, never the password.
    user = ConsoleStore(console.store).user("olga")
    assert user is not None
    assert user.password_hash.startswith("scrypt$")
    assert verify_password(PASSWORD, user.password_hash)


def test_a_form_without_its_csrf_token_is_refused(console: Console) -> None:
    browser, good = signed_in(console, "olga")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    forged = browser.post(f"/files/{profile.id}/setup-link", data={})
    assert forged.status_code == 403
    assert b"security token" in forged.data
    wrong = browser.post(f"/files/{profile.id}/setup-link", data={"csrf_token": "x" * 43})
    assert wrong.status_code == 403
    assert ConsoleStore(console.store).setup_links(profile.id) == []
    # The login form too: no token cookie, no sign-in.
    anonymous = client(console)
    login = anonymous.post("/login", data={"username": "olga", "password": PASSWORD})
    assert login.status_code == 403
    made = browser.post(f"/files/{profile.id}/setup-link", data={"csrf_token": good})
    assert made.status_code == 200


def test_a_viewer_reads_but_gets_403_on_every_change(console: Console) -> None:
    browser, good = signed_in(console, "vic")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    assert browser.get(f"/files/{profile.id}").status_code == 200
    for path in (
        "/dead-letters/replay",
        f"/files/{profile.id}/setup-link",
        "/mappings/match",
        "/mappings/unmatch",
    ):
        answer = browser.post(path, data={"csrf_token": good, "step": "confirm"})
        assert answer.status_code == 403, path
        assert b"operator" in answer.data
    assert ConsoleStore(console.store).audit_log(action="setup-link") == []


def test_connections_show_state_and_filter(console: Console) -> None:
    browser, _ = signed_in(console, "vic")
    store = console.store
    quiet = create_profile(store, name="Quiet Co", tenants=["t-quiet"]).profile
    create_profile(store, name="Busy Co", tenants=["t-busy"])
    store.update_profile(quiet.id, last_seen_at=datetime.now(UTC) - timedelta(hours=2))
    page = browser.get("/connections").data.decode()
    assert "Quiet Co" in page
    assert "Busy Co" in page
    assert "state-stalled" in page
    assert "state-never" in page
    only = browser.get("/connections?q=t-qui").data.decode()
    assert "Quiet Co" in only
    assert "Busy Co" not in only
    stalled = browser.get("/connections?state=never").data.decode()
    assert "Busy Co" in stalled
    assert "Quiet Co" not in stalled
    assert browser.get("/connections?state=sleepy").status_code == 400


def log_entry(tenant: str, profile_id: str, **changes: object) -> SyncLogEntry:
    values: dict[str, object] = {
        "at": datetime(2026, 12, 1, 10, 0, tzinfo=UTC),
        "tenant_id": tenant,
        "profile_id": profile_id,
        "entity": "invoice",
        "entity_id": "i-1",
        "command_id": "c-1",
        "action": "ADD",
        "status": "failed",
        "code": 3171,
        "message": "closed period",
        "qb_id": None,
    }
    values.update(changes)
    return SyncLogEntry(**values)


def test_sync_log_explains_and_its_csv_is_the_clis_export(console: Console) -> None:
    browser, _ = signed_in(console, "vic")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    console.store.log_sync(log_entry("t-1", profile.id))
    console.store.log_sync(
        log_entry(
            "t-1",
            profile.id,
            at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
            entity="customer",
            entity_id="c-9",
            command_id="c-2",
            status="synced",
            code=0,
            message="OK",
            qb_id="80000001-1",
        )
    )
    page = browser.get("/log?tenant=t-1").data.decode()
    assert "closing date" in page.lower()  # the catalog's remedy for 3171
    failed = browser.get("/log?tenant=t-1&status=failed").data.decode()
    assert "c-9" not in failed
    assert "i-1" in failed
    download = browser.get("/log.csv?tenant=t-1&since=2026-12-02")
    assert download.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.data.decode())))
    assert [(r["entity_id"], r["qb_id"], r["status"]) for r in rows] == [
        ("c-9", "80000001-1", "synced")
    ]
    assert list(rows[0]) == [
        "at", "tenant_id", "entity", "entity_id", "action", "status", "code", "message",
        "qb_id", "command_id", "profile_id",
    ]  # fmt: skip


def test_match_and_unmatch_use_the_map_rules_and_are_audited(console: Console) -> None:
    browser, good = signed_in(console, "olga")
    store: Store = console.store
    profile = create_profile(store, name="Acme", tenants=["t-1"]).profile
    store.save_qb_records(
        profile.id,
        "customer",
        [
            {"qb_id": "80000001-1", "full_name": "Smith & Sons, Inc.", "edit_sequence": "7"},
            {"qb_id": "80000002-1", "full_name": "Jones LLC", "edit_sequence": "3"},
        ],
    )
    dry = browser.post(
        "/mappings/match",
        data={
            "csrf_token": good,
            "tenant": "t-1",
            "entity": "customer",
            "records": "id,name\nc-1,smith and sons\nc-2,Nobody Ltd",
            "dry_run": "on",
        },
    )
    assert dry.status_code == 200, dry.data
    assert b"would match 1, 1 unmatched" in dry.data
    assert store.mappings("t-1", "customer") == []
    done = browser.post(
        "/mappings/match",
        data={
            "csrf_token": good,
            "tenant": "t-1",
            "entity": "customer",
            "records": "id,name\nc-1,smith and sons",
        },
    )
    assert b"matched 1, 0 unmatched" in done.data
    assert store.mapping("t-1", "customer", "c-1") == Mapping(
        "t-1", "customer", "c-1", "80000001-1", "7", "Smith & Sons, Inc."
    )  # the name and EditSequence QuickBooks holds
    gone = browser.post(
        "/mappings/unmatch",
        data={"csrf_token": good, "tenant": "t-1", "entity": "customer", "id": "c-1"},
    )
    assert gone.status_code == 302
    assert store.mapping("t-1", "customer", "c-1") is None
    again = browser.post(
        "/mappings/unmatch",
        data={"csrf_token": good, "tenant": "t-1", "entity": "customer", "id": "c-1"},
    )
    assert again.status_code == 400
    assert b"no customer mapping for id" in again.data
    actions = [(e.actor, e.action) for e in ConsoleStore(store).audit_log()]
    assert ("olga", "map.match") in actions
    assert ("olga", "map.unmatch") in actions
    assert ("olga", "sign-in") in actions


def test_the_setup_link_works_once_and_the_password_reset_shows_once(
    console: Console,
) -> None:
    operator, good = signed_in(console, "olga")
    created = create_profile(console.store, name="Acme", tenants=["t-1"])
    made = operator.post(f"/files/{created.profile.id}/setup-link", data={"csrf_token": good})
    link = re.search(rb'id="setup-link">([^<]+)<', made.data)
    assert link is not None
    path = link.group(1).decode().removeprefix("http://localhost")
    assert path.startswith("/setup/")

    bookkeeper = client(console)
    opened = bookkeeper.get(path)
    assert opened.status_code == 302
    page = bookkeeper.get("/setup")
    assert page.status_code == 200
    assert b"single-user mode" in page.data
    # The status script runs under a per-response nonce; no other script may.
    policy = page.headers["Content-Security-Policy"]
    nonce = re.search(r"script-src 'nonce-([^']+)'", policy)
    assert nonce is not None
    assert f'<script nonce="{nonce.group(1)}">'.encode() in page.data
    assert "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert b"state-waiting" in page.data
    qwc = bookkeeper.get("/setup/qbsync.qwc")
    assert qwc.status_code == 200
    assert created.profile.username.encode() in qwc.data
    assert created.password.encode() not in qwc.data

    # Someone else with the same link: it was used.
    stranger = client(console)
    assert stranger.get(path).status_code == 410
    assert stranger.get("/setup").status_code == 401

    reset = bookkeeper.post("/setup/password", data={"csrf_token": token(page.data)})
    shown = re.search(rb'id="new-password">([^<]+)<', reset.data)
    assert shown is not None
    new_password = shown.group(1).decode()
    profile = console.store.profile(created.profile.id)
    assert profile is not None
    assert verify_password(new_password, profile.password_hash)
    assert not verify_password(created.password, profile.password_hash)
    assert new_password.encode() not in bookkeeper.get("/setup").data
    assert bookkeeper.get("/setup/status").json == {
        "state": "waiting",
        "text": bookkeeper.get("/setup/status").json["text"],  # type: ignore[index]
    }
    console.store.touch_profile(created.profile.id)  # what a successful Web Connector login does
    assert bookkeeper.get("/setup/status").json["state"] == "connected"  # type: ignore[index]
    audit = [(e.actor, e.action) for e in ConsoleStore(console.store).audit_log()]
    assert ("olga", "setup-link") in audit
    assert (f"bookkeeper:{created.profile.id}", "setup.password-reset") in audit


def test_an_expired_setup_link_is_refused(console: Console) -> None:
    created = create_profile(console.store, name="Acme", tenants=["t-1"])
    ConsoleStore(console.store).add_setup_link(
        "expired-token", profile_id=created.profile.id, created_by="t", ttl=timedelta(seconds=-1)
    )
    answer = client(console).get("/setup/expired-token")
    assert answer.status_code == 410
    assert b"expired" in answer.data
    assert client(console).get("/setup/never-made").status_code == 404


def test_dead_letters_list_preview_then_confirm_exactly_what_was_previewed(
    console: Console, settings: Settings, broker: BrokerInfo
) -> None:
    """Through the pages on the real broker: the list explains, a preview sends nothing,
    a confirmation whose set changed since its preview is refused, then it sends once."""
    use_broker(settings, broker)
    prepare_topics(settings)
    built = create_console(settings)  # the fixture's console knows no broker
    built.app.testing = True
    try:
        browser, good = signed_in(built, "olga")
        codec = AvroCodec()
        pipeline = Pipeline(settings, built.store, codec)
        events = settings.topics.events
        first = pipeline.dead_letter(
            Source(events, 0, 7, b"t-1", b"\x00first"),
            Failure("unknown-tenant", "who is t-1?"),
            tenant_id="t-1",
        )
        producer = RecordProducer(settings.kafka.client_config())
        producer.send_all([first])
        listed = until(
            lambda: (
                (page := browser.get("/dead-letters?tenant=t-1").data.decode()).count(
                    'data-code="unknown-tenant"'
                )
                and page
            ),
            timeout=30,
            what="the dead letter on the list",
        )
        assert "who is t-1?" in listed
        preview = browser.post(
            "/dead-letters/replay", data={"csrf_token": good, "tenant": "t-1", "step": "preview"}
        )
        assert b"1 to replay, 0 replayed before" in preview.data
        ids = re.search(rb'name="ids" value="([^"]*)"', preview.data)
        assert ids is not None
        # Another dead letter arrives between the preview and the confirmation.
        producer.send_all(
            [
                pipeline.dead_letter(
                    Source(events, 0, 9, b"t-1", b"\x00second"),
                    Failure("unknown-tenant", "who?"),
                    tenant_id="t-1",
                )
            ]
        )
        producer.close()
        until(
            lambda: browser.get("/dead-letters?tenant=t-1").data.count(b"data-code=") == 2,
            timeout=30,
            what="the second dead letter",
        )
        confirm = {
            "csrf_token": good,
            "tenant": "t-1",
            "step": "confirm",
            "ids": ids.group(1).decode(),
        }
        changed = browser.post("/dead-letters/replay", data=confirm)
        assert changed.status_code == 409
        assert b"preview again" in changed.data
        assert ConsoleStore(built.store).audit_log(action="dlq.replay") == []
        again = browser.post(
            "/dead-letters/replay", data={"csrf_token": good, "tenant": "t-1", "step": "preview"}
        )
        ids = re.search(rb'name="ids" value="([^"]*)"', again.data)
        assert ids is not None
        sent = browser.post("/dead-letters/replay", data={**confirm, "ids": ids.group(1).decode()})
        assert b"Sent 2" in sent.data
        replays = ConsoleStore(built.store).audit_log(action="dlq.replay")
        assert sorted(e.detail["to"] for e in replays) == [events, events]
        assert {e.actor for e in replays} == {"olga"}
        after = browser.post(
            "/dead-letters/replay", data={"csrf_token": good, "tenant": "t-1", "step": "preview"}
        )
        assert b"0 to replay, 2 replayed before" in after.data
    finally:
        built.close()


def test_guessing_a_staff_password_gets_slow(console: Console) -> None:
    browser = client(console)

    def attempt(password: str) -> int:
        form = browser.get("/login")
        answer = browser.post(
            "/login",
            data={"username": "vic", "password": password, "csrf_token": token(form.data)},
        )
        return answer.status_code

    assert [attempt(f"guess-{n}") for n in range(5)] == [401] * 5
    staff = ConsoleStore(console.store)
    user = staff.user("vic")
    assert user is not None
    assert user.failed_logins == 5  # each counted
    # Past five in a row, tries are refused unchecked: 2**(n - 5) seconds after the last
    # failure, 5 minutes at most. Twelve failures just now: 128 s, so even the right password
    # is refused, and not counted.
    staff.update_user("vic", failed_logins=12, last_failed_login_at=datetime.now(UTC))
    assert attempt(PASSWORD) == 401
    user = staff.user("vic")
    assert user is not None
    assert user.failed_logins == 12
    staff.update_user("vic", last_failed_login_at=datetime.now(UTC) - timedelta(minutes=6))
    assert attempt(PASSWORD) == 302
    user = staff.user("vic")
    assert user is not None
    assert user.failed_logins == 0


def test_connections_show_a_files_backlog_and_its_oldest_command(
    console: Console, settings: Settings, broker: BrokerInfo
) -> None:
    from connectors.kafka import ensure_topics

    use_broker(settings, broker)
    built = create_console(settings)
    built.app.testing = True
    try:
        browser, _ = signed_in(built, "vic")
        profile = create_profile(built.store, name="Backlogged", tenants=["t-1"]).profile
        topic = settings.topics.commands(profile.id)
        ensure_topics(settings.kafka.client_config(), {topic: 1})
        codec = AvroCodec()
        made = datetime.now(UTC) - timedelta(minutes=10)
        producer = RecordProducer(settings.kafka.client_config())
        producer.send_all(
            [
                (
                    topic,
                    b"t-1",
                    codec.encode(
                        "com.qbsync.pipeline.Command",
                        {
                            "command_id": f"00000000-0000-0000-0000-00000000000{n}",
                            "event_id": f"00000000-0000-0000-0000-10000000000{n}",
                            "tenant_id": "t-1",
                            "profile_id": profile.id,
                            "entity": "customer",
                            "entity_id": f"c-{n}",
                            "action": "ADD",
                            "request_xml": "<CustomerAddRq><CustomerAdd/></CustomerAddRq>",
                            "created_at": made + timedelta(minutes=n),
                            "depends_on": [],
                            "attempt": 1,
                            "first_failed_at": None,
                        },
                    ),
                )
                for n in (0, 1)
            ]
        )
        producer.close()
        page = browser.get(f"/files/{profile.id}").data.decode()
        assert "Backlog: 2 command(s), oldest 10 min old" in " ".join(page.split())
    finally:
        built.close()


def test_disabling_a_user_or_changing_a_role_applies_to_open_sessions(console: Console) -> None:
    browser, good = signed_in(console, "olga")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    staff = ConsoleStore(console.store)
    staff.update_user("olga", role="viewer")
    demoted = browser.post(f"/files/{profile.id}/setup-link", data={"csrf_token": good})
    assert demoted.status_code == 403
    staff.update_user("olga", enabled=False)
    assert browser.get("/connections").status_code == 302
    assert browser.post("/logout", data={"csrf_token": good}).status_code == 403


def test_a_records_page_tells_its_whole_story_even_without_a_broker(console: Console) -> None:
    browser, _ = signed_in(console, "vic")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    console.store.log_sync(log_entry("t-1", profile.id))
    console.store.log_sync(
        log_entry("t-1", profile.id, entity_id="i-2", command_id="c-9", code=3100)
    )
    console.store.log_sync(
        log_entry(
            "t-1",
            profile.id,
            at=datetime(2026, 12, 2, 9, 0, tzinfo=UTC),
            command_id="c-2",
            status="synced",
            code=0,
            message="OK",
            qb_id="1A-1",
        )
    )
    console.store.save_mapping(Mapping("t-1", "invoice", "i-1", "1A-1", "3", None))
    page = browser.get("/records?tenant=t-1&id=i-1").data.decode()
    assert "invoice i-1 is QuickBooks 1A-1" in page
    assert "Unknown: no broker is configured." in page
    log = page.split('id="record-log"')[1]
    assert log.index("synced") < log.index("failed")  # newest first
    assert "i-2" not in log
    assert "closing date" in log.lower()


@pytest.mark.parametrize("target", ["//evil.example/x", "/\\evil.example", "https://evil.example"])
def test_sign_in_never_sends_the_browser_to_another_site(console: Console, target: str) -> None:
    browser = client(console)
    form = browser.get("/login")
    answer = browser.post(
        "/login",
        data={
            "username": "vic",
            "password": PASSWORD,
            "csrf_token": token(form.data),
            "next": target,
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == "/connections"


def test_an_operator_dead_letters_a_parked_record_after_a_confirmation_a_viewer_cannot(
    console: Console, settings: Settings, broker: BrokerInfo
) -> None:
    """The parking table's changelog on the real broker; the request lands in the store as
    ``qbsync parked`` puts it, for the version confirmed, once; a viewer gets 403."""
    from streams.parking import Parked

    use_broker(settings, broker)
    built = create_console(settings)
    built.app.testing = True
    topic = f"{settings.worker.app_id}-parked-changelog"
    entry = Parked(
        kind="waiting",
        tenant_id="t-1",
        entity="invoice",
        entity_id="i-9",
        value=b"\x00event",
        key=b"t-1",
        source_topic=settings.topics.events,
        partition=0,
        offset=4,
        parked_at=1_764_000_000.123456,
        checked_at=1_764_000_000.5,
        reason="waits for customer 'c-9'",
        waiting_on=("customer:c-9",),
    )
    producer = RecordProducer(settings.kafka.client_config())
    try:
        producer.send_all([(topic, entry.record, entry.dumps())])
        viewer, viewer_token = signed_in(built, "vic")
        listed = until(
            lambda: b"i-9" in (page := viewer.get("/parked?tenant=t-1").data) and page,
            timeout=30,
            what="the parked invoice on the page",
        )
        assert b"Dead-letter" not in listed  # no buttons for a viewer
        query = "tenant=t-1&entity=invoice&id=i-9&action=dead-letter"
        assert viewer.get(f"/parked/confirm?{query}").status_code == 403
        form = {
            "csrf_token": viewer_token,
            "tenant": "t-1",
            "entity": "invoice",
            "id": "i-9",
            "action": "dead-letter",
            "parked_at": repr(entry.parked_at),
        }
        assert viewer.post("/parked/act", data=form).status_code == 403

        browser, good = signed_in(built, "olga")
        assert b"Dead-letter" in browser.get("/parked?tenant=t-1").data
        confirm = browser.get(f"/parked/confirm?{query}")
        assert confirm.status_code == 200
        page = confirm.data.decode()
        assert f"on the dead-letter topic {settings.topics.dead_letters}" in page
        assert "Nothing is sent to QuickBooks" in page
        assert built.store.release_requests() == []  # the confirmation asks nothing yet
        shown = re.search(r'name="parked_at" value="([^"]+)"', page)
        assert shown is not None
        assert float(shown.group(1)) == entry.parked_at
        form["csrf_token"] = good
        stale = browser.post("/parked/act", data={**form, "parked_at": "1764000000.0"})
        assert stale.status_code == 409
        assert browser.post("/parked/act", data={**form, "action": "drop"}).status_code == 400
        assert (
            browser.post(
                "/parked/act", data={k: v for k, v in form.items() if k != "csrf_token"}
            ).status_code
            == 403
        )
        assert built.store.release_requests() == []
        done = browser.post("/parked/act", data={**form, "parked_at": shown.group(1)})
        assert done.status_code == 200
        assert b"Requested:" in done.data
        (request,) = built.store.release_requests()
        assert (request.record, request.action, request.requested_by) == (
            ("t-1", "invoice", "i-9"),
            "dead-letter",
            "olga",
        )
        assert request.parked_at == entry.parked_at
        (audited,) = ConsoleStore(built.store).audit_log(action="parked.dead-letter")
        assert (audited.actor, audited.target) == ("olga", "t-1:invoice:i-9")
        # A second click is the same one request; a release instead replaces it.
        browser.post("/parked/act", data={**form, "parked_at": shown.group(1)})
        assert len(built.store.release_requests()) == 1
        browser.post("/parked/act", data={**form, "action": "release", "parked_at": shown.group(1)})
        (request,) = built.store.release_requests()
        assert request.action == "release"
        # The worker took it out (a tombstone): nothing to ask about any more.
        tombstone: Any = None
        producer.send_all([(topic, entry.record, tombstone)])
        until(
            lambda: b"i-9" not in browser.get("/parked?tenant=t-1").data,
            timeout=30,
            what="the tombstone read",
        )
        gone = browser.get(f"/parked/confirm?{query}")
        assert gone.status_code == 404
        assert b"not parked" in gone.data
    finally:
        producer.close()
        built.close()


def test_a_files_page_shows_its_sessions_and_the_versions_its_web_connector_reported(
    console: Console,
) -> None:
    """What the gateway records (``SessionLog``, written here as the gateway's
    ``SessionHistory`` does) on the connections page and the file's page."""
    from connectors.store import SessionLog

    browser, _ = signed_in(console, "vic")
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    history = SessionLog(console.store)
    assert "not reported" in browser.get(f"/files/{profile.id}").data.decode()
    history.note_client("client-a", "2.3.0.215")
    history.opened(profile.id, "ticket-1", "client-a")
    history.reported("ticket-1", "US", 16, 0)
    console.store.log_sync(log_entry("t-1", profile.id, at=datetime.now(UTC)))
    history.ended("ticket-1", "closed", settled=3, failed=1, qbxml_version="13.0")
    history.opened(profile.id, "ticket-2", "client-a")  # never closed: it expired
    console.store.update_profile(profile.id, host_info={"product": "QuickBooks Pro 2024"})

    listed = browser.get("/connections").data.decode()
    assert '<td class="web-connector">2.3.0.215</td>' in listed
    # The newest session has not reported yet: the one before it says what QuickBooks is.
    assert '<td class="quickbooks">QuickBooks Pro 2024 (US) qbXML 16.0</td>' in listed
    page = browser.get(f"/files/{profile.id}").data.decode()
    assert 'id="web-connector">2.3.0.215<' in page
    sessions = page[page.index('id="sessions"') :]
    sessions = sessions[: sessions.index("</table>")]
    expired, closed = sessions.split('<tr class="session')[1:]
    assert "ended without closing" in expired
    assert "closed; 3 synced, 1 refused by QuickBooks" in closed
    assert "<td>4</td>" in closed
    assert "3171" in closed
    assert "closing date" in closed.lower()  # the catalog's words, not only the message
    assert "2.3.0.215 · QuickBooks" not in closed
    assert "2.3.0.215 · (US) qbXML 16.0" in closed


def test_a_files_session_history_is_bounded(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connectors.store import SessionLog, _sessions

    monkeypatch.setattr(_sessions, "KEPT", 3)
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    other = create_profile(console.store, name="Other", tenants=["t-2"]).profile
    history = SessionLog(console.store)
    history.opened(other.id, "other", None)
    for number in range(6):
        history.opened(profile.id, f"ticket-{number}", None)
        history.ended(f"ticket-{number}", "closed", settled=number)
    assert [s.settled for s in history.recent(profile.id)] == [5, 4, 3, 2]
    assert len(history.recent(other.id)) == 1


def test_the_dead_letter_list_reads_a_window_and_pages_back_by_offset(
    console: Console, settings: Settings, broker: BrokerInfo
) -> None:
    """A page reads at most QBSYNC_CONSOLE_DEAD_LETTER_PAGE letters of the topic (the
    newest), and "Older dead letters" pages back by offset until the topic's start: every
    letter is on exactly one page."""
    use_broker(settings, broker)
    prepare_topics(settings)
    settings.console.dead_letter_page = 3
    built = create_console(settings)
    built.app.testing = True
    try:
        browser, _good = signed_in(built, "olga")
        pipeline = Pipeline(settings, built.store, AvroCodec())
        events = settings.topics.events
        producer = RecordProducer(settings.kafka.client_config())
        producer.send_all(
            [
                pipeline.dead_letter(
                    Source(events, 0, n, b"t-1", f"\x00letter-{n}".encode()),
                    Failure("unknown-tenant", f"letter number {n}"),
                    tenant_id="t-1",
                )
                for n in range(7)
            ]
        )
        producer.close()
        pages: list[list[str]] = []
        url: str | None = "/dead-letters"
        while url is not None:
            page = browser.get(url)
            assert page.status_code == 200
            text = page.data.decode()
            pages.append(re.findall(r"letter number (\d)", text))
            older = re.search(r'id="older" href="([^"]+)"', text)
            url = older.group(1).replace("&amp;", "&") if older else None
            assert len(pages) <= 7, pages
        assert pages == [["6", "5", "4"], ["3", "2", "1"], ["0"]]
        # An offset that is not one is refused, naming the parameter.
        assert browser.get("/dead-letters?before=x").status_code == 400
    finally:
        built.close()


def test_a_dead_letter_deep_in_a_large_topic_is_read_where_it_is(
    console: Console, settings: Settings, broker: BrokerInfo
) -> None:
    """The list links a dead letter by its partition and offset; its page and its replay
    read it there (a seek and one record) and what it blocks among the page's worth of
    letters after it, never the whole topic: 3,000 letters, the one asked for at 1,700."""
    use_broker(settings, broker)
    prepare_topics(settings)
    settings.console.dead_letter_page = 40
    built = create_console(settings)
    built.app.testing = True
    deep, blocked, late = 1700, 1720, 2500  # late: blocked too, beyond the page's search
    deep_id = f"00000000-0000-4000-8000-{deep:012d}"

    def letter(n: int) -> Any:
        return pipeline.dead_letter(
            Source(events, 0, 10_000 + n, b"t-1", f"\x00letter-{n}".encode()),
            Failure(
                "unknown-tenant",
                f"letter number {n}",
                blocked_by=deep_id if n in (blocked, late) else None,
            ),
            tenant_id="t-1",
            dead_letter_id=f"00000000-0000-4000-8000-{n:012d}",
        )

    try:
        browser, good = signed_in(built, "olga")
        pipeline = Pipeline(settings, built.store, AvroCodec())
        events = settings.topics.events
        producer = RecordProducer(settings.kafka.client_config())
        producer.send_all([letter(n) for n in range(3000)])
        producer.close()
        # The list page holding it links it by partition and offset.
        listed = browser.get(f"/dead-letters?before={deep + 1}").data.decode()
        link = re.search(rf'href="(/dead-letters/{deep_id}\?[^"]+)"', listed)
        assert link is not None, listed[:3000]
        href = link.group(1).replace("&amp;", "&")
        assert f"offset={deep}" in href
        assert "partition=0" in href
        page = browser.get(href)
        assert page.status_code == 200
        text = page.data.decode()
        assert "letter number 1700" in text
        assert f"dead-letter topic [0]@{deep}" in text
        # One record for the letter and the 40 after it for what it blocks: 41 of 3,000.
        fetched = re.search(r'id="fetched">\((\d+) records? of the topic', text)
        assert fetched is not None, text
        assert int(fetched.group(1)) == 1 + 40
        blocks = re.search(r'id="blocks">(.*?)</td>', text, re.S)
        assert blocks is not None
        assert f"offset={blocked}" in blocks.group(1)
        assert f"offset={late}" not in blocks.group(1)  # searched no further than the page
        # Another letter's offset under this id is not this letter.
        assert (
            browser.get(f"/dead-letters/{deep_id}?partition=0&offset={deep + 1}").status_code == 404
        )
        assert browser.get(f"/dead-letters/{deep_id}?offset=x").status_code == 400
        # Its replay, from its page: the preview and the confirmation read it where it is.
        form = {"csrf_token": good, "id": deep_id, "partition": "0", "offset": str(deep)}
        preview = browser.post("/dead-letters/replay", data={**form, "step": "preview"})
        assert b"1 to replay, 0 replayed before" in preview.data, preview.data[:2000]
        assert f'name="offset" value="{deep}"'.encode() in preview.data
        sent = browser.post(
            "/dead-letters/replay", data={**form, "step": "confirm", "ids": deep_id}
        )
        assert b"Sent 1" in sent.data
        (replayed,) = ConsoleStore(built.store).audit_log(action="dlq.replay")
        assert (replayed.target, replayed.actor) == (deep_id, "olga")
        # By id alone (a "blocked by" link) it is still found, by reading the topic.
        whole = browser.get(f"/dead-letters/{deep_id}").data.decode()
        assert "letter number 1700" in whole
        assert "3000 records of the topic" in whole
    finally:
        built.close()
