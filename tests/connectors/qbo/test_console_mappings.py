"""The console's mappings page over a QuickBooks Online company, in a real browser (Debian's
headless Chromium, driven by Playwright): the customers QBO has that no app record is mapped
to are listed as ``qbsync map unmapped`` lists them (read back by the QBO sender's CDC reads,
real worker, real Kafka, the QBO sandbox over HTTP); an operator matches one from its row,
and it moves from the unmapped list to the mappings; then reads every customer for matching,
confirms the mapping ("get all" may follow) and reopens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import ConsoleStore
from core.settings import Settings
from qbsync.console._auth import create_user
from qbsync.mappings import unmapped
from tests.conftest import missing
from tests.qbsync.console.test_browser import CHROMIUM, PASSWORD, shot, sign_in
from tests.qbsync.console.test_qbo_connect import serving_console
from tests.support.qbo import StartOnline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550006161"
TENANT = "q-1"


def test_the_mappings_page_lists_what_qbo_has_unmapped_and_matches_from_a_row(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 1.0
    ids = {}
    for name in ("Lovelace Labs", "Turing Works"):
        status, body = company.create("Customer", {"DisplayName": name, "CompanyName": name})
        assert status == 200
        ids[name] = body["Customer"]["Id"]
    online = start_online()
    store = online.run.store

    def read_back() -> bool:
        online.drain()  # the company's reads (CDC) keep what QBO has
        return len(unmapped(store, TENANT, "customer")) == 2

    until(read_back, timeout=120, what="the QBO customers read back")
    create_user(ConsoleStore(store), "olga", PASSWORD, "operator")
    with serving_console(settings) as console_url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = sign_in(browser, console_url, "olga")
            page.goto(f"{console_url}/mappings?tenant={TENANT}&entity=customer")
            listed = page.locator("#unmapped")
            for name, qb_id in ids.items():
                expect(listed.locator(f"tr[data-qb-id='{qb_id}']")).to_contain_text(name)
            expect(page.locator("#mappings")).not_to_contain_text(ids["Turing Works"])
            shot(page, "qbo-mappings-unmapped")

            # Matched from its row (not a dry run): mapped, and no longer unmapped.
            row = listed.locator(f"tr[data-qb-id='{ids['Turing Works']}']")
            row.locator("input[name=id]").fill("c-3")
            row.locator("input[name=dry_run]").uncheck()
            row.locator("button").click()
            expect(page.locator("#match-report")).to_contain_text("matched 1")
            expect(page.locator("#mappings")).to_contain_text(ids["Turing Works"])
            expect(page.locator("#mappings")).to_contain_text("c-3")
            expect(page.locator("#unmapped tr[data-qb-id]")).to_have_count(1)
            expect(listed).to_contain_text("Lovelace Labs")
            shot(page, "qbo-mappings-matched")

            # "Get all" waits for the mapping: read every customer for matching, then
            # confirm it; reopening withdraws the confirmation.
            done = page.locator("#mapping-done")
            expect(done).to_contain_text('"Get all" of customer waits')
            page.get_by_role("button", name="Read all customer records for matching").click()
            expect(page.locator("#refreshing")).to_contain_text("for matching only")
            reading = page.locator("#reading")
            expect(reading).to_contain_text("every record, for matching asked")
            # The read under way (as the sender notes it after each page): its progress.
            store.note_import_progress(online.profile_id, "customer", 2000, 1500)
            page.reload()
            expect(reading).to_contain_text("under way: 2,000 read, 1,500 left")
            page.get_by_role("button", name="Mapping done").click()
            expect(done).to_contain_text("The customer mapping was confirmed")
            shot(page, "qbo-mappings-confirmed")
            assert list(store.mapping_confirmations([TENANT])[TENANT]) == ["customer"]
            page.get_by_role("button", name="Reopen the mapping").click()
            expect(done).to_contain_text('"Get all" of customer waits')
        finally:
            browser.close()
    mapped = store.mapping(TENANT, "customer", "c-3")
    assert mapped is not None
    assert mapped.qb_id == ids["Turing Works"]
    audit = ConsoleStore(store).audit_log(action="map.match")
    assert [(e.actor, e.target) for e in audit] == [("olga", f"{TENANT}:customer")]
    for action in ("map.refresh", "map.done", "map.reopen"):
        (entry,) = ConsoleStore(store).audit_log(action=action)
        assert (entry.actor, entry.target) == ("olga", f"{TENANT}:customer")
    assert store.mapping_confirmations([TENANT]) == {}
    assert store.watermarks(online.profile_id)["customer"].full_read == "match"
