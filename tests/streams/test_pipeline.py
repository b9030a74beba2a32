"""The worker's steps with a real store and no broker (Faust is not needed to test them).

``Worker`` below plays the agent: it carries out each step with :func:`streams.app.carry_out`
over a :class:`ParkingLot` kept in a dict, exactly as the Faust agents do over the table.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import MessageSizeTooLargeError  # type: ignore[import-untyped]
from faust.exceptions import ProducerSendError

from connectors.qbwc import BLOCKED, create_profile
from connectors.store import Mapping, Store, Tenant, upgrade
from core.conflicts import CONFLICT
from core.contracts import ENTITIES, AvroCodec, customer_event, validate_event
from core.settings import Settings, WorkerSettings
from streams._delivery import EXCERPT_BYTES
from streams._delivery import sweep as guarded_sweep
from streams.app import Pipeline, Step, carry_out, release, sweep_once
from streams.parking import ParkingLot, record_key
from tests.support.messages import Message
from tests.support.statements import counting_statements

COMMAND = "com.qbsync.pipeline.Command"
RESULT = "com.qbsync.pipeline.Result"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


class Worker:
    """A pipeline, a parking lot in a dict, and every record it produced, by topic."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.table: dict[bytes, bytes] = {}
        self.changelog: list[tuple[int, bytes, bytes | None]] = []
        self.lot = ParkingLot(self.table, lambda p, k, v: self.changelog.append((p, k, v)))
        self.sent: list[tuple[str, bytes | None, bytes]] = []
        self._offsets: dict[str, int] = {}

    async def send(self, record: tuple[str, bytes | None, bytes]) -> None:
        self.sent.append(record)

    async def inline(self, function: Callable[..., Step], *args: Any) -> Step:
        return function(*args)

    def run(self, step: Step) -> None:
        asyncio.run(carry_out(step, self.pipeline, self.lot, self.send, self.inline))

    def _message(self, topic: str, value: bytes, key: bytes = b"t-1") -> Message:
        offset = self._offsets.get(topic, 0)
        self._offsets[topic] = offset + 1
        return Message(topic, 0, offset, key, value)

    def event_step(self, event: dict[str, Any]) -> Step:
        (spec,) = [s for s in ENTITIES if s.entity == event["envelope"]["entity"]]
        value = self.pipeline.codec.encode(spec.event_schema, event)
        return self.pipeline.translate(self._message("qbsync.events", value))

    def event(self, event: dict[str, Any]) -> None:
        self.run(self.event_step(event))

    def result(self, result: dict[str, Any]) -> None:
        value = self.pipeline.codec.encode(RESULT, result)
        self.run(self.pipeline.settle(self._message("qbsync.results", value)))

    def sweep(self) -> None:
        asyncio.run(sweep_once(self.pipeline, self.lot, self.send, self.inline))

    def take(self, schema: str) -> list[dict[str, Any]]:
        """Records of ``schema`` produced since the last take (decoded)."""
        taken, kept = [], []
        for record in self.sent:
            name, value = self.pipeline.codec.decode(record[2])
            (taken if name == schema else kept).append(value if name == schema else record)
        self.sent = kept
        return taken

    def answer(
        self, sent: dict[str, Any], code: int = 0, message: str = "Status OK", **extra: Any
    ) -> dict[str, Any]:
        """The gateway's result for command ``sent``, carrying the command's bytes."""
        ok = code == 0
        command = sent
        return {
            "command_id": command["command_id"],
            "tenant_id": command["tenant_id"],
            "profile_id": command["profile_id"],
            "entity": command["entity"],
            "entity_id": command["entity_id"],
            "action": command["action"],
            "status_code": code,
            "status_severity": "Info" if ok else "Error",
            "status_message": message,
            "qb_id": f"QB-{command['entity_id']}" if ok else None,
            "edit_sequence": "1" if ok else None,
            "full_name": None,
            "processed_at": datetime.fromtimestamp(self.pipeline.clock(), UTC),
            "ref_number": None,
            "command": self.pipeline.codec.encode(COMMAND, command),
        } | extra


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    opened = Store(url)
    create_profile(opened, name="Shared", tenants=["t-1"])
    yield opened
    opened.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_worker(store: Store, clock: Clock, tmp_path: Path, **worker: Any) -> Worker:
    settings = Settings(data_dir=tmp_path, worker=WorkerSettings(**worker))
    return Worker(Pipeline(settings, store, AvroCodec(), clock=clock, rng=random.Random(7)))


@pytest.fixture
def worker(store: Store, clock: Clock, tmp_path: Path) -> Worker:
    return make_worker(store, clock, tmp_path, retry_base_s=10, retry_attempts=3)


def customer(entity_id: str = "c-1") -> dict[str, Any]:
    return customer_event("t-1", entity_id, {"last_name": "Doe", "first_name": entity_id})


def event(kind: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    """A validated event (decimals and dates as Avro wants them), fresh envelope."""
    envelope = {
        "tenant_id": "t-1",
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": "2026-03-20T10:00:00Z",
    }
    data = {"envelope": envelope, kind.split(".")[0]: payload}
    return validate_event(kind, data, now=datetime.now(UTC))


def invoice(entity_id: str = "i-1", customer_id: str = "c-1") -> dict[str, Any]:
    return event(
        "invoice.upserted",
        entity_id,
        {
            "customer": {"id": customer_id},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [{"line_id": "l1", "description": "Service call", "amount": "185.00"}],
        },
    )


def payment(entity_id: str = "p-1", invoice_id: str = "i-1") -> dict[str, Any]:
    return event(
        "payment.upserted",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": "185.00",
            "applied_to": [{"transaction": {"id": invoice_id}, "amount": "185.00"}],
        },
    )


