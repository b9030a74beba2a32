from __future__ import annotations

import struct
import uuid
from datetime import UTC, datetime

import pytest

from qbsync.contracts import AvroCodec, DecodeError, EncodeError, load_schemas

NOW = datetime(2026, 11, 21, 12, 30, 15, 123000, tzinfo=UTC)


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO as the Avro specification writes it (an independent implementation)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def customer_event() -> dict[str, object]:
    return {
        "envelope": {
            "event_id": uuid.UUID("4b0c6b0e-1a2b-4c3d-9e8f-0a1b2c3d4e5f"),
            "tenant_id": "t-1",
            "source_system": "fieldpro",
            "entity": "customer",
            "entity_id": "c-9",
            "kind": "UPSERTED",
            "occurred_at": NOW,
            "source_updated_at": NOW,
        },
        "customer": {
            "company_name": "Ünïcode & <Sons>",
            "first_name": None,
            "last_name": None,
            "email": "a@example.com",
            "phone": None,
            "bill_address": {
                "line1": "1 Main",
                "line2": None,
                "city": "Springfield",
                "state": "IL",
                "postal_code": "62701",
                "country": None,
            },
            "ship_address": None,
            "is_active": True,
        },
    }


def test_round_trip_preserves_every_field() -> None:
    codec = AvroCodec()
    event = customer_event()
    name, decoded = codec.decode(codec.encode("com.qbsync.events.CustomerEvent", event))
    assert name == "com.qbsync.events.CustomerEvent"
    assert decoded == event


def test_header_is_avro_single_object_encoding() -> None:
    import fastavro.schema

    schemas = load_schemas()
    schema = schemas.schema("com.qbsync.events.CustomerEvent")
    canonical = fastavro.schema.to_parsing_canonical_form(schema).encode()
    data = AvroCodec().encode("com.qbsync.events.CustomerEvent", customer_event())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == struct.pack("<Q", crc64_avro(canonical))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not Avro single-object encoding"),
        (b'{"json": true}', "expected header C3 01"),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", "no Avro schema with fingerprint"),
    ],
)
def test_garbage_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        AvroCodec().decode(data)


def test_truncated_body_is_refused() -> None:
    codec = AvroCodec()
    data = codec.encode("com.qbsync.events.CustomerEvent", customer_event())
    with pytest.raises(DecodeError, match="body does not match"):
        codec.decode(data[:20])


def test_expected_type_is_enforced() -> None:
    codec = AvroCodec()
    data = codec.encode("com.qbsync.events.CustomerEvent", customer_event())
    with pytest.raises(DecodeError, match=r"expected a com\.qbsync\.pipeline\.Result record"):
        codec.decode(data, expected="com.qbsync.pipeline.Result")


def test_encoding_a_bad_record_names_the_problem() -> None:
    event = customer_event()
    event["envelope"] = {**event["envelope"], "kind": "EXPLODED"}  # type: ignore[dict-item]
    with pytest.raises(EncodeError, match="EXPLODED"):
        AvroCodec().encode("com.qbsync.events.CustomerEvent", event)


def test_every_schema_parses_and_has_a_distinct_fingerprint() -> None:
    schemas = load_schemas()
    assert "com.qbsync.events.CustomerEvent" in schemas.parsed
    fingerprints = list(schemas.fingerprints.values())
    assert len(set(fingerprints)) == len(fingerprints)
