"""Summary deposits (issue 15, item 6) on the real broker with the worker and gateway as
processes and the sandbox company file: a bookkeeper deposits a synced payment from
Undeposited Funds; the app's later change of the payment meets QuickBooks' 3160, which is a
dead letter explained with the membership system's remedy; following it (remove the payment
from the deposit, replay, add it back) lands the change once and the deposit again."""

from __future__ import annotations

import os
from typing import Any

import pytest
from typer.testing import CliRunner

from connectors.kafka import read_dead_letters
from connectors.qbxml import build_message
from core.contracts import AvroCodec
from qbsync.cli import app
from qbsync.runtime import child_env
from tests.streams.test_worker import Sync, customer, event, invoice, sync

__all__ = ["sync"]  # the worker tests' fixture, used here too
pytestmark = pytest.mark.integration


def payment(memo: str) -> dict[str, Any]:
    return event(
        "payment.upserted",
        "p-1",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": "185.00",
            "memo": memo,
            "applied_to": [{"transaction": {"id": "i-1"}, "amount": "185.00"}],
        },
    )


def bookkeeper(sync: Sync, request: str) -> str:
    answer = sync.company.process(build_message([("1", request)], version="13.0"))
    assert 'statusCode="0"' in answer[0], answer[0]
    return str(answer[0])


def deposit(sync: Sync, payment_id: str) -> str:
    """Banking > Make Deposits: the payment from Undeposited Funds into Checking."""
    answer = bookkeeper(
        sync,
        "<DepositAddRq><DepositAdd><TxnDate>2026-03-21</TxnDate>"
        "<DepositToAccountRef><FullName>Checking</FullName></DepositToAccountRef>"
        f"<DepositLineAdd><PaymentTxnID>{payment_id}</PaymentTxnID></DepositLineAdd>"
        "</DepositAdd></DepositAddRq>",
    )
    return answer.split("<TxnID>")[1].split("</TxnID>")[0]


def test_a_deposited_payment_change_is_3160_with_the_remedy_that_works(
    sync: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    for published in (customer("c-1", "Lovelace"), invoice("i-1", "c-1"), payment("first")):
        sync.publish(published)
    paid = sync.until_synced(lambda: sync.store.mapping("t-1", "payment", "p-1"), "p-1 synced")
    deposit_id = deposit(sync, paid.qb_id)
    (made,) = sync.company.records("Deposit")
    assert made["TxnID"] == deposit_id
    ret = sync.company.record(deposit_id)
    assert ret is not None
    assert ret.findtext("DepositLineRet/TxnID") == paid.qb_id
    assert ret.findtext("DepositTotal") == "185.00"

    # The app changes the payment: QuickBooks refuses, 3160, a dead letter saying why.
    sync.publish(payment("second"))
    sync.until_synced(
        lambda: "failed" in [e.status for e in sync.store.sync_log("t-1") if e.entity_id == "p-1"],
        "the change refused",
    )
    codec = AvroCodec()
    letters = read_dead_letters(
        sync.settings.kafka.client_config(),
        sync.settings.topics.dead_letters,
        lambda data: codec.decode(data)[1],
    )
    (letter,) = [dl for dl in letters if dl["entity_id"] == "p-1"]
    assert letter["code"] == "3160"
    assert letter["explanation"].startswith("The payment has been deposited")
    assert "remove the payment from the deposit" in letter["remedy"]
    assert "add the payment back" in letter["remedy"]
    assert sync.company.record(paid.qb_id).findtext("Memo") == "first"  # type: ignore[union-attr]

    # The remedy: remove it from the deposit, sync (replay), add it back.
    bookkeeper(
        sync,
        f"<TxnDelRq><TxnDelType>Deposit</TxnDelType><TxnID>{deposit_id}</TxnID></TxnDelRq>",
    )
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    for key, value in child_env(sync.settings).items():
        monkeypatch.setenv(key, value)
    replayed = CliRunner().invoke(app, ["dlq", "replay", "--code", "3160", "--tenant", "t-1"])
    assert replayed.exit_code == 0, replayed.output
    sync.until_synced(
        lambda: sync.company.record(paid.qb_id).findtext("Memo") == "second",  # type: ignore[union-attr]
        "the replayed change in QuickBooks",
    )
    deposit(sync, paid.qb_id)
    (again,) = sync.company.records("Deposit")  # the old one deleted, the new one made
    assert again["TxnID"] != deposit_id
    (only,) = sync.company.records("ReceivePayment")  # changed once, never added twice
    assert only["TxnID"] == paid.qb_id
