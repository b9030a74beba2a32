""" "Get all" only after mapping, over a QuickBooks Online company (issue 19's order rule):
customers entered long ago are beyond CDC's reach, so the usual read never sees them;
``qbsync map refresh`` reads them all for matching without telling the app; an app's
``import.everything`` is a dead letter (``map-first``) until support confirmed the mapping
(``qbsync map done``); then the full read tells the app of the customers it lacks, once,
and not of the one matched to its own. Real worker, real Kafka, the QBO sandbox over HTTP,
the CLI on the same store, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import validate_event
from core.settings import Settings
from tests.support.qbo import (
    QboPipeline,
    StartOnline,
    changes_feed,
    cli_json,
    cli_sees,
    dead_lettered,
)
from tests.support.topics import topic_size
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001930"
TENANT = "q-1"


def ask_for_everything(online: QboPipeline, request_id: str) -> None:
    """The app's "get all customers" (``import.sync_requested`` with ``everything``)."""
    envelope = {
        "tenant_id": TENANT,
        "source_system": "app",
        "entity_id": request_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    event = validate_event(
        "import.sync_requested",
        {"envelope": envelope, "import": {"entities": ["customer"], "everything": True}},
    )
    value = online.codec.encode("com.qbsync.events.ImportRequestEvent", event)
    online.run.producer.send_all([(online.run.settings.topics.events, TENANT.encode(), value)])


def test_get_all_follows_the_confirmed_mapping_and_tells_the_app_only_what_it_lacks(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.qbo.read_entities = "Customer"
    # Only the reads asked for (the first, the refresh, "get all"), so what each one
    # published can be counted on the topic.
    settings.qbo.read_interval_s = 3600.0
    ids: dict[str, str] = {}
    for name in ("Lovelace Labs", "Old Mill Co", "Recent Co"):
        status, body = company.create("Customer", {"DisplayName": name, "CompanyName": name})
        assert status == 200
        ids[name] = body["Customer"]["Id"]
    long_ago = datetime.now(UTC) - timedelta(days=200)
    for name in ("Lovelace Labs", "Old Mill Co"):
        company.backdate("Customer", ids[name], long_ago)
    online = start_online()
    store = online.run.store
    store.update_tenant_settings(
        TENANT, {"direction": {"customer": "two_way", "job": "from_quickbooks"}}
    )
    cli_sees(settings, monkeypatch)
    imports = settings.topics.imports
    unmapped = ("map", "unmapped", "--tenant", TENANT, "--entity", "customer", "--json")

    def watermark() -> Any:
        return store.watermarks(online.profile_id).get("customer")

    def read_once() -> bool:
        online.drain()
        mark = watermark()
        return mark is not None and mark.completed_at is not None

    # The usual read (CDC, 29 days back): the recent customer only.
    until(read_once, timeout=120, what="the first read of the QBO customers")
    assert [r["name"] for r in cli_json(*unmapped)] == ["Recent Co"]
    told = topic_size(settings, imports)
    assert told == 1

    # For matching: every customer, the app told nothing, no watermark moved.
    before = watermark()
    assert cli_json("map", "refresh", "--tenant", TENANT, "--entity", "customer", "--json") == {
        "tenant": TENANT,
        "entity": "customer",
        "reads": ["customer"],
    }

    def all_listed() -> list[dict[str, Any]]:
        online.drain()
        rows: list[dict[str, Any]] = cli_json(*unmapped)
        return rows if len(rows) == 3 else []

    listed = until(all_listed, timeout=120, what="every QBO customer listed for matching")
    assert {r["name"]: r["qb_id"] for r in listed} == ids
    assert topic_size(settings, imports) == told
    assert watermark().modified_from == before.modified_from
    assert watermark().full_read is None

    # The app has Lovelace Labs already (its c-1): matched by hand.
    matched = cli_json(
        "map", "match", "--tenant", TENANT, "--entity", "customer",
        "--id", "c-1", "--qb-id", ids["Lovelace Labs"], "--json",
    )  # fmt: skip
    assert [m["id"] for m in matched["matched"]] == ["c-1"]

    # "Get all" before the mapping is confirmed: a dead letter saying what to do.
    ask_for_everything(online, "req-1")
    (letter,) = until(dead_lettered(online, "req-1"), timeout=120, what="the refusal")
    assert letter["code"] == "map-first"
    assert "qbsync map done --tenant q-1 --entity customer" in letter["reason"]
    assert watermark().full_read is None  # nothing asked of QBO

    for entity in ("customer", "job"):
        done = cli_json("map", "done", "--tenant", TENANT, "--entity", entity, "--json")
        assert done == {"tenant": TENANT, "entity": entity, "confirmed": True, "changed": True}
    published = topic_size(settings, imports)  # and the usual read after the refresh
    with changes_feed(settings, online.codec) as changes:
        ask_for_everything(online, "req-2")

        def old_mill_told() -> list[dict[str, Any]]:
            online.drain()
            found = [c for c in changes() if c["entity"] == "customer"]
            return found if ids["Old Mill Co"] in {c["qb_id"] for c in found} else []

        told_app = until(old_mill_told, timeout=120, what="the full read told to the app")
        # One partition per tenant, in order: Lovelace Labs (as old as Old Mill Co, read
        # before it) was decided before Old Mill Co's change was published.
        by_id = {c["qb_id"]: c for c in told_app}
        assert ids["Lovelace Labs"] not in by_id  # the app's own c-1: not news
        assert by_id[ids["Old Mill Co"]]["kind"] == "CREATED"
        assert by_id[ids["Recent Co"]]["kind"] == "CREATED"  # from the first read
        assert [c["qb_id"] for c in told_app].count(ids["Recent Co"]) == 1  # not again
    assert topic_size(settings, imports) == published + 3  # the full read: all three
    mark = watermark()
    assert (mark.full_read, mark.requested_at) == (None, None)
    assert len(dead_lettered(online, "req-2")()) == 0