# -- events -------------------------------------------------------------------------------


def test_undecodable_event_becomes_a_dead_letter_with_the_original_bytes(
    worker: Worker,
) -> None:
    step = worker.pipeline.translate(Message("qbsync.events", 2, 41, b"t-1", b"\x00junk"))
    ((topic, key, value),) = step.send
    assert (topic, key) == (worker.pipeline.settings.topics.dead_letters, b"t-1")
    _, letter = worker.pipeline.codec.decode(value, expected=DEAD_LETTER)
    assert (letter["code"], letter["source_partition"], letter["source_offset"]) == (
        "undecodable",
        2,
        41,
    )
    assert "could not be decoded" in letter["reason"]
    assert letter["original_value"] == b"\x00junk"


def test_event_of_a_tenant_becomes_a_command_on_its_files_topic(
    store: Store, worker: Worker
) -> None:
    profile = store.tenant("t-1")
    assert profile is not None
    worker.event(customer("c-9"))
    ((topic, key, _),) = worker.sent
    assert topic == worker.pipeline.settings.topics.commands(profile.profile_id)
    assert key == b"t-1"
    (command,) = worker.take(COMMAND)
    assert (command["entity_id"], command["action"], command["attempt"]) == ("c-9", "ADD", 1)


def test_a_batch_is_planned_in_order_with_its_mappings_read_at_once(
    store: Store, worker: Worker
) -> None:
    store.save_mapping(Mapping("t-1", "customer", "c-2", "QB-c-2", "9", "Doe"))
    codec = worker.pipeline.codec

    def message(offset: int, value: bytes) -> Message:
        return Message("qbsync.events", 0, offset, b"t-1", value)

    batch = [
        message(0, codec.encode("com.qbsync.events.CustomerEvent", customer("c-1"))),
        message(1, b"\x00 not an event"),
        message(2, codec.encode("com.qbsync.events.CustomerEvent", customer("c-2"))),
    ]
    steps = worker.pipeline.translate_many(batch)
    assert len(steps) == 3
    first, junk, second = (codec.decode(step.send[0][2])[1] for step in steps)
    assert (first["entity_id"], first["action"]) == ("c-1", "ADD")
    assert junk["code"] == "undecodable"
    assert (second["entity_id"], second["action"]) == ("c-2", "MOD")
    assert "<EditSequence>9</EditSequence>" in second["request_xml"]


def _planned_with_selects(
    worker: Worker, records: list[tuple[str, str]]
) -> tuple[int, list[dict[str, Any]]]:
    """One batch of customer events for ``(tenant, entity id)``, planned: the SELECTs it
    cost and the commands it made."""
    codec = worker.pipeline.codec
    batch = [
        worker._message(
            "qbsync.events",
            codec.encode(
                "com.qbsync.events.CustomerEvent",
                customer_event(tenant, entity_id, {"last_name": "Doe"}),
            ),
        )
        for tenant, entity_id in records
    ]
    with counting_statements() as statements:
        steps = worker.pipeline.translate_many(batch)
    selects = sum(1 for s in statements if s.lstrip().upper().startswith("SELECT"))
    return selects, [codec.decode(step.send[0][2], expected=COMMAND)[1] for step in steps]


def test_planning_a_batch_reads_the_store_a_fixed_number_of_times(
    store: Store, worker: Worker
) -> None:
    """A batch's tenants and mappings are read at once: 40 events of 20 tenants cost the
    statements 40 events of 2 tenants do (issue 20)."""
    t1 = store.tenant("t-1")
    assert t1 is not None
    for n in range(2, 21):
        tenant = Tenant(
            id=f"t-{n}",
            name=f"t-{n}",
            profile_id=t1.profile_id,
            settings={},
            created_at=t1.created_at,
        )
        store.add_tenant(tenant)
    store.save_mapping(Mapping("t-2", "customer", "b1", "QB-b1", "4", "Doe"))
    worker.event(customer("warm-up"))  # the company's kind is asked once per profile
    counts = []
    for tenants, prefix in ((2, "a"), (20, "b")):
        records = [(f"t-{1 + n % tenants}", f"{prefix}{n}") for n in range(40)]
        selects, commands = _planned_with_selects(worker, records)
        counts.append(selects)
        assert [(c["tenant_id"], c["entity_id"]) for c in commands] == records
        assert {c["action"] for c in commands if c["entity_id"] != "b1"} == {"ADD"}
    assert commands[1]["action"] == "MOD"  # t-2's b1 is mapped
    assert counts[0] == counts[1], counts


def test_a_batch_over_many_files_met_for_the_first_time_asks_their_kind_at_once(
    store: Store, worker: Worker
) -> None:
    """A worker meeting hundreds of company files in one batch (a cold start over a
    backlog) asks whether they are QuickBooks Online companies in one query, not one per
    file: a first batch over 20 new files costs the statements of one over 2 (issue 20)."""
    for n in range(40):
        create_profile(store, name=f"File {n}", tenants=[f"f-{n}"])
    counts = []
    for files, first in ((2, 0), (20, 20)):
        records = [(f"f-{first + n % files}", f"c{first}-{n}") for n in range(40)]
        selects, commands = _planned_with_selects(worker, records)
        counts.append(selects)
        assert [(c["tenant_id"], c["entity_id"]) for c in commands] == records
    assert counts[0] == counts[1], counts


