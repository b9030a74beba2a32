"""A QBO dead letter replays like Desktop's (issue 19): events -> worker (a real process) ->
the company's command topic -> QBO sender -> the QBO sandbox over HTTP. A customer whose
display name a vendor already has is refused by QBO (6240, permanent): a dead letter with the
QBO catalog's explanation and remedy. Once the vendor is renamed in QuickBooks Online,
``qbsync dlq replay`` (and the console's replay for a second one) writes the customer once."""

from __future__ import annotations

import re
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import ConsoleStore, upgrade
from core.contracts import customer_event
from core.settings import Settings
from qbsync.console import create_console
from qbsync.console._auth import create_user
from tests.qbsync.console.test_pages import PASSWORD, signed_in
from tests.support.qbo import QboPipeline, StartOnline, cli_json, cli_sees
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550007777"
TENANT = "q-1"


def letters_of(entity_id: str) -> list[dict[str, Any]]:
    return [
        dl for dl in cli_json("dlq", "list", "--json") if dl["record"] == f"customer:{entity_id}"
    ]


def customers(online: QboPipeline) -> list[str]:
    return sorted(c["DisplayName"] for c in online.sandbox.company(REALM).all("Customer"))


def test_a_refused_customer_is_a_dead_letter_that_replays_once_after_the_fix(
    settings: Settings,
    database_url: str,
    company: Company,
    start_online: StartOnline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    vendors = {}
    for name in ("Acme Supply", "Borealis Tools"):
        status, body = company.create("Vendor", {"DisplayName": name})
        assert status == 200
        vendors[name] = body["Vendor"]["Id"]
    online = start_online()
    cli_sees(settings, monkeypatch)
    online.publish(
        customer_event(TENANT, "c-1", {"company_name": "Acme Supply"}),
        customer_event(TENANT, "c-2", {"company_name": "Borealis Tools"}),
    )
    (first,) = until(
        lambda: letters_of("c-1"), step=online.drain, timeout=120, what="c-1 dead-lettered"
    )
    (second,) = until(lambda: letters_of("c-2"), step=online.drain, what="c-2 dead-lettered")
    # QBO's own words and the catalog's explanation and remedy, not Desktop's.
    assert first["tenant"] == TENANT
    assert "Duplicate Name Exists Error" in first["reason"]
    assert "Duplicate name" in first["reason"]
    assert "display names are unique across the three" in first["explanation"]
    assert "Rename the record in the app" in first["remedy"]
    assert customers(online) == []

    # The fix, in QuickBooks Online: the first vendor is renamed. Replaying both writes
    # c-1 once; c-2 is refused again (its vendor still has the name): a new dead letter.
    company.edit("Vendor", vendors["Acme Supply"], {"DisplayName": "Acme Supply (vendor)"})
    replay = cli_json("dlq", "replay", "--tenant", TENANT, "--json")
    assert sorted(replay["replayed"]) == sorted([first["id"], second["id"]])
    until(lambda: online.synced("customer", "c-1"), step=online.drain, what="c-1 written")
    again = until(
        lambda: found if len(found := letters_of("c-2")) == 2 else None,
        step=online.drain,
        what="c-2 refused again",
    )
    assert customers(online) == ["Acme Supply"]
    # Replaying again does nothing to what was replayed before.
    before = cli_json("dlq", "replay", "--tenant", TENANT, "--dry-run", "--json")
    assert len(before["to_replay"]) == 1  # c-2's new dead letter only

    # The second fix, and the console's replay (preview, then confirm what was shown).
    company.edit("Vendor", vendors["Borealis Tools"], {"DisplayName": "Borealis (vendor)"})
    upgrade(database_url)
    console = create_console(settings)
    console.app.testing = True
    try:
        create_user(ConsoleStore(console.store), "olga", PASSWORD, "operator")
        browser, good = signed_in(console, "olga")
        preview = browser.post(
            "/dead-letters/replay",
            data={"csrf_token": good, "tenant": TENANT, "step": "preview"},
        )
        assert b"1 to replay, 2 replayed before" in preview.data, preview.data[:2000]
        ids = re.search(rb'name="ids" value="([^"]*)"', preview.data)
        assert ids is not None
        sent = browser.post(
            "/dead-letters/replay",
            data={
                "csrf_token": good,
                "tenant": TENANT,
                "step": "confirm",
                "ids": ids.group(1).decode(),
            },
        )
        assert b"Sent 1" in sent.data
    finally:
        console.close()
    until(lambda: online.synced("customer", "c-2"), step=online.drain, what="c-2 written")
    for _ in range(3):
        online.drain()  # anything more queued would be sent now
    assert customers(online) == ["Acme Supply", "Borealis Tools"]
    assert len(letters_of("c-2")) == len(again) == 2
    assert len(letters_of("c-1")) == 1
