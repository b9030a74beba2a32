"""Imported records through the worker's step, with a real store and no broker: change
events for what someone else changed in QuickBooks, nothing for our own writes or what the
app was told already, and the versions remembered only once the events are sent."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connectors.store import Mapping, Store
from core.contracts import customer_event
from streams.app import Step, carry_out
from tests.streams.test_pipeline import Clock, Worker, clock, make_worker, store
from tests.support.messages import Message

COMMAND = "com.qbsync.pipeline.Command"
IMPORTED = "com.qbsync.pipeline.Imported"
CHANGE = "com.qbsync.events.QuickBooksChange"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"
T = datetime(2026, 11, 22, 12, tzinfo=UTC)
__all__ = ["clock", "store"]  # the pipeline tests' fixtures, used here too


@pytest.fixture
def worker(store: Store, clock: Clock, tmp_path: Path) -> Worker:
    store.update_tenant_settings("t-1", {"direction": {"customer": "two_way"}})
    return make_worker(store, clock, tmp_path)


def imported(
    qb_id: str,
    sequence: str,
    *,
    kind: str = "Customer",
    at: datetime = T,
    **fields: Any,
) -> dict[str, Any]:
    ret = {"ListID": qb_id, "EditSequence": sequence, "Name": "Ada", "IsActive": "true"}
    return {
        "tenant_id": "t-1",
        "profile_id": "p",
        "entity": "customer",
        "qb_id": qb_id,
        "edit_sequence": sequence,
        "time_modified": at,
        "record_type": kind,
        "record_json": json.dumps({**ret, **fields}),
        "imported_at": at,
    }


def run(worker: Worker, *records: dict[str, Any], raw: bytes | None = None) -> None:
    values = [worker.pipeline.codec.encode(IMPORTED, r) for r in records]
    values += [raw] if raw is not None else []
    messages = [Message("qbsync.imports", 0, i, b"t-1", v) for i, v in enumerate(values)]
    for step in worker.pipeline.reconcile_many(messages):
        worker.run(step)


def mapped(store: Store, qb_id: str = "80-1", sequence: str = "1") -> None:
    store.save_mapping(Mapping("t-1", "customer", "c-1", qb_id, sequence, "Ada"))


def test_an_edit_in_quickbooks_is_delivered_once_and_the_mapping_follows(
    worker: Worker, store: Store
) -> None:
    mapped(store)
    run(worker, imported("80-1", "1"))
    assert worker.take(CHANGE) == []  # our own write read back

    run(worker, imported("80-1", "2", LastName="Lovelace"))
    (change,) = worker.take(CHANGE)
    assert (change["entity_id"], change["kind"], change["qb_edit_sequence"]) == (
        "c-1",
        "UPDATED",
        "2",
    )
    assert change["customer"]["last_name"] == "Lovelace"
    assert change["qb_time_modified"] == T
    # The app now holds QuickBooks' version: its next edit is a Mod of sequence 2.
    assert store.mapping("t-1", "customer", "c-1").edit_sequence == "2"  # type: ignore[union-attr]

    run(worker, imported("80-1", "2", LastName="Lovelace"))  # the rewound minute
    assert worker.take(CHANGE) == []


def test_a_record_added_in_quickbooks_is_created_once_with_a_stable_id(worker: Worker) -> None:
    run(worker, imported("80-9", "5"), imported("80-9", "5"))  # twice in one batch
    (change,) = worker.take(CHANGE)
    assert (change["entity_id"], change["kind"]) == (None, "CREATED")
    assert change["placeholders"] == ["company_name"]  # a name and nothing else
    assert change["customer"]["company_name"] == "Ada"
    run(worker, imported("80-9", "5"))
    assert worker.take(CHANGE) == []
    run(worker, imported("80-9", "6", at=T + timedelta(minutes=3)))
    (again,) = worker.take(CHANGE)
    assert again["change_id"] != change["change_id"]


def test_a_write_the_gateway_recorded_is_ours_before_its_result_is_settled(
    worker: Worker, store: Store
) -> None:
    """The import can reach the worker before the result that maps the record."""
    store.record_written([("t-1", "customer", "80-3", "7")])
    run(worker, imported("80-3", "7"))
    assert worker.take(CHANGE) == []


def test_one_way_entities_are_not_delivered(worker: Worker, store: Store) -> None:
    store.update_tenant_settings("t-1", {})
    mapped(store)
    run(worker, imported("80-1", "2"), imported("80-2", "1"))
    assert worker.take(CHANGE) == []


def test_bad_imports_are_dead_letters_with_the_reason(worker: Worker) -> None:
    store_bill = imported("80-5", "1", kind="Bill", TxnDate="2026-11-20")  # no VendorRef
    worker.pipeline.store.update_tenant_settings("t-1", {"direction": {"bill": "two_way"}})
    run(worker, store_bill, raw=b"not avro")
    letters = worker.take(DEAD_LETTER)
    assert sorted(letter["code"] for letter in letters) == ["undecodable", "unshapeable"]
    (unshapeable,) = [letter for letter in letters if letter["code"] == "unshapeable"]
    assert "bill.vendor" in unshapeable["reason"]  # the field, by its path
    assert "com.qbsync" not in unshapeable["reason"]  # not a schema dump
    assert unshapeable["entity_id"] == "80-5"
    assert worker.take(CHANGE) == []


def test_versions_are_remembered_only_after_the_changes_are_sent(
    worker: Worker, store: Store
) -> None:
    value = worker.pipeline.codec.encode(IMPORTED, imported("80-9", "5"))
    (step,) = worker.pipeline.reconcile_many([Message("qbsync.imports", 0, 0, b"t-1", value)])
    remembered_when_sent: list[bool] = []

    async def send(record: tuple[str, bytes | None, bytes]) -> None:
        remembered_when_sent.append(bool(store.delivered("t-1", "customer", ["80-9"])))

    async def inline(function: Any, *args: Any) -> Step:
        return function(*args)  # type: ignore[no-any-return]

    asyncio.run(carry_out(step, worker.pipeline, worker.lot, send, inline))
    assert remembered_when_sent == [False]
    assert store.delivered("t-1", "customer", ["80-9"])["80-9"].edit_sequence == "5"


@pytest.mark.parametrize(
    ("policy", "app_offset", "delivered"),
    [
        ("most_recent", timedelta(hours=1), False),
        ("most_recent", timedelta(hours=-1), True),
        ("never", timedelta(hours=-1), False),
        ("always", timedelta(hours=1), True),
    ],
)
def test_an_app_change_parked_for_a_retry_meets_a_quickbooks_change_by_the_policy(
    worker: Worker, store: Store, policy: str, app_offset: timedelta, delivered: bool
) -> None:
    """The bookkeeper has the customer open (3175, record in use: the app's change backs
    off) and then saves it: both sides changed it. The app is told QuickBooks' version
    only if QuickBooks wins, as the gateway will decide when the app's change is re-sent."""
    store.update_tenant_settings(
        "t-1", {"direction": {"customer": "two_way"}, "conflict_policy": policy}
    )
    mapped(store)
    event = customer_event("t-1", "c-1", {"last_name": "Lovelace"})
    event["envelope"]["source_updated_at"] = T + app_offset
    worker.event(event)
    (mod,) = worker.take(COMMAND)
    worker.result(worker.answer(mod, 3175, "The record is in use."))
    assert worker.lot.counts().get("retry") == 1  # backing off

    run(worker, imported("80-1", "2", at=T))
    assert len(worker.take(CHANGE)) == (1 if delivered else 0)
    remembered = store.delivered("t-1", "customer", ["80-1"])
    assert bool(remembered) == delivered