def test_an_event_planned_while_a_batch_is_being_planned_reads_the_store(
    store: Store, worker: Worker
) -> None:
    """translate_many runs in one thread while settling and rechecks plan in others: the
    batch's snapshot of mappings must not leak into them (a mapped record would be added
    again instead of modified)."""
    store.save_mapping(Mapping("t-1", "customer", "c-5", "QB-5", "3", "Doe"))
    codec = worker.pipeline.codec
    inside, go_on = threading.Event(), threading.Event()
    original = store.tenants_by_id

    def slow_tenants(tenant_ids: Any) -> Any:
        if threading.current_thread().name == "batch":
            inside.set()  # the batch is half planned
            go_on.wait(10)
        return original(tenant_ids)

    store.tenants_by_id = slow_tenants  # type: ignore[method-assign]
    batch = [
        Message(
            "qbsync.events",
            0,
            0,
            b"t-1",
            codec.encode("com.qbsync.events.CustomerEvent", customer("c-1")),
        )
    ]
    steps: list[Step] = []
    planner = threading.Thread(
        target=lambda: steps.extend(worker.pipeline.translate_many(batch)), name="batch"
    )
    planner.start()
    assert inside.wait(10)
    other = worker.pipeline.translate(
        Message(
            "qbsync.events",
            0,
            1,
            b"t-1",
            codec.encode("com.qbsync.events.CustomerEvent", customer("c-5")),
        )
    )
    go_on.set()
    planner.join(10)
    _, command = codec.decode(other.send[0][2], expected=COMMAND)
    assert (command["entity_id"], command["action"]) == ("c-5", "MOD")
    _, batched = codec.decode(steps[0].send[0][2], expected=COMMAND)
    assert (batched["entity_id"], batched["action"]) == ("c-1", "ADD")


def test_a_skipped_event_produces_nothing(store: Store, worker: Worker) -> None:
    store.update_tenant_settings("t-1", {"entities": {"customers": False}})
    worker.event(customer())
    assert worker.sent == []
    assert len(worker.lot) == 0


# -- parking ------------------------------------------------------------------------------


def test_a_payment_before_its_invoice_and_customer_waits_and_goes_out_in_order(
    worker: Worker,
) -> None:
    worker.event(payment())
    worker.event(invoice())
    assert worker.sent == []
    assert worker.lot.counts() == {"waiting": 2, "paused": 0, "retry": 0, "manual": 0}
    # Every park is written to the changelog (what a restarted worker recovers).
    assert len(worker.changelog) == 2
    assert all(v is not None for _, _, v in worker.changelog)

    worker.event(customer())
    (customer_command,) = worker.take(COMMAND)
    worker.result(worker.answer(customer_command))
    (invoice_command,) = worker.take(COMMAND)
    assert invoice_command["entity_id"] == "i-1"
    assert invoice_command["depends_on"] == ["customer:c-1"]
    assert "<ListID>QB-c-1</ListID>" in invoice_command["request_xml"]
    assert worker.lot.counts()["waiting"] == 1  # the payment still waits for the invoice

    worker.result(worker.answer(invoice_command))
    (payment_command,) = worker.take(COMMAND)
    assert payment_command["entity_id"] == "p-1"
    assert "<TxnID>QB-i-1</TxnID>" in payment_command["request_xml"]
    assert len(worker.lot) == 0
    assert worker.changelog[-1][2] is None  # released: a tombstone in the changelog


def test_a_newer_event_replaces_what_was_parked_for_the_record(worker: Worker) -> None:
    worker.event(invoice())
    first = worker.lot.waiting_on("t-1", "customer:c-1")
    worker.event(invoice(customer_id="c-2"))  # the same invoice, moved to another customer
    assert worker.lot.waiting_on("t-1", "customer:c-1") == []
    (entry,) = worker.lot.waiting_on("t-1", "customer:c-2")
    assert entry.parked_at == first[0].parked_at  # it has waited since the first event
    assert len(worker.lot) == 1


def test_a_release_planned_while_a_newer_event_arrived_is_dropped(worker: Worker) -> None:
    """The settle agent plans a released invoice in a thread; meanwhile the translate agent
    parks a newer version of it. The newer one must win: the stale plan is not sent."""
    worker.event(invoice())
    (old,) = worker.lot.waiting_on("t-1", "customer:c-1")
    worker.pipeline.store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))

    async def racing(function: Callable[..., Step], *args: Any) -> Step:
        planned = function(*args)
        # The other agent, while this one waited for its thread:
        newer = worker.event_step(invoice(customer_id="c-2"))
        await carry_out(newer, worker.pipeline, worker.lot, worker.send, worker.inline)
        return planned

    asyncio.run(
        release(old, worker.pipeline.replan, worker.pipeline, worker.lot, worker.send, racing)
    )
    assert worker.take(COMMAND) == []
    (newer,) = worker.lot.waiting_on("t-1", "customer:c-2")
    assert newer.entity_id == "i-1"


def test_waiting_too_long_is_dead_lettered_with_what_it_waited_for(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, park_limit_s=3600, recheck_s=10_000)
    worker.event(invoice())
    clock.now += 3599
    worker.sweep()
    assert worker.sent == []
    clock.now += 2
    worker.sweep()
    (letter,) = worker.take(DEAD_LETTER)
    assert (letter["code"], letter["category"], letter["entity_id"]) == (
        "expired",
        "expired",
        "i-1",
    )
    assert "customer:c-1" in letter["reason"]
    assert "1:00:01" in letter["reason"]
    assert letter["source_topic"] == "qbsync.events"  # replayable as an event
    assert len(worker.lot) == 0


def test_a_recheck_that_changes_nothing_writes_nothing(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, recheck_s=60)
    worker.event(invoice())
    written = len(worker.changelog)
    for _ in range(3):
        clock.now += 60
        worker.sweep()
    assert len(worker.changelog) == written
    (entry,) = worker.lot.waiting_on("t-1", "customer:c-1")
    assert entry.checked_at == clock.now  # it was planned again, in memory


