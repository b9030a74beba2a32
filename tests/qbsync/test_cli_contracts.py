"""``qbsync publish`` and ``qbsync schemas`` as a user runs them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from typer.testing import CliRunner

from connectors.kafka import ensure_topics
from core.contracts import (
    EVENT_TYPES,
    AvroCodec,
    customer_event,
    load_schemas,
    render_events_doc,
)
from core.contracts._schemas import default_schema_dir
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli import app

EXAMPLES = default_schema_dir() / "examples"
ENV = {"QBSYNC_TOPIC_PREFIX": "qbsync", "QBSYNC_SCHEMA_REGISTRY_URL": ""}


def run(*args: str, env: dict[str, str] | None = None, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), env={**ENV, **(env or {})}, input=stdin)


def write_event(tmp_path: Path, entity: str, change: Any = None) -> Path:
    event = json.loads((EXAMPLES / f"{entity}.upserted.json").read_text())
    if change is not None:
        change(event)
    path = tmp_path / f"{entity}.json"
    path.write_text(json.dumps(event, indent=2))
    return path


def test_dry_run_prints_the_event_and_sends_nothing(tmp_path: Path) -> None:
    path = write_event(tmp_path, "invoice")
    done = run(
        "publish",
        "--tenant",
        "acme-hvac",
        "--type",
        "invoice.upserted",
        "--file",
        str(path),
        "--dry-run",
    )
    assert done.exit_code == 0, done.output
    event = json.loads(done.stdout)
    assert event["envelope"]["tenant_id"] == "acme-hvac"
    assert (event["envelope"]["entity"], event["envelope"]["kind"]) == ("invoice", "UPSERTED")
    assert uuid.UUID(event["envelope"]["event_id"])
    assert event["invoice"]["lines"][1]["quantity"] == "2.00000"
    assert event["invoice"]["lines"][2]["rate"] == "120.00000"
    assert done.stderr.startswith(f"dry run: {path} is a valid invoice.upserted event (")
    assert done.stderr.endswith(
        " bytes, single-object encoding); it would go to qbsync.events with key 'acme-hvac'."
        " Nothing was sent.\n"
    )


def test_dry_run_reads_stdin() -> None:
    text = (EXAMPLES / "terms.upserted.json").read_text()
    done = run(
        "publish",
        "--tenant",
        "acme-hvac",
        "--type",
        "terms.upserted",
        "--file",
        "-",
        "--dry-run",
        stdin=text,
    )
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["terms"]["discount_percent"] == "2.0000"
    assert done.stderr.startswith("dry run: stdin is a valid terms.upserted event")


def test_invalid_events_list_every_problem_and_exit_1(tmp_path: Path) -> None:
    def break_it(event: dict[str, Any]) -> None:
        event["invoice"]["lines"][2]["amount"] = "abc"
        event["invoice"]["txn_date"] = "03/02/2026"
        event["envelope"]["tenant_id"] = "someone-else"

    path = write_event(tmp_path, "invoice", break_it)
    done = run(
        "publish",
        "--tenant",
        "acme-hvac",
        "--type",
        "invoice.upserted",
        "--file",
        str(path),
        "--dry-run",
    )
    assert done.exit_code == 1
    assert done.stdout == ""
    assert done.stderr == (
        f"{path} is not a valid invoice.upserted event (3 problems); nothing was sent:\n"
        "  envelope.tenant_id: 'someone-else' does not match the tenant given ('acme-hvac')\n"
        "  invoice.txn_date: expected a date as YYYY-MM-DD, got '03/02/2026'\n"
        "  invoice.lines[2].amount: expected a decimal with 2 places, got 'abc'\n"
    )


def test_invalid_json_is_reported_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"envelope": {"entity_id": "c-1",}\n')
    done = run(
        "publish", "--tenant", "t", "--type", "customer.upserted", "--file", str(path), "--dry-run"
    )
    assert done.exit_code == 1
    assert "not valid JSON at line 1 column 34" in done.stderr


def test_an_unknown_event_type_is_a_usage_error(tmp_path: Path) -> None:
    path = write_event(tmp_path, "invoice")
    done = run("publish", "--tenant", "t", "--type", "invoice.upsert", "--file", str(path))
    assert done.exit_code == 2
    said = " ".join(done.stderr.replace("│", " ").split())  # Rich boxes and wraps it
    assert "unknown event type 'invoice.upsert'; did you mean invoice.upserted" in said


def test_publish_sends_to_the_broker(broker: BrokerInfo, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    settings.topics.prefix = f"cli-contracts-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.kafka.client_config(), {settings.topics.events: 2})
    path = write_event(tmp_path, "payment")
    env = {
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "QBSYNC_TOPIC_PREFIX": settings.topics.prefix,
    }
    done = run(
        "publish",
        "--tenant",
        "acme-hvac",
        "--type",
        "payment.upserted",
        "--file",
        str(path),
        env=env,
    )
    assert done.exit_code == 0, done.output
    delivery = json.loads(done.stdout)
    assert delivery["topic"] == settings.topics.events
    *logs, summary = done.stderr.splitlines()
    assert summary.startswith(f"published payment.upserted {delivery['event_id']} to ")
    assert all("acme-hvac" not in line and "614" not in line for line in logs)  # ids only

    consumer = Consumer({**settings.kafka.client_config(), "group.id": "cli-test"})
    try:
        consumer.assign(
            [TopicPartition(delivery["topic"], delivery["partition"], delivery["offset"])]
        )
        message = consumer.poll(20)
        assert message is not None
        assert message.error() is None
    finally:
        consumer.close()
    assert message.key() == b"acme-hvac"
    name, record = AvroCodec().decode(message.value())
    assert name == "com.qbsync.events.PaymentEvent"
    assert str(record["envelope"]["event_id"]) == delivery["event_id"]
    assert str(record["payment"]["applied_to"][0]["amount"]) == "614.00"


def test_schemas_list_json_has_every_event_type_and_fingerprint() -> None:
    done = run("schemas", "list", "--json")
    assert done.exit_code == 0, done.output
    rows = json.loads(done.stdout)
    assert [row["type"] for row in rows] == list(EVENT_TYPES)
    schemas = load_schemas()
    codec = AvroCodec(registry_url="")
    for row in rows:
        assert row["fingerprint"] == schemas.fingerprint(row["schema"]).hex()
        assert row["kind"] == EVENT_TYPES[row["type"]].kind
    event = customer_event("t", "c", {"company_name": "X"})
    header = codec.encode("com.qbsync.events.CustomerEvent", event)[2:10]
    assert header.hex() == rows[0]["fingerprint"]  # what the messages carry


def test_schemas_list_as_text() -> None:
    done = run("schemas", "list")
    assert done.exit_code == 0
    assert len(done.stdout.splitlines()) == len(EVENT_TYPES)
    assert done.stdout.splitlines()[0].startswith("customer.upserted ")


def test_schemas_docs_writes_and_checks_the_page(tmp_path: Path) -> None:
    page = tmp_path / "events.md"
    assert run("schemas", "docs", "--output", str(page), "--check").exit_code == 1
    done = run("schemas", "docs", "--output", str(page))
    assert done.exit_code == 0
    assert done.stderr == f"wrote {page}\n"
    assert page.read_text() == render_events_doc()
    assert run("schemas", "docs", "--output", str(page), "--check").exit_code == 0
    page.write_text(page.read_text() + "edited by hand\n")
    stale = run("schemas", "docs", "--output", str(page), "--check")
    assert stale.exit_code == 1
    assert "is stale: run `qbsync schemas docs`" in stale.stderr


def test_schemas_check_passes_against_the_releases() -> None:
    done = run("schemas", "check")
    assert done.exit_code == 0, done.output
    assert done.stderr == "compatible with 0.1.0\n"


@pytest.mark.parametrize("command", ["publish", "schemas"])
def test_commands_are_registered(command: str) -> None:
    assert command in run("--help").stdout


def test_publish_lines_sends_many_events_from_stdin_in_order(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    """Issue 15: many events from one file or stdin (JSON lines), one process."""
    settings = Settings(data_dir=tmp_path)
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    settings.topics.prefix = f"cli-lines-{uuid.uuid4().hex[:8]}"
    ensure_topics(settings.kafka.client_config(), {settings.topics.events: 2})
    example = json.loads((EXAMPLES / "customer.upserted.json").read_text())
    events = []
    for number in range(3):
        event = json.loads(json.dumps(example))
        event["envelope"]["entity_id"] = f"c-{number}"
        events.append(json.dumps(event))
    env = {
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "QBSYNC_TOPIC_PREFIX": settings.topics.prefix,
    }
    args = (
        "publish",
        "--tenant",
        "acme-hvac",
        "--type",
        "customer.upserted",
        "--file",
        "-",
        "--lines",
    )
    # One bad line: nothing is sent, and the line is named.
    bad = run(*args, env=env, stdin="\n".join([events[0], '{"envelope": {}}', events[2]]))
    assert bad.exit_code == 1
    assert "line 2" in bad.stderr
    done = run(*args, env=env, stdin="\n".join(events) + "\n\n")
    assert done.exit_code == 0, done.output
    deliveries = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(deliveries) == 3
    partitions = {d["partition"] for d in deliveries}
    assert len(partitions) == 1  # one tenant, one partition
    offsets = [d["offset"] for d in deliveries]
    assert offsets == sorted(offsets)
    consumer = Consumer({**settings.kafka.client_config(), "group.id": uuid.uuid4().hex})
    try:
        consumer.assign([TopicPartition(settings.topics.events, partitions.pop(), 0)])
        got = consumer.consume(10, timeout=20)
    finally:
        consumer.close()
    ids = [AvroCodec().decode(m.value())[1]["envelope"]["entity_id"] for m in got]
    assert ids == ["c-0", "c-1", "c-2"]  # the bad run sent nothing; this one in file order