def deleted(qb_id: str, record_type: str, entity: str, at: datetime = T) -> dict[str, Any]:
    """A transaction QBO's CDC says was deleted, as the QBO reader publishes it."""
    return {
        "tenant_id": "t-1",
        "profile_id": "p",
        "entity": entity,
        "qb_id": qb_id,
        "edit_sequence": None,
        "time_modified": at,
        "record_type": record_type,
        "record_json": "{}",
        "imported_at": at,
        "deleted": True,
    }


def test_a_transaction_deleted_in_quickbooks_is_told_to_its_app_once(
    worker: Worker, store: Store
) -> None:
    """Whatever the invoice's direction (to QuickBooks here): it is the app's record."""
    store.save_mapping(Mapping("t-1", "invoice", "inv-7", "42", "3", "INV-7"))
    store.save_mapping(Mapping("t-1", "customer", "c-42", "42", "1", "Ada"))
    run(worker, deleted("42", "Invoice", "invoice"))
    (change,) = worker.take(CHANGE)
    assert (change["entity"], change["entity_id"], change["qb_id"]) == ("invoice", "inv-7", "42")
    assert (change["kind"], change["deleted"]) == ("DEACTIVATED", True)
    assert change["qb_edit_sequence"] is None
    assert change["qb_time_modified"] == T
    assert change["invoice"] is None  # no record: it is gone
    assert change["customer"] is None  # QBO's Customer 42 is another record
    assert store.delivered("t-1", "invoice", ["42"])["42"].edit_sequence == "deleted"
    assert store.mapping("t-1", "invoice", "inv-7") is not None  # a later change re-creates

    # The rewound minute reads the deletion again: nothing more.
    run(worker, deleted("42", "Invoice", "invoice", at=T + timedelta(seconds=30)))
    assert worker.take(CHANGE) == []


def test_a_deleted_transaction_the_app_never_had_is_not_told(worker: Worker, store: Store) -> None:
    # QBO numbers each entity apart: Payment 42 is not the app's Invoice 42.
    store.save_mapping(Mapping("t-1", "invoice", "inv-7", "42", "3", "INV-7"))
    run(worker, deleted("42", "ReceivePayment", "receive_payment"), deleted("43", "Bill", "bill"))
    assert worker.take(CHANGE) == []
    assert worker.take(DEAD_LETTER) == []


def test_a_deleted_expense_reaches_the_app_whichever_way_it_was_paid(
    worker: Worker, store: Store
) -> None:
    store.save_mapping(Mapping("t-1", "expense", "exp-1", "55", "0", "E-1"))
    run(worker, deleted("55", "Check", "purchase"))
    (change,) = worker.take(CHANGE)
    assert (change["entity"], change["entity_id"], change["deleted"]) == ("expense", "exp-1", True)