def test_a_recheck_releases_what_was_mapped_another_way(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, recheck_s=60)
    worker.event(invoice())
    # Support matched the customer to an existing QuickBooks record: no result releases it.
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-OLD", "4", "Doe"))
    worker.sweep()
    assert worker.sent == []
    clock.now += 60
    worker.sweep()
    (command,) = worker.take(COMMAND)
    assert "<ListID>QB-OLD</ListID>" in command["request_xml"]


def test_a_class_quickbooks_lacks_is_a_held_dead_letter_and_in_the_sync_log(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, recheck_s=60)
    tenant = store.tenant("t-1")
    assert tenant is not None
    store.save_qb_records(tenant.profile_id, "class", [{"qb_id": "C1", "full_name": "Service"}])
    store.complete_import(tenant.profile_id, "class", None, 1)
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))
    remodel = invoice()
    remodel["invoice"]["class"] = {"full_name": "Remodel"}
    worker.event(remodel)
    assert worker.take(COMMAND) == []
    (dead,) = worker.take(DEAD_LETTER)
    assert (dead["code"], dead["entity"], dead["entity_id"]) == ("held", "invoice", "i-1")
    assert "class 'Remodel' not found in QuickBooks" in dead["reason"]
    assert "Create it in QuickBooks" in dead["remedy"]
    assert len(worker.lot) == 0  # not parked: nothing waits invisibly
    (row,) = store.sync_log("t-1")
    assert (row.entity_id, row.status) == ("i-1", "held")
    assert "Remodel" in row.message
    # The bookkeeper creates it; the next import brings it in; the replayed event is sent.
    store.save_qb_records(tenant.profile_id, "class", [{"qb_id": "C2", "full_name": "Remodel"}])
    worker.event(remodel)
    (command,) = worker.take(COMMAND)
    assert "<FullName>Remodel</FullName>" in command["request_xml"]


def test_a_payment_to_an_unmapped_account_waits_visibly_and_says_how_to_map_it(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, recheck_s=60)
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))
    store.save_mapping(Mapping("t-1", "invoice", "i-1", "QB-i-1", "1", None))
    paid = payment()
    paid = event("payment.upserted", "p-1", {**paid["payment"], "deposit_to": {"id": "acc-9"}})
    worker.event(paid)
    (entry,) = worker.lot.waiting_on("t-1", "account:acc-9")
    assert "qbsync map match --tenant t-1 --entity account --id acc-9" in entry.reason
    (row,) = store.sync_log("t-1")
    assert (row.entity, row.status) == ("payment", "waiting")
    assert row.message == entry.reason
    # A recheck that finds it still waiting for the same writes no second row.
    clock.now += 60
    worker.sweep()
    assert len(store.sync_log("t-1")) == 1
    # Support maps the account and asks for a release: planned at the next sweep.
    store.save_mapping(Mapping("t-1", "account", "acc-9", "QB-acc", None, "Checking"))
    store.request_release("t-1", "payment", entry.entity_id)
    clock.now += 5
    worker.sweep()
    assert worker.take(COMMAND) != []
    assert store.release_requests() == []


def test_support_dead_letters_a_parked_invoice_once_and_nothing_goes_to_quickbooks(
    store: Store, clock: Clock, worker: Worker
) -> None:
    """``qbsync parked dead-letter`` and the console: the worker holding the record takes it
    out at its next sweep, once, and a second request for it finds nothing to do."""
    worker.event(invoice())
    (entry,) = worker.lot.waiting_on("t-1", "customer:c-1")
    store.request_release(
        "t-1", "invoice", "i-1", action="dead-letter", parked_at=entry.parked_at, by="olga"
    )
    clock.now += 5
    worker.sweep()
    (letter,) = worker.take(DEAD_LETTER)
    assert (letter["code"], letter["category"], letter["entity_id"]) == (
        "withdrawn",
        "withdrawn",
        "i-1",
    )
    assert "by olga" in letter["reason"]
    assert "customer:c-1" in letter["explanation"] or "c-1" in letter["explanation"]
    _, original = worker.pipeline.codec.decode(letter["original_value"])
    assert original["envelope"]["entity_id"] == "i-1"  # the event as it came in: replayable
    assert worker.take(COMMAND) == []
    assert len(worker.lot) == 0
    assert store.release_requests() == []
    assert [e.status for e in store.sync_log("t-1")][-1] == "withdrawn"
    # Asked again (a second click, another operator): nothing left to dead-letter.
    store.request_release(
        "t-1", "invoice", "i-1", action="dead-letter", parked_at=entry.parked_at, by="olga"
    )
    clock.now += 5
    worker.sweep()
    assert worker.take(DEAD_LETTER) == []
    # The customer arriving later sends nothing either: the invoice is the dead letter's now.
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))
    clock.now += 3600
    worker.sweep()
    assert worker.take(COMMAND) == []


def test_a_dead_letter_request_for_a_version_a_newer_event_replaced_is_dropped(
    store: Store, clock: Clock, worker: Worker
) -> None:
    worker.event(invoice())
    (seen,) = worker.lot.waiting_on("t-1", "customer:c-1")
    clock.now += 30
    worker.sweep()
    store.request_release(
        "t-1", "invoice", "i-1", action="dead-letter", parked_at=seen.parked_at - 60
    )
    clock.now += 5
    worker.sweep()
    assert worker.take(DEAD_LETTER) == []
    assert len(worker.lot) == 1  # still parked: support decided about another version
    assert store.release_requests() == []


