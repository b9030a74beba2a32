"""The worker as a real process on the real broker, with the gateway and a sandbox company
file: dependency order, retries by the catalog's class, dead letters and their replay, and
parked events surviving a kill -9."""

from __future__ import annotations

import json
import os
import re
import signal
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from sqlalchemy import make_url
from typer.testing import CliRunner

from connectors.kafka import RecordProducer, read_dead_letters
from connectors.qbxml import build_message, build_request
from core.contracts import AvroCodec, customer_event, validate_event
from core.processes import child_process
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app as cli
from qbsync.runtime import child_env, wait_healthy
from streams.app import HALTED
from tests.support.pipeline import Running, running_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@dataclass
class Sync(Running):
    codec: AvroCodec
    logs: Path

    def publish(self, event: dict[str, Any]) -> None:
        kind = event["envelope"]["entity"].title().replace("_", "")
        value = self.codec.encode(f"com.qbsync.events.{kind}Event", event)
        tenant = event["envelope"]["tenant_id"]
        self.producer.send_all([(self.settings.topics.events, tenant.encode(), value)])

    def until_synced(self, check: Any, what: str, timeout: float = 90) -> Any:
        """Let the Web Connector poll (as QBWC does on its schedule) until ``check()``."""

        def poll() -> None:
            self.services.check_alive()
            self.connector.run_once()

        return until(check, step=poll, timeout=timeout, what=what)

    def parked(self) -> dict[str, float]:
        """The worker's parking table by kind, from its /metrics page."""
        url = f"http://127.0.0.1:{self.settings.worker.web_port}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                text = response.read().decode()
        except OSError:
            return {}
        found = re.findall(r'^qbsync_worker_parked\{kind="(\w+)"\} ([\d.]+)$', text, re.M)
        return {kind: float(count) for kind, count in found}

    def invoices(self) -> list[dict[str, Any]]:
        return self.company.records("Invoice")


