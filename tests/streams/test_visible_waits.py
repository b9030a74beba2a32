"""Records that are not moving are visible after one sync (issue 15, item 2), on the real
broker with the worker and gateway as processes and the sandbox company file: an invoice
naming a class the file lacks is a dead letter ``held`` with its remedy and a sync log row;
a payment deposited to an app account with no QuickBooks mapping is a sync log row
``waiting`` and shows in ``qbsync parked list|show``, and ``qbsync parked release`` sends
it once the account is mapped (the recheck alone would take an hour here)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.store import Mapping
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app
from qbsync.runtime import child_env
from tests.streams.test_worker import Sync, customer, event, invoice
from tests.support.pipeline import running_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
def sync(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Sync]:
    settings.worker.sweep_interval_s = 0.2
    settings.worker.recheck_s = 3600.0  # only a release (or a result) plans it again
    settings.gateway.imports = "class,account,customer"
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as run:
        for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
            monkeypatch.delenv(key)
        for key, value in child_env(settings).items():
            monkeypatch.setenv(key, value)  # what the CLI reads
        yield Sync(**vars(run), codec=AvroCodec(), logs=tmp_path)
        assert run.services.worker.stop() == 0
        assert run.services.gateway.stop() == 0


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def log_of(sync: Sync) -> dict[str, tuple[str, str]]:
    return {e.entity_id: (e.status, e.message) for e in sync.store.sync_log("t-1")}


def test_a_missing_class_and_an_unmapped_account_show_after_one_sync(sync: Sync) -> None:
    # A first session reads the file's classes and accounts (the worker checks names
    # against them).
    sync.connector.run_once()
    profile = sync.store.tenant("t-1")
    assert profile is not None
    until(
        lambda: sync.store.qb_name_exists(profile.profile_id, "class", "Remodel") is False,
        step=sync.connector.run_once,
        what="the file's classes imported",
    )

    remodel = invoice("i-1", "c-1")
    remodel["invoice"]["class"] = {"full_name": "Remodel", "id": None}
    paid = event(
        "payment.upserted",
        "p-1",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": "185.00",
            "deposit_to": {"id": "acc-bank"},
            "applied_to": [{"transaction": {"id": "i-2"}, "amount": "185.00"}],
        },
    )
    for published in (customer("c-1", "Lovelace"), remodel, invoice("i-2", "c-1"), paid):
        sync.publish(published)

    # One sync: the customer and the plain invoice reach QuickBooks ...
    sync.until_synced(lambda: sync.store.mapping("t-1", "invoice", "i-2"), "i-2 synced")
    # ... and what does not move says so in the sync log.
    logged = until(
        lambda: (found := log_of(sync)).keys() >= {"i-1", "p-1"} and found,
        what="the held invoice and the waiting payment in the sync log",
    )
    assert logged["i-1"][0] == "held"
    assert "class 'Remodel' not found in QuickBooks" in logged["i-1"][1]
    assert logged["p-1"][0] == "waiting"
    assert "map match --tenant t-1 --entity account --id acc-bank" in logged["p-1"][1]

    # The dead-letter list says why, with the explanation and the remedy.
    (held,) = [dl for dl in cli("dlq", "list", "--json") if dl["record"] == "invoice:i-1"]
    assert held["code"] == "held"
    assert "Remodel" in held["reason"]
    assert "Create it in QuickBooks" in held["remedy"]
    assert held["explanation"]

    # What waits, for what, since when.
    # (The payment may first have waited for its invoice as well, released by i-2's result.)
    def parked_for_the_account() -> Any:
        listed = cli("parked", "list", "--tenant", "t-1", "--json")
        return listed if [p["waiting_on"] for p in listed] == [["account:acc-bank"]] else None

    (parked,) = until(parked_for_the_account, what="the payment parked for its account alone")
    assert (parked["entity"], parked["id"], parked["kind"]) == ("payment", "p-1", "waiting")
    assert parked["since"] is not None
    shown = cli("parked", "show", "--tenant", "t-1", "--entity", "payment", "--id", "p-1", "--json")
    assert shown["reason"] == parked["reason"]
    assert shown["reason"] == log_of(sync)["p-1"][1]  # the log's newest row for it
    missing = CliRunner().invoke(
        app, ["parked", "show", "--tenant", "t-1", "--entity", "payment", "--id", "nope"]
    )
    assert missing.exit_code == 1

    # Support maps the account and releases the payment: it reaches QuickBooks.
    (bank,) = [
        r for r in sync.store.qb_records(profile.profile_id, "account") if r.full_name == "Checking"
    ]
    sync.store.save_mapping(Mapping("t-1", "account", "acc-bank", bank.qb_id, None, "Checking"))
    cli("parked", "release", "--tenant", "t-1", "--entity", "payment", "--id", "p-1", "--json")
    sync.until_synced(lambda: sync.store.mapping("t-1", "payment", "p-1"), "p-1 released, synced")
    until(
        lambda: cli("parked", "list", "--tenant", "t-1", "--json") == [],
        what="nothing parked any more",
    )
    mapped = sync.store.mapping("t-1", "payment", "p-1")
    assert mapped is not None
    ret = sync.company.record(mapped.qb_id)
    assert ret is not None
    assert ret.findtext("DepositToAccountRef/FullName") == "Checking"


def test_a_payment_deposited_to_an_income_account_is_explained_as_the_wrong_type(
    sync: Sync,
) -> None:
    """Issue 15, item 4: QuickBooks' 3140 "must be of type Bank or UndepositedFunds" is a
    wrong kind of account, not a missing one: the remedy must not say "create it"."""
    profile = sync.store.tenant("t-1")
    assert profile is not None
    until(
        lambda: sync.store.qb_records(profile.profile_id, "account"),
        step=sync.connector.run_once,
        what="the file's accounts imported",
    )
    (sales,) = [
        r for r in sync.store.qb_records(profile.profile_id, "account") if r.full_name == "Sales"
    ]
    sync.store.save_mapping(Mapping("t-1", "account", "acc-sales", sales.qb_id, None, "Sales"))
    paid = event(
        "payment.upserted",
        "p-2",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": "185.00",
            "deposit_to": {"id": "acc-sales"},
            "applied_to": [{"transaction": {"id": "i-2"}, "amount": "185.00"}],
        },
    )
    for published in (customer("c-1", "Lovelace"), invoice("i-2", "c-1"), paid):
        sync.publish(published)
    sync.until_synced(
        lambda: "failed" in [e.status for e in sync.store.sync_log("t-1") if e.entity_id == "p-2"],
        "the payment refused",
    )
    (letter,) = [dl for dl in cli("dlq", "list", "--json") if dl["record"] == "payment:p-2"]
    assert letter["code"] == "3140"
    assert "must be of type Bank or UndepositedFunds" in letter["reason"]
    assert "bank" in letter["explanation"].lower()
    assert "Create it" not in letter["remedy"]
    assert "map match" in letter["remedy"]
    assert sync.company.records("ReceivePayment") == []


def test_the_feeds_show_a_tenants_statuses_and_changes_and_follow_new_ones(sync: Sync) -> None:
    """Issue 15, item 7: `qbsync feed status|changes --tenant T [--follow] [--json]`."""
    import time

    from qbsync.cli_feed import read_feed

    sync.store.update_tenant_settings("t-1", {"direction": {"customer": "two_way"}})
    sync.publish(customer("c-1", "Lovelace"))
    mapped = sync.until_synced(lambda: sync.store.mapping("t-1", "customer", "c-1"), "c-1")
    result = CliRunner().invoke(app, ["feed", "status", "--tenant", "t-1", "--json"])
    assert result.exit_code == 0, result.output
    statuses = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(s["entity_id"], s["status"], s["qb_id"]) for s in statuses] == [
        ("c-1", "SYNCED", mapped.qb_id)
    ]
    other = CliRunner().invoke(app, ["feed", "status", "--tenant", "t-2", "--json"])
    assert other.exit_code == 0
    assert other.stdout == ""  # another tenant's feed is its own

    # A bookkeeper's edit reaches the changes feed; following it shows the next one live.
    request = "<CustomerAddRq><CustomerAdd><Name>Babbage</Name></CustomerAdd></CustomerAddRq>"
    from connectors.qbxml import build_message

    answer = sync.company.process(build_message([("1", request)], version="13.0"))
    assert 'statusCode="0"' in answer[0]
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + 90

    def keep_following() -> bool:
        if any(c.get("customer", {}).get("company_name") == "Babbage" for c in seen):
            return False
        assert time.monotonic() < deadline, "the change never arrived on the feed"
        profile = sync.store.tenant("t-1")
        assert profile is not None
        sync.store.request_import(profile.profile_id, ["customer"])
        sync.connector.run_once()
        return True

    for change in read_feed(
        sync.settings, sync.settings.topics.changes, "t-1", follow=keep_following
    ):
        seen.append(change)
    (babbage,) = [c for c in seen if (c.get("customer") or {}).get("company_name") == "Babbage"]
    assert (babbage["kind"], babbage["entity_id"]) == ("CREATED", None)
    listed = CliRunner().invoke(app, ["feed", "changes", "--tenant", "t-1"])
    assert listed.exit_code == 0, listed.output
    assert "CREATED" in listed.stdout
    assert babbage["qb_id"] in listed.stdout


def test_qbsync_parked_dead_letter_moves_a_waiting_record_to_the_dead_letter_topic(
    sync: Sync,
) -> None:
    """``qbsync parked dead-letter`` by itself: the worker takes the record out of the parked
    ones and puts it on the dead-letter topic as ``withdrawn``; nothing goes to QuickBooks."""
    sync.publish(invoice("i-9", "c-9"))  # its customer never came: it waits

    def parked_for_the_customer() -> Any:
        listed = cli("parked", "list", "--tenant", "t-1", "--json")
        return listed if [p["id"] for p in listed] == ["i-9"] else None

    (parked,) = until(parked_for_the_customer, what="the invoice parked for its customer")
    assert parked["waiting_on"] == ["customer:c-9|job:c-9"]  # a customer or a job
    words = CliRunner().invoke(
        app, ["parked", "dead-letter", "--tenant", "t-1", "--entity", "invoice", "--id", "i-9"]
    )
    assert words.exit_code == 0, words.output
    assert "dead-letter of invoice 'i-9' (waiting) requested." in words.output
    assert f"dead-letter topic {sync.settings.topics.dead_letters}" in words.output
    assert "Nothing is sent to QuickBooks" in words.output

    def withdrawn() -> Any:
        letters = [dl for dl in cli("dlq", "list", "--json") if dl["record"] == "invoice:i-9"]
        return letters or None

    (letter,) = until(withdrawn, what="the invoice on the dead-letter topic")
    assert letter["code"] == "withdrawn"
    until(
        lambda: cli("parked", "list", "--tenant", "t-1", "--json") == [],
        what="nothing parked any more",
    )
    # A name that is not parked is refused with exit code 1, naming what was not found.
    missing = CliRunner().invoke(
        app, ["parked", "dead-letter", "--tenant", "t-1", "--entity", "invoice", "--id", "nope"]
    )
    assert missing.exit_code == 1
    sync.connector.run_once()
    assert sync.store.mapping("t-1", "invoice", "i-9") is None