def test_a_parked_retry_released_by_hand_is_sent_again_now(
    store: Store, clock: Clock, worker: Worker
) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command, 3175, "The object is in use."))
    (entry,) = worker.lot.due(float("inf"))
    store.request_release("t-1", "customer", "c-1")
    assert entry.due_at is not None
    clock.now += 2.5  # before its own due time (at least 5 s away)
    assert clock.now < entry.due_at
    worker.sweep()
    (again,) = worker.take(COMMAND)
    assert (again["command_id"], again["attempt"]) == (command["command_id"], 2)
    assert worker.take(DEAD_LETTER) == []
    assert len(worker.lot) == 0


def test_integration_off_pauses_and_on_again_sends(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    worker = make_worker(store, clock, tmp_path, recheck_s=30, park_limit_s=60)
    store.update_tenant_settings("t-1", {"enabled": False})
    worker.event(customer())
    assert worker.lot.counts()["paused"] == 1
    clock.now += 3600  # paused entries never expire
    worker.sweep()
    assert worker.sent == []
    assert worker.lot.counts()["paused"] == 1
    store.update_tenant_settings("t-1", {"enabled": True})
    clock.now += 30
    worker.sweep()
    (command,) = worker.take(COMMAND)
    assert command["entity_id"] == "c-1"
    assert len(worker.lot) == 0


def test_manual_sync_holds_everything_until_a_sync_of_the_job_sends_it_all_in_order(
    store: Store, clock: Clock, worker: Worker
) -> None:
    store.update_tenant_settings("t-1", {"sync_type": "manual"})
    worker.event(customer("c-1"))
    worker.event(invoice("i-1", customer_id="c-1"))
    worker.event(payment("p-1", invoice_id="i-1"))
    worker.event(customer("c-2"))  # another customer's record: not part of the sync
    assert worker.sent == []
    assert worker.lot.counts()["manual"] == 4
    clock.now += 365 * 24 * 3600  # held records never expire and are not rechecked
    worker.sweep()
    assert worker.sent == []
    assert worker.lot.counts()["manual"] == 4

    # "Sync" pressed on the customer (the job's root): it, its invoice and the invoice's
    # payment go, each after what it needs.
    worker.event(customer_event("t-1", "c-1", {"last_name": "Doe"}, kind="SYNC_REQUESTED"))
    (sent,) = worker.take(COMMAND)
    assert sent["entity_id"] == "c-1"
    worker.result(worker.answer(sent))
    (sent,) = worker.take(COMMAND)
    assert sent["entity_id"] == "i-1"
    worker.result(worker.answer(sent))
    (sent,) = worker.take(COMMAND)
    assert sent["entity_id"] == "p-1"
    assert worker.lot.counts() == {"waiting": 0, "paused": 0, "retry": 0, "manual": 1}
    assert worker.lot.get(record_key("t-1", "customer", "c-2")) is not None


# -- results ------------------------------------------------------------------------------


def test_ok_result_stores_the_mapping_logs_and_tells_the_source_app(
    store: Store, worker: Worker
) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command))
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert (status["status"], status["qb_id"], status["remedy"]) == ("SYNCED", "QB-c-1", "")
    mapping = store.mapping("t-1", "customer", "c-1")
    assert mapping is not None
    assert (mapping.qb_id, mapping.edit_sequence) == ("QB-c-1", "1")
    assert [(e.status, e.code) for e in store.sync_log("t-1")] == [("synced", 0)]


def import_request(
    *entities: str, everything: bool = False, for_matching: bool = False
) -> dict[str, Any]:
    envelope = {
        "tenant_id": "t-1",
        "source_system": "app",
        "entity_id": "req-1",
        "source_updated_at": "2026-11-22T12:00:00Z",
    }
    wanted = {"entities": list(entities), "everything": everything, "for_matching": for_matching}
    return validate_event("import.sync_requested", {"envelope": envelope, "import": wanted})


def test_an_import_request_event_asks_the_files_next_session(store: Store, worker: Worker) -> None:
    worker.event(import_request("account", "payment"))
    profile_id = store.tenant("t-1").profile_id  # type: ignore[union-attr]
    marks = store.watermarks(profile_id)
    assert {e for e, m in marks.items() if m.requested_at} == {"account", "receive_payment"}
    assert worker.sent == []  # nothing to send: the gateway reads the request

    worker.event(import_request("acount"))
    (letter,) = worker.take(DEAD_LETTER)
    assert letter["code"] == "unknown-import"
    assert "'acount'" in letter["reason"]


def test_get_all_waits_until_every_tenant_of_the_file_confirmed_its_mapping(
    store: Store, worker: Worker
) -> None:
    """``import.everything``: a dead letter (``map-first``) naming what to confirm, until
    each tenant of the shared file that gets customers and jobs confirmed both; then the
    file's next read takes every customer ("deliver")."""
    profile_id = store.tenant("t-1").profile_id  # type: ignore[union-attr]
    gets = {"direction": {"customer": "two_way", "job": "from_quickbooks"}}
    store.update_tenant_settings("t-1", gets)
    now = datetime.now(UTC)
    for tenant_id, settings in (("t-2", gets), ("t-3", {})):  # t-3 only sends
        store.add_tenant(
            Tenant(
                id=tenant_id,
                profile_id=profile_id,
                name=tenant_id,
                settings=settings,
                created_at=now,
            )
        )

    worker.event(import_request("customer", everything=True))
    (letter,) = worker.take(DEAD_LETTER)
    assert (letter["code"], letter["tenant_id"]) == ("map-first", "t-1")
    assert "qbsync map done --tenant t-1 --entity customer" in letter["reason"]
    assert "(and 3 more)" in letter["reason"]  # t-1's job, t-2's customer and job
    assert "customer" not in store.watermarks(profile_id)  # nothing asked of the file

    for tenant_id in ("t-1", "t-2"):
        store.confirm_mapping(tenant_id, "customer", by="support")
    store.confirm_mapping("t-1", "job")
    worker.event(import_request("customer", everything=True))
    (letter,) = worker.take(DEAD_LETTER)
    assert "the mapping of job for tenant 't-2' is not confirmed;" in letter["reason"]

    store.confirm_mapping("t-2", "job")
    worker.event(import_request("customer", everything=True))
    assert worker.take(DEAD_LETTER) == []
    mark = store.watermarks(profile_id)["customer"]
    assert (mark.full_read, mark.requested_at is not None) == ("deliver", True)
    # A usual request afterwards does not lower it.
    worker.event(import_request("customer"))
    assert store.watermarks(profile_id)["customer"].full_read == "deliver"


