"""The worker's steps with a real store and no broker (Faust is not needed to test them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.qbwc import create_profile
from connectors.store import Store, upgrade
from qbsync.contracts import AvroCodec, customer_event
from qbsync.settings import Settings
from streams.app import Pipeline
from tests.streams._events import example
from tests.support.messages import Message


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    settings = Settings(data_dir=tmp_path)
    upgrade(settings.database_url)
    store = Store(settings.database_url)
    yield Pipeline(settings, store, AvroCodec())
    store.close()


def test_undecodable_event_becomes_a_dead_letter_with_the_original_bytes(
    pipeline: Pipeline,
) -> None:
    topic, key, value = pipeline.translate(Message("qbsync.events", 2, 41, b"t-1", b"\x00junk"))
    assert topic == pipeline.settings.topics.dead_letters
    assert key == b"t-1"
    name, letter = pipeline.codec.decode(value)
    assert name == "com.qbsync.pipeline.DeadLetter"
    assert (letter["code"], letter["source_partition"], letter["source_offset"]) == (
        "undecodable",
        2,
        41,
    )
    assert "could not be decoded" in letter["reason"]
    assert letter["original_value"] == b"\x00junk"


def test_event_of_a_tenant_becomes_a_command_on_its_files_topic(pipeline: Pipeline) -> None:
    created = create_profile(pipeline.store, name="Shared", tenants=["t-1", "t-2"])
    event = customer_event("t-2", "c-9", {"last_name": "Doe"})
    value = pipeline.codec.encode("com.qbsync.events.CustomerEvent", event)
    topic, key, command_bytes = pipeline.translate(Message("qbsync.events", 0, 0, b"t-2", value))
    assert topic == pipeline.settings.topics.commands(created.profile.id)
    assert key == b"t-2"
    _, command = pipeline.codec.decode(command_bytes, expected="com.qbsync.pipeline.Command")
    assert (command["tenant_id"], command["entity_id"], command["action"]) == ("t-2", "c-9", "ADD")


def test_ok_result_stores_the_mapping_and_error_result_is_dead_lettered(
    pipeline: Pipeline,
) -> None:
    create_profile(pipeline.store, name="Shared", tenants=["t-1"])
    base = {
        "command_id": "4b0c6b0e-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
        "tenant_id": "t-1",
        "profile_id": "p",
        "entity": "customer",
        "entity_id": "c-1",
        "action": "ADD",
        "status_code": 0,
        "status_severity": "Info",
        "status_message": "Status OK",
        "qb_id": "80000001-1",
        "edit_sequence": "5",
        "full_name": "Doe",
        "processed_at": 0,
    }
    ok = pipeline.codec.encode("com.qbsync.pipeline.Result", {**base, "ref_number": None})
    ((topic, key, value),) = pipeline.settle(Message("qbsync.results", 0, 0, b"t-1", ok))
    assert (topic, key) == (pipeline.settings.topics.status, b"t-1")
    name, status = pipeline.codec.decode(value)
    assert name == "com.qbsync.events.SyncStatus"
    assert (status["status"], status["qb_id"], status["remedy"]) == ("SYNCED", "80000001-1", "")
    mapping = pipeline.store.mapping("t-1", "customer", "c-1")
    assert mapping is not None
    assert (mapping.qb_id, mapping.edit_sequence) == ("80000001-1", "5")

    failed = pipeline.codec.encode(
        "com.qbsync.pipeline.Result",
        {
            **base,
            "status_code": 3100,
            "status_severity": "Error",
            "qb_id": None,
            "status_message": 'The name "Doe" of the list element is already in use.',
        },
    )
    status_record, dead = pipeline.settle(Message("qbsync.results", 0, 1, b"t-1", failed))
    _, failure = pipeline.codec.decode(status_record[2])
    assert (failure["status"], failure["code"]) == ("FAILED", 3100)
    assert failure["remedy"]  # the catalog's advice reaches the source app
    assert dead[0] == pipeline.settings.topics.dead_letters
    _, letter = pipeline.codec.decode(dead[2])
    assert letter["code"] == "3100"
    assert "already in use" in letter["reason"]

    log = pipeline.store.sync_log("t-1")
    assert [(e.entity_id, e.status, e.code) for e in log] == [
        ("c-1", "synced", 0),
        ("c-1", "failed", 3100),
    ]


def test_a_skipped_event_produces_nothing_and_a_waiting_one_is_kept_with_its_reason(
    pipeline: Pipeline,
) -> None:
    created = create_profile(pipeline.store, name="Shared", tenants=["t-1"])
    pipeline.store.update_tenant_settings("t-1", {"entities": {"customers": False}})
    skipped = customer_event("t-1", "c-1", {"last_name": "Doe"})
    value = pipeline.codec.encode("com.qbsync.events.CustomerEvent", skipped)
    assert pipeline.translate(Message("qbsync.events", 0, 0, b"t-1", value)) is None

    # An invoice whose customer is not in QuickBooks yet: kept, with the reason, never lost.
    invoice = example("invoice.upserted")
    invoice["envelope"]["tenant_id"] = "t-1"
    value = pipeline.codec.encode("com.qbsync.events.InvoiceEvent", invoice)
    kept = pipeline.translate(Message("qbsync.events", 0, 1, b"t-1", value))
    assert kept is not None
    topic, _, letter_bytes = kept
    assert topic == pipeline.settings.topics.dead_letters
    _, letter = pipeline.codec.decode(letter_bytes)
    assert letter["code"] == "waiting"
    assert "customer" in letter["reason"]
    assert letter["original_value"] == value
    assert created.profile.id