@pytest.fixture
def sync(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> Iterator[Sync]:
    # Seconds instead of minutes, so a test sees backoff and release happen.
    settings.worker.retry_base_s = 0.5
    settings.worker.retry_attempts = 4
    settings.worker.sweep_interval_s = 0.2
    settings.worker.recheck_s = 5.0
    # A killed worker's partitions move after this long; Kafka's 45 s would dominate the
    # restart test (the new worker waits for the dead member to time out).
    settings.worker.session_timeout_s = 10.0
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as run:
        yield Sync(**vars(run), codec=AvroCodec(), logs=tmp_path)
        run.services.worker.stop()
        run.services.gateway.stop()


def event(kind: str, entity_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "tenant_id": "t-1",
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    return validate_event(kind, {"envelope": envelope, kind.split(".")[0]: payload})


def customer(entity_id: str, last_name: str) -> dict[str, Any]:
    return customer_event("t-1", entity_id, {"last_name": last_name})


def invoice(entity_id: str, customer_id: str, day: str = "2026-03-02") -> dict[str, Any]:
    return event(
        "invoice.upserted",
        entity_id,
        {
            "customer": {"id": customer_id},
            "txn_date": day,
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [{"line_id": "l1", "description": "Service call", "amount": "185.00"}],
        },
    )


def payment(entity_id: str, customer_id: str, invoice_id: str) -> dict[str, Any]:
    return event(
        "payment.upserted",
        entity_id,
        {
            "customer": {"id": customer_id},
            "txn_date": "2026-03-20",
            "amount": "185.00",
            "applied_to": [{"transaction": {"id": invoice_id}, "amount": "185.00"}],
        },
    )


def test_a_payment_before_its_invoice_and_customer_lands_after_them(sync: Sync) -> None:
    sync.publish(payment("p-1", "c-1", "i-1"))
    sync.publish(invoice("i-1", "c-1"))
    until(lambda: sync.parked().get("waiting") == 2, what="two events parked")
    sync.publish(customer("c-1", "Lovelace"))

    paid = sync.until_synced(
        lambda: sync.store.mapping("t-1", "payment", "p-1"), "the payment in QuickBooks"
    )
    (bill,) = sync.invoices()
    (cust,) = sync.company.customers()
    assert bill["Entity"] == cust["FullName"] == "Lovelace"
    assert bill["IsPaid"] is True  # the payment was applied to that invoice
    assert sync.store.mapping("t-1", "invoice", "i-1").qb_id == bill["TxnID"]  # type: ignore[union-attr]
    assert paid.qb_id
    assert sync.parked() == {"manual": 0.0, "paused": 0.0, "retry": 0.0, "waiting": 0.0}


def test_the_debugging_signals_dump_stacks_without_variables_and_never_stop_the_worker(
    sync: Sync, database_url: str
) -> None:
    """mode's SIGUSR1 printed every thread's local variables into the worker's log (client
    configs, a database URL: secrets); its SIGUSR2 stopped the worker in pdb for good."""
    worker = sync.services.worker
    # Its web server answers once its signal handlers are in (mode installs them first):
    # before them, SIGUSR1's default action ends the process.
    wait_healthy(worker, f"http://127.0.0.1:{sync.settings.worker.web_port}/healthz")
    worker.process.send_signal(signal.SIGUSR1)
    until(
        lambda: "most recent call first" in worker.log_tail(400),
        timeout=30,
        what="the threads' stacks in the worker's log",
    )
    worker.process.send_signal(signal.SIGUSR2)
    until(lambda: "SIGUSR2 ignored" in worker.log_tail(400), timeout=30, what="SIGUSR2 logged")
    logged = worker.log_path.read_text(errors="replace")
    assert 'File "' in logged  # the frames, as faulthandler writes them
    assert "LOCAL VARIABLES" not in logged  # mode's dump, locals and all
    password = make_url(database_url).password  # as a URL carries it (CI's user is its name)
    assert not password or f":{password}@" not in logged
    # Still at work after both: an event goes through to QuickBooks.
    sync.publish(customer("c-sig", "Hopper"))
    sync.until_synced(
        lambda: sync.store.mapping("t-1", "customer", "c-sig"), "the customer in QuickBooks"
    )
    assert worker.alive()


def test_the_worker_makes_no_leader_topic_for_faust(sync: Sync) -> None:
    """Faust's leader topic serves on_leader timers only (the worker has none); its
    declaration and subscription at every start are left out."""
    sync.publish(customer("c-1", "Lovelace"))
    sync.until_synced(lambda: sync.store.mapping("t-1", "customer", "c-1"), "the customer")
    admin = AdminClient(sync.settings.kafka.client_config())
    topics = admin.list_topics(timeout=10).topics
    app_id = sync.settings.worker.app_id
    assert [name for name in topics if name.startswith(app_id)] != []  # its changelog
    assert f"{app_id}-__assignor-__leader" not in topics


def test_busy_twice_then_synced_without_holding_up_the_file(sync: Sync) -> None:
    sync.publish(customer("c-1", "Lovelace"))
    first = sync.until_synced(
        lambda: sync.store.mapping("t-1", "customer", "c-1"), "the customer in QuickBooks"
    )
    sync.company.faults.lock(first.qb_id, requests=2)  # someone has it open: 3175 twice
    sync.publish(customer("c-1", "King"))
    sync.publish(customer("c-2", "Hopper"))

    def settled() -> list[tuple[str, str, int]] | None:
        log = [(e.entity_id, e.status, e.code) for e in sync.store.sync_log("t-1")]
        return log if log.count(("c-1", "synced", 0)) == 2 else None

    log = sync.until_synced(settled, "the edit after two refusals, settled")
    assert {c["FullName"] for c in sync.company.customers()} == {"King", "Hopper"}
    c1 = [row for row in log if row[0] == "c-1"]
    assert c1 == [
        ("c-1", "synced", 0),
        ("c-1", "retrying", 3175),
        ("c-1", "retrying", 3175),
        ("c-1", "synced", 0),
    ]
    # The other customer of the same file went through while c-1 waited for its retry.
    assert log.index(("c-2", "synced", 0)) < len(log) - 1
    assert sync.company.duplicate_names() == 0


def test_closed_period_dead_letter_replayed_after_the_fix_gives_one_invoice(
    sync: Sync, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync.company.set_closing_date(date(2026, 1, 31))
    sync.publish(customer("c-1", "Lovelace"))
    sync.publish(invoice("i-1", "c-1", day="2026-01-15"))  # in the closed period
    sync.publish(payment("p-1", "c-1", "i-1"))  # waits for the invoice, then follows it
    sync.until_synced(
        lambda: any(e.code == 3171 for e in sync.store.sync_log("t-1")), "the 3171 refusal"
    )
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    for key, value in child_env(sync.settings).items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()

    def letters() -> list[dict[str, Any]] | None:
        listed = runner.invoke(cli, ["dlq", "list", "--json", "--tenant", "t-1"])
        rows = json.loads(listed.stdout)
        return rows if len(rows) == 2 else None

    refused, blocked = until(letters, what="the refusal and the payment blocked by it")
    assert (refused["code"], blocked["code"]) == ("3171", "blocked")
    assert sync.invoices() == []

    sync.company.set_closing_date(None)  # the bookkeeper moves the closing date
    replay = runner.invoke(cli, ["dlq", "replay", "--tenant", "t-1"])
    assert replay.exit_code == 0, replay.output
    assert "2 to replay" in replay.output
    sync.until_synced(
        lambda: sync.store.mapping("t-1", "payment", "p-1"), "the replayed invoice and payment"
    )
    again = runner.invoke(cli, ["dlq", "replay", "--tenant", "t-1"])
    assert "0 to replay, 2 replayed before" in again.output
    sync.connector.run_once()
    (only,) = sync.invoices()
    assert only["RefNumber"] == "I-1"
    assert only["IsPaid"] is True


def test_parked_events_survive_a_killed_worker(sync: Sync) -> None:
    sync.publish(invoice("i-1", "c-1"))
    sync.publish(invoice("i-2", "c-1"))
    until(lambda: sync.parked().get("waiting") == 2, what="two invoices parked")
    sync.services.worker.process.kill()  # SIGKILL: no goodbye, no flush
    sync.services.worker.process.wait(10)

    env = child_env(sync.settings)
    with child_process("worker", ["worker"], env=env, log_dir=sync.logs / "again") as worker:
        until(
            lambda: sync.parked().get("waiting") == 2,
            timeout=120,
            what="the parked invoices recovered",
        )
        sync.publish(customer("c-1", "Lovelace"))

        def poll() -> None:
            assert worker.alive(), worker.log_tail()
            sync.connector.run_once()

        until(lambda: len(sync.invoices()) == 2, step=poll, timeout=180, what="both invoices")
        assert {r["RefNumber"] for r in sync.invoices()} == {"I-1", "I-2"}
        assert worker.stop() == 0


def test_first_sync_adopts_what_the_bookkeeper_entered_by_hand(sync: Sync) -> None:
    """The seeds' warning: records already in QuickBooks must not be added twice. The tenant
    was connected today; the invoice is dated in March, so it is looked up by RefNumber and
    adopted, and the customer of the same name is adopted instead of refused (3100)."""
    entered = build_message(
        [
            ("1", build_request("customer", "Add", {"Name": "Lovelace"})),
            (
                "2",
                build_request(
                    "invoice",
                    "Add",
                    {
                        "CustomerRef": {"FullName": "Lovelace"},
                        "TxnDate": date(2026, 3, 2),
                        "RefNumber": "I-1",
                        "InvoiceLineAdd": [{"Desc": "Service call", "Amount": Decimal("185")}],
                    },
                ),
            ),
        ],
        version="13.0",
    )
    sync.company.process(entered)
    ((by_hand,), (customer_by_hand,)) = sync.invoices(), sync.company.customers()

    sync.publish(customer("c-1", "Lovelace"))
    sync.publish(invoice("i-1", "c-1"))
    adopted = sync.until_synced(
        lambda: sync.store.mapping("t-1", "invoice", "i-1"), "the invoice's mapping"
    )
    assert adopted.qb_id == by_hand["TxnID"]
    assert sync.store.mapping("t-1", "customer", "c-1").qb_id == customer_by_hand["ListID"]  # type: ignore[union-attr]
    assert len(sync.invoices()) == 1
    assert len(sync.company.customers()) == 1


def test_an_oversized_event_is_a_dead_letter_and_the_events_behind_it_go_through(
    sync: Sync,
) -> None:
    """Issue 13, item 1: a ~1.1 MB customer event, then three good ones on the same
    partition. The big one becomes a bounded dead letter naming where the original is; the
    three reach QuickBooks; the worker stays up; nothing is lost."""
    big = customer_event("t-1", "c-big", {"last_name": "Big", "email": "x" * 1_100_000})
    value = sync.codec.encode("com.qbsync.events.CustomerEvent", big)
    assert len(value) > 1_048_576  # over both the producer's and the broker's default limit
    # A source app that raised its own limit: lz4 makes the batch small enough for the broker.
    roomy = RecordProducer(sync.settings.kafka.client_config(), **{"message.max.bytes": 4 << 20})
    try:
        roomy.send_all([(sync.settings.topics.events, b"t-1", value)])
    finally:
        roomy.close()
    for number, name in enumerate(["Lovelace", "Hopper", "Noether"], start=1):
        sync.publish(customer(f"c-{number}", name))

    def all_three() -> bool:
        return all(sync.store.mapping("t-1", "customer", f"c-{n}") for n in (1, 2, 3))

    sync.until_synced(all_three, "the three customers behind the big one")
    assert {c["FullName"] for c in sync.company.customers()} == {"Lovelace", "Hopper", "Noether"}

    def letters() -> list[dict[str, Any]] | None:
        found = read_dead_letters(
            sync.settings.kafka.client_config(),
            sync.settings.topics.dead_letters,
            lambda data: sync.codec.decode(data)[1],
            idle_s=1.0,
        )
        return found or None

    (letter,) = until(letters, timeout=60, what="the big event's dead letter")
    assert letter["code"] == "unproducible"
    assert letter["source_topic"] == sync.settings.topics.events
    assert "max" in letter["reason"].lower()
    assert letter["remedy"]
    excerpt = letter["original_value"]
    assert 0 < len(excerpt) <= 64 * 1024 < len(value)
    assert value.startswith(excerpt)
    # Its coordinates lead back to the whole original on the events topic.
    assert _read_one(sync, letter["source_partition"], letter["source_offset"]) == value
    assert sync.services.worker.alive(), sync.services.worker.log_tail()
    # Every event, the refused one included, was acknowledged: the group's committed
    # offset reaches the end of the partition (Faust commits every few seconds).
    until(
        lambda: _committed(sync, letter["source_partition"]) == letter["source_offset"] + 4,
        timeout=60,
        what="the worker's offset committed past all four events",
    )
    log = sync.services.worker.log_path.read_text(errors="replace")
    assert "record refused by the broker; dead-lettered" in log
    assert "x" * 64 not in log  # ids and codes, never the payload


def _read_one(sync: Sync, partition: int, offset: int) -> bytes | None:
    consumer = Consumer(
        {
            **sync.settings.kafka.client_config(),
            "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.max.bytes": 8 << 20,
            "max.partition.fetch.bytes": 8 << 20,
        }
    )
    try:
        consumer.assign([TopicPartition(sync.settings.topics.events, partition, offset)])
        message = until(
            lambda: consumer.poll(1.0), timeout=30, what="the original on the events topic"
        )
        assert message.error() is None, message.error()
        return message.value()
    finally:
        consumer.close()


def _committed(sync: Sync, partition: int) -> int:
    """The worker group's committed offset on an events partition (-1001: none yet)."""
    consumer = Consumer(
        {**sync.settings.kafka.client_config(), "group.id": sync.settings.worker.app_id}
    )
    try:
        (committed,) = consumer.committed(
            [TopicPartition(sync.settings.topics.events, partition)], timeout=10
        )
        return int(committed.offset)
    finally:
        consumer.close()


def test_a_dead_letter_the_broker_refuses_stops_the_worker_before_its_offset_moves(
    sync: Sync,
) -> None:
    """What is neither produced nor dead-lettered is never committed, whatever fails: with
    the dead-letter topic refusing everything, an undecodable event stops the worker
    unacknowledged; once the topic is fixed, a new worker dead-letters it and moves on."""
    letters = sync.settings.topics.dead_letters
    _set_topic_config(sync, letters, "max.message.bytes", "100")
    sync.producer.send_all([(sync.settings.topics.events, b"t-1", b"not an event")])
    partition = _partition_holding_one(sync)
    worker = sync.services.worker
    until(lambda: not worker.alive(), timeout=90, what="the worker to stop itself")
    assert worker.process.returncode == HALTED
    assert "worker stopping: a batch could not be finished" in worker.log_tail(200)
    assert _committed(sync, partition) < 1  # not past the event

    _set_topic_config(sync, letters, "max.message.bytes", "1048588")
    env = child_env(sync.settings)
    with child_process("worker", ["worker"], env=env, log_dir=sync.logs / "again") as again:

        def dead_lettered() -> list[dict[str, Any]] | None:
            assert again.alive(), again.log_tail()
            found = read_dead_letters(
                sync.settings.kafka.client_config(),
                letters,
                lambda data: sync.codec.decode(data)[1],
                idle_s=1.0,
            )
            return found or None

        (letter,) = until(dead_lettered, timeout=120, what="the event dead-lettered")
        assert (letter["code"], letter["source_partition"]) == ("undecodable", partition)
        assert letter["original_value"] == b"not an event"
        until(
            lambda: _committed(sync, partition) == 1,
            timeout=60,
            what="the offset committed once the event is dead-lettered",
        )
        assert again.stop() == 0


def _set_topic_config(sync: Sync, topic: str, name: str, value: str) -> None:
    admin = AdminClient(sync.settings.kafka.client_config())
    entry = ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(30)

    def applied() -> bool:
        (described,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
        return bool(described.result(30)[name].value == value)

    until(applied, timeout=30, what=f"{topic} {name}={value}")


def _partition_holding_one(sync: Sync) -> int:
    """The events partition the test's one event went to."""
    consumer = Consumer({**sync.settings.kafka.client_config(), "group.id": "watermarks"})
    try:
        for partition in range(sync.settings.topics.events_partitions):
            where = TopicPartition(sync.settings.topics.events, partition)
            if consumer.get_watermark_offsets(where, timeout=10)[1] == 1:
                return partition
    finally:
        consumer.close()
    raise AssertionError("the event is on no partition")