def test_an_app_asks_a_full_read_for_matching_without_confirming_anything(
    store: Store, worker: Worker
) -> None:
    """``import.for_matching``: every record, kept for the mappings only (the apps are told
    of none), so nothing needs confirming first; "get all" asked with it wins."""
    profile_id = store.tenant("t-1").profile_id  # type: ignore[union-attr]
    store.update_tenant_settings("t-1", {"direction": {"customer": "two_way"}})

    worker.event(import_request("customer", "vendor", for_matching=True))
    assert worker.take(DEAD_LETTER) == []  # no map-first: the apps are told of nothing
    marks = store.watermarks(profile_id)
    assert {(e, m.full_read) for e, m in marks.items()} == {
        ("customer", "match"),
        ("vendor", "match"),
    }

    store.confirm_mapping("t-1", "customer")
    worker.event(import_request("customer", everything=True, for_matching=True))
    assert store.watermarks(profile_id)["customer"].full_read == "deliver"


def test_a_conflict_quickbooks_won_is_told_to_the_app_and_nothing_else(
    store: Store, worker: Worker
) -> None:
    """The gateway did not write a two-way Mod: QuickBooks' change wins under the policy.
    Not an error: no retry, no dead letter, the mapping keeps our version (the import
    delivers QuickBooks' one)."""
    worker.event(customer())
    (add,) = worker.take(COMMAND)
    worker.result(worker.answer(add))
    worker.event(customer())
    (mod,) = worker.take(COMMAND)
    worker.take("com.qbsync.events.SyncStatus")
    message = "Not written: QuickBooks changed this record at ... 'always'."
    worker.result(worker.answer(mod, CONFLICT, message, status_severity="Warn", qb_id="QB-c-1"))
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert (status["status"], status["code"], status["explanation"]) == (
        "FAILED",
        CONFLICT,
        message,
    )
    assert worker.take(DEAD_LETTER) == []
    assert worker.table == {}  # nothing parked to retry
    assert [(e.status, e.code) for e in store.sync_log("t-1")] == [
        ("synced", 0),
        ("conflict", CONFLICT),
    ]
    assert store.mapping("t-1", "customer", "c-1").edit_sequence == "1"  # type: ignore[union-attr]


def test_busy_twice_then_success_retries_with_growing_jittered_backoff(
    store: Store, clock: Clock, worker: Worker
) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    delays = []
    for attempt in (1, 2):
        worker.result(worker.answer(command, 3175, "The object is in use."))
        assert worker.sent == []  # nothing dead, nothing told to the app yet
        (entry,) = worker.lot.due(float("inf"))
        assert entry.due_at is not None
        delays.append(entry.due_at - clock.now)
        clock.now = entry.due_at - 0.001
        worker.sweep()
        assert worker.sent == []  # not before its time
        clock.now = entry.due_at
        worker.sweep()
        (command,) = worker.take(COMMAND)
        assert command["attempt"] == attempt + 1
        assert command["first_failed_at"] is not None
    # base 10 s: the first delay is in [5, 10], the second in [10, 20]
    assert 5 <= delays[0] <= 10
    assert 10 <= delays[1] <= 20
    worker.result(worker.answer(command))
    assert store.mapping("t-1", "customer", "c-1") is not None
    assert [e.status for e in store.sync_log("t-1")] == ["retrying", "retrying", "synced"]
    assert worker.take(DEAD_LETTER) == []


def test_retries_exhausted_go_to_the_dead_letter_topic_with_the_command(
    clock: Clock, worker: Worker
) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    for _ in range(2):  # retry_attempts=3: two retries, the third failure is final
        worker.result(worker.answer(command, 3175, "busy"))
        clock.now += 10_000
        worker.sweep()
        (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command, 3175, "busy"))
    (letter,) = worker.take(DEAD_LETTER)
    assert (letter["code"], letter["category"], letter["attempts"]) == ("3175", "transient", 3)
    assert letter["first_failed_at"] < letter["failed_at"]
    _, original = worker.pipeline.codec.decode(letter["original_value"], expected=COMMAND)
    assert original["command_id"] == command["command_id"]
    assert letter["source_topic"].startswith(worker.pipeline.settings.topics.commands(""))


def test_a_closed_period_is_dead_lettered_with_the_catalogs_words_and_blocks_dependents(
    store: Store, worker: Worker
) -> None:
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))
    worker.event(invoice())
    (invoice_command,) = worker.take(COMMAND)
    worker.event(payment())  # waits for the invoice
    worker.result(worker.answer(invoice_command, 3171, "The transaction date is closed."))
    letters = worker.take(DEAD_LETTER)
    assert [(dl["entity_id"], dl["code"]) for dl in letters] == [
        ("i-1", "3171"),
        ("p-1", "blocked"),
    ]
    refused, blocked = letters
    assert refused["category"] == "permanent"
    assert "closing date" in (refused["explanation"] + refused["remedy"]).lower()
    _, original = worker.pipeline.codec.decode(refused["original_value"], expected=COMMAND)
    assert original["command_id"] == invoice_command["command_id"]
    assert blocked["blocked_by"] == str(refused["dead_letter_id"])
    assert blocked["source_topic"] == "qbsync.events"
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert (status["status"], status["code"]) == ("FAILED", 3171)
    assert len(worker.lot) == 0


