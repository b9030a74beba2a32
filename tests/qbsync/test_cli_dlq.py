"""``qbsync dlq``: list, show and replay dead letters on a real broker."""

from __future__ import annotations

import json
import os
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from connectors.kafka import RecordProducer
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app
from qbsync.runtime import child_env, prepare_topics, use_broker
from streams.app import Failure, Pipeline, Source
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def events_on(settings: Settings) -> list[bytes]:
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": uuid.uuid4().hex,
            "enable.auto.commit": False,
        }
    )
    consumer.assign(
        [
            TopicPartition(settings.topics.events, p, 0)
            for p in range(settings.topics.events_partitions)
        ]
    )
    found: list[bytes] = []
    while batch := consumer.consume(100, timeout=2.0):
        found.extend(m.value() or b"" for m in batch if m.error() is None)
    consumer.close()
    return found


@pytest.fixture
def cli_settings(
    broker: BrokerInfo, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    """Topics and a store ready, and the environment the CLI reads pointing at them."""
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    for key in [k for k in os.environ if k.startswith("QBSYNC_")]:
        monkeypatch.delenv(key)
    for key, value in child_env(settings).items():
        monkeypatch.setenv(key, value)
    return settings


def test_list_show_and_replay_once(cli_settings: Settings) -> None:
    settings = cli_settings
    store = Store(settings.database_url)
    pipeline = Pipeline(settings, store, AvroCodec())
    events = settings.topics.events
    letters = [
        pipeline.dead_letter(
            Source(events, 0, 7, b"t-1", b"\x00first"),
            Failure("undecodable", "bad bytes"),
            tenant_id="t-1",
        ),
        pipeline.dead_letter(
            Source(events, 0, 9, b"t-1", b"\x00second"),
            Failure("unknown-tenant", "who?"),
            tenant_id="t-1",
        ),
        pipeline.dead_letter(
            Source(settings.topics.results, 2, 4, b"t-2", b"result"),
            Failure("3171", "closed period"),
            tenant_id="t-2",
        ),
    ]
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all(letters)
    producer.close()
    runner = CliRunner()

    listed = runner.invoke(app, ["dlq", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert [r["code"] for r in rows] == ["undecodable", "unknown-tenant", "3171"]
    only = json.loads(runner.invoke(app, ["dlq", "list", "--json", "--tenant", "t-2"]).stdout)
    assert [r["code"] for r in only] == ["3171"]
    assert (
        json.loads(runner.invoke(app, ["dlq", "list", "--json", "--code", "3171"]).stdout)[0][
            "reason"
        ]
        == "closed period"
    )

    shown = runner.invoke(app, ["dlq", "show", rows[0]["id"][:12]])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["original_bytes"] == len(b"\x00first")

    dry = runner.invoke(app, ["dlq", "replay", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "2 to replay" in dry.output
    assert events_on(settings) == []

    replayed = runner.invoke(app, ["dlq", "replay", "--json"])
    assert replayed.exit_code == 0, replayed.output
    assert "1 not replayable" in replayed.stderr
    report = json.loads(replayed.stdout)
    assert report["replayed"] == [rows[0]["id"], rows[1]["id"]]
    assert (report["replayed_before"], report["not_replayable"]) == (0, 1)
    again = runner.invoke(app, ["dlq", "replay", "--json"])
    assert "0 to replay, 2 replayed before" in again.stderr
    assert json.loads(again.stdout)["replayed"] == []
    # In their original order, once, byte for byte; the QuickBooks refusal stays put.
    found = until(lambda: events_on(settings) or None, timeout=30, what="the replayed events")
    assert found == [b"\x00first", b"\x00second"]
    store.close()


def test_a_refused_command_goes_back_to_its_files_topic_with_a_fresh_retry_budget(
    cli_settings: Settings,
) -> None:
    settings = cli_settings
    store = Store(settings.database_url)
    codec = AvroCodec()
    pipeline = Pipeline(settings, store, codec)
    file_topic = settings.topics.commands("p-9")
    command = {
        "command_id": str(uuid.uuid4()),
        "event_id": str(uuid.uuid4()),
        "tenant_id": "t-3",
        "profile_id": "p-9",
        "entity": "invoice",
        "entity_id": "i-1",
        "action": "ADD",
        "request_xml": "<InvoiceAddRq><InvoiceAdd/></InvoiceAddRq>",
        "created_at": 0,
        "depends_on": ["customer:c-1"],
        "attempt": 6,
        "first_failed_at": 1_000,
    }
    letter = pipeline.dead_letter(
        Source(file_topic, 0, 3, b"t-3", codec.encode("com.qbsync.pipeline.Command", command)),
        Failure("3175", "busy, six times", category="transient", attempts=6),
        tenant_id="t-3",
        profile_id="p-9",
        entity="invoice",
        entity_id="i-1",
    )
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all([letter])
    producer.close()
    runner = CliRunner()

    (row,) = json.loads(runner.invoke(app, ["dlq", "list", "--json", "--tenant", "t-3"]).stdout)
    assert (row["record"], row["attempts"], row["category"]) == ("invoice:i-1", 6, "transient")
    shown = json.loads(runner.invoke(app, ["dlq", "show", row["id"]]).stdout)
    assert shown["command"]["request_xml"].startswith("<InvoiceAddRq>")

    replayed = runner.invoke(app, ["dlq", "replay", "--tenant", "t-3"])
    assert replayed.exit_code == 0, replayed.output
    assert "1 to replay" in replayed.output

    consumer = Consumer({**settings.kafka.client_config(), "group.id": uuid.uuid4().hex})
    consumer.assign([TopicPartition(file_topic, 0, 0)])
    found = until(lambda: consumer.consume(1, timeout=1.0) or None, timeout=30, what="the command")
    consumer.close()
    _, again = codec.decode(found[0].value() or b"", expected="com.qbsync.pipeline.Command")
    assert str(again["command_id"]) == command["command_id"]
    assert (again["attempt"], again["first_failed_at"]) == (1, None)
    assert again["request_xml"] == command["request_xml"]
    store.close()
