"""The pipeline's typed messages against their Avro schemas: same fields, same defaults, and a
round trip through the codec in both wire formats' single-object form."""

from __future__ import annotations

import dataclasses
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from core.contracts import AvroCodec, DecodeError
from core.messages import Command, DeadLetter, Imported, Message, QboRequest, Result

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "avro"
NOW = datetime(2026, 12, 2, 11, 0, tzinfo=UTC)


def _schema(kind: type[Message]) -> dict[str, object]:
    if kind is QboRequest:  # defined inline, in the command's ``qbo`` field
        command = json.loads((SCHEMAS / f"{Command.SCHEMA}.avsc").read_text())
        (qbo,) = [f for f in command["fields"] if f["name"] == "qbo"]
        return dict(qbo["type"][1])
    return dict(json.loads((SCHEMAS / f"{kind.SCHEMA}.avsc").read_text()))


@pytest.mark.parametrize("kind", [Command, QboRequest, Result, DeadLetter, Imported])
def test_a_record_has_exactly_its_schemas_fields_and_defaults(kind: type[Message]) -> None:
    schema: Any = _schema(kind)
    fields = {f.name: f for f in dataclasses.fields(kind)}  # type: ignore[arg-type]
    assert set(fields) == {f["name"] for f in schema["fields"]}
    for avro in schema["fields"]:
        ours = fields[avro["name"]]
        has_default = ours.default is not dataclasses.MISSING
        assert has_default == ("default" in avro), avro["name"]
        if has_default:
            expected = (
                tuple(avro["default"]) if isinstance(avro["default"], list) else avro["default"]
            )
            assert ours.default == expected, avro["name"]


def test_a_command_round_trips_through_the_codec_with_its_qbo_request() -> None:
    codec = AvroCodec()
    command = Command(
        command_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        tenant_id="acme",
        profile_id="file-1",
        entity="customer",
        entity_id="c-1",
        action="ADD",
        request_xml="",
        created_at=NOW,
        depends_on=("customer:c-0",),
        qbo=QboRequest(operation="create", entity="Customer", body='{"DisplayName": "A"}'),
    )
    again = Command.decode(codec, command.encode(codec))
    assert again == command
    assert isinstance(again.command_id, str)
    assert again.record == ("acme", "customer", "c-1")


def test_a_result_decoded_as_a_command_is_refused() -> None:
    codec = AvroCodec()
    result = Result(
        command_id=str(uuid.uuid4()),
        tenant_id="acme",
        profile_id="file-1",
        entity="customer",
        entity_id="c-1",
        action="ADD",
        status_code=3100,
        status_severity="Error",
        status_message="The name is already in use.",
        processed_at=NOW,
    )
    data = result.encode(codec)
    assert Result.decode(codec, data) == result
    assert not Result.decode(codec, data).succeeded
    # A warning below 1000 did the work; an error never did, whatever its code.
    assert result.replace(status_code=530, status_severity="Warn").succeeded
    assert result.replace(status_code=0, status_severity="Info").succeeded
    assert not result.replace(status_code=0, status_severity="Error").succeeded
    assert not result.replace(status_code=-41, status_severity="Warn").succeeded
    with pytest.raises(DecodeError):
        Command.decode(codec, data)


def test_dead_letters_and_imports_round_trip() -> None:
    codec = AvroCodec()
    letter = DeadLetter(
        dead_letter_id=str(uuid.uuid4()),
        source_topic="qbsync.events",
        source_partition=2,
        source_offset=41,
        code="unknown_event_type",
        reason="no schema",
        failed_at=NOW,
        original_value=b"\x00\x01",
    )
    assert DeadLetter.decode(codec, letter.encode(codec)) == letter
    imported = Imported(
        tenant_id="acme",
        profile_id="file-1",
        entity="customer",
        qb_id="80000001-1",
        record_type="Customer",
        record_json="{}",
        imported_at=NOW,
    )
    assert Imported.decode(codec, imported.encode(codec)) == imported


def test_a_dead_letter_keeps_its_origin_byte_for_byte_and_its_first_failure() -> None:
    from core.messages import Failure, Origin

    origin = Origin(topic="qbsync.commands.f1", partition=0, offset=7, key=b"acme", value=b"\x01")
    letter = DeadLetter.of(
        origin, Failure(code="3171", reason="closed", attempts=2), NOW, tenant_id="acme"
    )
    assert (letter.source_topic, letter.source_partition, letter.source_offset) == (
        "qbsync.commands.f1",
        0,
        7,
    )
    assert (letter.original_key, letter.original_value) == (b"acme", b"\x01")
    assert letter.first_failed_at == NOW  # unknown first failure: this one
    assert letter.attempts == 2
    assert letter.tenant_id == "acme"