def test_a_command_the_gateway_held_back_for_a_dead_dependency_follows_it(
    store: Store, worker: Worker
) -> None:
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-c-1", "1", "Doe"))
    store.save_mapping(Mapping("t-1", "invoice", "i-1", "QB-i-1", "1", None))
    worker.event(customer())  # a Mod of the customer ...
    worker.event(invoice())  # ... and of its invoice, in one Web Connector session
    customer_command, invoice_command = worker.take(COMMAND)
    worker.result(worker.answer(customer_command, 3260, "Insufficient permission"))
    worker.result(worker.answer(invoice_command, BLOCKED, "Not sent: depends on customer:c-1"))
    refused, blocked = worker.take(DEAD_LETTER)
    assert blocked["blocked_by"] == str(refused["dead_letter_id"])
    assert blocked["category"] == "blocked"


def test_held_back_without_a_dead_dependency_is_retried(worker: Worker) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command, BLOCKED, "Not sent: depends on something"))
    assert worker.lot.counts()["retry"] == 1
    assert worker.take(DEAD_LETTER) == []


def test_a_reference_deleted_in_quickbooks_is_created_again_then_the_command_resent(
    store: Store, worker: Worker
) -> None:
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-OLD", "1", "Doe"))
    worker.event(invoice())
    (command,) = worker.take(COMMAND)
    assert "<ListID>QB-OLD</ListID>" in command["request_xml"]
    message = 'There is an invalid reference to QuickBooks Customer "QB-OLD" in the Invoice.'
    worker.result(worker.answer(command, 3140, message))

    assert worker.take(DEAD_LETTER) == []  # not a person's problem yet
    assert store.mapping("t-1", "customer", "c-1") is None  # the stale mapping is forgotten
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert (status["entity"], status["entity_id"], status["code"]) == ("customer", "c-1", 3140)
    assert "Publish this customer again" in status["remedy"]
    (waiting,) = worker.lot.waiting_on("t-1", "customer:c-1")
    assert waiting.entity_id == "i-1"

    # The app re-publishes the customer: an Add (no mapping now), then the invoice again
    # with the new ListID.
    worker.event(customer())
    (add,) = worker.take(COMMAND)
    assert add["action"] == "ADD"
    worker.result(worker.answer(add, qb_id="QB-NEW"))
    (again,) = worker.take(COMMAND)
    assert str(again["command_id"]) == str(command["command_id"])
    assert "<ListID>QB-NEW</ListID>" in again["request_xml"]
    assert "QB-OLD" not in again["request_xml"]
    assert again["attempt"] == 2
    assert len(worker.lot) == 0


def test_a_missing_reference_qbsync_does_not_manage_is_a_dead_letter(worker: Worker) -> None:
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    message = 'There is an invalid reference to QuickBooks Terms "Net 45" in the Customer.'
    worker.result(worker.answer(command, 3140, message))
    (letter,) = worker.take(DEAD_LETTER)
    assert letter["code"] == "3140"


def test_an_add_adopting_a_record_another_app_record_has_is_refused(
    store: Store, worker: Worker
) -> None:
    """Two app customers named alike: the second Add meets 3100 and, matching existing
    records, the gateway adopts the QuickBooks one, which the first is synced to already."""
    store.save_mapping(Mapping("t-1", "customer", "c-1", "QB-1", "1", "Doe"))
    worker.event(customer("c-2"))
    (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command, qb_id="QB-1", full_name="Doe"))
    (letter,) = worker.take(DEAD_LETTER)
    assert (letter["code"], letter["entity_id"]) == ("name-taken", "c-2")
    assert "'c-1'" in letter["reason"]
    assert letter["source_topic"].startswith(worker.pipeline.settings.topics.commands(""))
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert (status["status"], status["code"]) == ("FAILED", 3100)
    assert "different name" in status["remedy"]
    assert store.mapping("t-1", "customer", "c-2") is None
    assert store.mapping("t-1", "customer", "c-1").qb_id == "QB-1"  # type: ignore[union-attr]


def _shared(store: Store) -> None:
    """t-2 on t-1's company file; t-3 on a file of its own."""
    t1 = store.tenant("t-1")
    assert t1 is not None
    now = datetime.now(UTC)
    store.add_tenant(
        Tenant(id="t-2", name="t-2", profile_id=t1.profile_id, settings={}, created_at=now)
    )
    create_profile(store, name="Other", tenants=["t-3"])


def _adds(
    worker: Worker, count: int, tenant: str = "t-1", qb_id: str | None = None, prefix: str = "n"
) -> list[Message]:
    """``count`` successful Add results of new customers of ``tenant`` (QuickBooks id
    ``qb_id`` for all of them, else one each), as messages on the results topic."""
    messages = []
    for n in range(count):
        event = customer_event(
            tenant, f"{tenant}-{prefix}{n}", {"last_name": "Doe", "first_name": f"{prefix}{n}"}
        )
        worker.event(event)
        (command,) = worker.take(COMMAND)
        answer = worker.answer(command, **({"qb_id": qb_id} if qb_id else {}))
        messages.append(
            worker._message("qbsync.results", worker.pipeline.codec.encode(RESULT, answer))
        )
    return messages


def _letters(worker: Worker, steps: list[Step]) -> list[dict[str, Any]]:
    for step in steps:
        worker.run(step)
    return worker.take(DEAD_LETTER)


@pytest.mark.parametrize("holder", ["maps", "wrote", "nobody"])
def test_an_add_of_a_record_another_tenant_of_the_file_holds_is_refused(
    store: Store, worker: Worker, holder: str
) -> None:
    """On a shared company file, the record belongs to the tenant that maps it, or that
    qbsync wrote it for (its result not settled yet); a tenant of another file (t-3, which
    maps the same id) does not count."""
    _shared(store)
    store.save_mapping(Mapping("t-3", "customer", "c-3", "QB-X", "1", "Doe"))
    if holder == "maps":
        store.save_mapping(Mapping("t-2", "customer", "c-9", "QB-X", "1", "Doe"))
    elif holder == "wrote":
        store.record_written([("t-2", "customer", "QB-X", "1")])
    mine, fresh = _adds(worker, 1, qb_id="QB-X") + _adds(worker, 1, tenant="t-2", prefix="f")
    letters = _letters(worker, worker.pipeline.settle_many([mine, fresh]))
    assert store.mapping("t-2", "customer", "t-2-f0") is not None
    if holder == "nobody":
        assert letters == []
        assert store.mapping("t-1", "customer", "t-1-n0").qb_id == "QB-X"  # type: ignore[union-attr]
        return
    (letter,) = letters
    assert (letter["code"], letter["entity_id"]) == ("name-taken", "t-1-n0")
    assert ("'t-2/c-9'" if holder == "maps" else "'t-2/?'") in letter["reason"]
    assert store.mapping("t-1", "customer", "t-1-n0") is None


def test_two_adds_of_one_record_in_a_batch_keep_the_first(store: Store, worker: Worker) -> None:
    """The second Add meets the mapping the first wrote earlier in the same batch."""
    first, second = _adds(worker, 2, qb_id="QB-1")
    (letter,) = _letters(worker, worker.pipeline.settle_many([first, second]))
    assert (letter["code"], letter["entity_id"]) == ("name-taken", "t-1-n1")
    assert "'t-1-n0'" in letter["reason"]
    assert store.mapping("t-1", "customer", "t-1-n0").qb_id == "QB-1"  # type: ignore[union-attr]


def test_settling_a_batch_reads_the_store_a_fixed_number_of_times(
    store: Store, worker: Worker
) -> None:
    """Who holds each added QuickBooks id is read for the whole batch at once: 40 results
    of two tenants sharing a file cost the same statements as 4 (issue 20: the per-result
    look-ups were a third of the worker's time)."""
    _shared(store)
    counts = []
    for size, prefix in ((2, "a"), (20, "b")):
        # one of t-1's new records is t-2's already: the other tenant's look-up finds it
        store.save_mapping(Mapping("t-2", "customer", "c-9", f"QB-t-1-{prefix}1", "1", "Doe"))
        batch = _adds(worker, size, prefix=prefix) + _adds(worker, size, "t-2", prefix=prefix)
        with counting_statements() as statements:
            steps = worker.pipeline.settle_many(batch)
        counts.append(sum(1 for s in statements if s.lstrip().upper().startswith("SELECT")))
        assert sum(1 for step in steps if step.writes.mappings) == 2 * size - 1
        assert len(_letters(worker, steps)) == 1
    assert counts[0] == counts[1], counts
    assert counts[0] <= 8, counts


def test_undecodable_result_is_dead_lettered(worker: Worker) -> None:
    step = worker.pipeline.settle(Message("qbsync.results", 1, 5, b"t-1", b"nope"))
    _, letter = worker.pipeline.codec.decode(step.send[0][2], expected=DEAD_LETTER)
    assert (letter["code"], letter["source_offset"]) == ("undecodable", 5)


def test_a_result_without_its_command_is_still_settled(worker: Worker) -> None:
    """Results from a gateway older than the ``command`` field: dead-lettered as they are."""
    worker.event(customer())
    (command,) = worker.take(COMMAND)
    worker.result(worker.answer(command, 3175, "busy", command=None))
    (letter,) = worker.take(DEAD_LETTER)
    assert letter["source_topic"] == "qbsync.results"
    assert letter["code"] == "3175"  # nothing to retry with: dead-lettered, not lost


def test_an_expired_wait_too_large_for_its_dead_letter_becomes_a_bounded_one(
    store: Store, clock: Clock, tmp_path: Path
) -> None:
    """The sweep keeps the delivery rule (streams._delivery): the broker refusing the dead
    letter of a big parked event gets a bounded one naming where the event is."""
    worker = make_worker(store, clock, tmp_path, park_limit_s=3600, recheck_s=10_000)
    big = invoice()
    big["invoice"]["memo"] = "m" * 300_000
    worker.event(big)
    clock.now += 3601
    refused: list[int] = []

    async def produce(record: tuple[str, bytes | None, bytes]) -> None:
        if len(record[2]) > 200_000:
            refused.append(len(record[2]))
            raise ProducerSendError("Error while sending") from MessageSizeTooLargeError()
        worker.sent.append(record)

    asyncio.run(guarded_sweep(worker.pipeline, worker.lot, produce, worker.inline))
    assert len(refused) == 1
    (letter,) = worker.take(DEAD_LETTER)
    assert letter["code"] == "unproducible"
    assert "dead-lettered as expired" in letter["reason"]
    assert (letter["source_topic"], letter["source_offset"]) == ("qbsync.events", 0)
    assert len(letter["original_value"]) == EXCERPT_BYTES
    assert worker.lot.waiting_on("t-1", "customer:c-1") == []
