"""The codec: both wire formats, every schema, data from releases, and how it fails."""

from __future__ import annotations

import io
import json
import struct
import uuid
from datetime import UTC, datetime
from typing import Any

import fastavro
import fastavro.schema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import (
    SCHEMA_REGISTRY,
    SINGLE_OBJECT,
    AvroCodec,
    DecodeError,
    EncodeError,
    RegistryUnavailable,
    load_released,
    load_schemas,
    sample,
    variants_for,
)
from tests.core.contracts.conftest import FakeRegistry

NOW = datetime(2026, 11, 21, 12, 30, 15, 123000, tzinfo=UTC)
SCHEMAS = load_schemas()
RECORDS = sorted(n for n, doc in SCHEMAS.standalone.items() if doc["type"] == "record")
CUSTOMER_EVENT = "com.qbsync.events.CustomerEvent"


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


def customer_event() -> dict[str, Any]:
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
            "ship_to_locations": [],
            "terms": {"id": None, "full_name": "Net 30"},
            "sales_tax_code": None,
            "currency": None,
        },
    }


def cases() -> list[tuple[str, int]]:
    return [
        (name, variant)
        for name in RECORDS
        for variant in range(variants_for(SCHEMAS.standalone[name]) + 1)
    ]


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "variant"), cases())
def test_every_schema_round_trips_in_single_object_encoding(name: str, variant: int) -> None:
    codec = AvroCodec()
    record = sample(SCHEMAS.standalone[name], variant=variant)
    data = codec.encode(name, record)
    assert data[:2] == b"\xc3\x01"
    assert codec.decode(data) == (name, record)


@pytest.mark.parametrize("name", RECORDS)
def test_every_schema_round_trips_in_schema_registry_format(name: str, registry: Any) -> None:
    writer = AvroCodec(registry=registry)
    assert writer.wire_format == SCHEMA_REGISTRY
    for variant in range(variants_for(SCHEMAS.standalone[name]) + 1):
        record = sample(SCHEMAS.standalone[name], variant=variant)
        data = writer.encode(name, record)
        assert data[0] == 0
        (schema_id,) = struct.unpack(">I", data[1:5])
        assert schema_id == writer.schema_id(name)
        assert writer.decode(data) == (name, record)
        # A fresh reader knows nothing but the registry.
        assert AvroCodec(registry=registry).decode(data) == (name, record)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(RECORDS), seed=st.integers(0, 2**32), variant=st.integers(0, 20))
def test_round_trips_hold_for_any_sample(name: str, seed: int, variant: int) -> None:
    codec = AvroCodec()
    record = sample(SCHEMAS.standalone[name], variant=variant, seed=seed)
    assert codec.decode(codec.encode(name, record)) == (name, record)


def test_the_hand_written_event_round_trips() -> None:
    codec = AvroCodec()
    event = customer_event()
    assert codec.decode(codec.encode(CUSTOMER_EVENT, event)) == (CUSTOMER_EVENT, event)


def test_a_registry_codec_still_reads_single_object_data(fake_registry: FakeRegistry) -> None:
    data = AvroCodec().encode(CUSTOMER_EVENT, customer_event())
    assert AvroCodec(registry=fake_registry).decode(data) == (CUSTOMER_EVENT, customer_event())
    assert fake_registry.calls == []


def test_schema_ids_are_registered_once_and_cached(fake_registry: FakeRegistry) -> None:
    codec = AvroCodec(registry=fake_registry)
    for _ in range(3):
        codec.encode(CUSTOMER_EVENT, customer_event())
    assert fake_registry.calls == ["register"]
    (subject,) = fake_registry.subjects
    assert subject == CUSTOMER_EVENT  # record name strategy
    registered = json.loads(fake_registry.by_id[codec.schema_id(CUSTOMER_EVENT)].schema_str)
    assert registered == SCHEMAS.standalone[CUSTOMER_EVENT]  # standalone, docs included
    reader = AvroCodec(registry=fake_registry)
    reader.decode(codec.encode(CUSTOMER_EVENT, customer_event()))
    reader.decode(codec.encode(CUSTOMER_EVENT, customer_event()))
    assert fake_registry.calls == ["register", "get"]


def test_without_auto_registration_the_codec_only_looks_up(fake_registry: FakeRegistry) -> None:
    codec = AvroCodec(registry=fake_registry, auto_register=False)
    with pytest.raises(EncodeError, match="is not registered under subject"):
        codec.encode(CUSTOMER_EVENT, customer_event())
    AvroCodec(registry=fake_registry).encode(CUSTOMER_EVENT, customer_event())
    data = codec.encode(CUSTOMER_EVENT, customer_event())
    assert codec.decode(data)[0] == CUSTOMER_EVENT
    assert fake_registry.calls == ["lookup", "register", "lookup"]


def test_the_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QBSYNC_SCHEMA_REGISTRY_URL", "mock://from-env")
    assert AvroCodec().wire_format == SCHEMA_REGISTRY
    assert AvroCodec(registry_url="").wire_format == SINGLE_OBJECT
    monkeypatch.delenv("QBSYNC_SCHEMA_REGISTRY_URL")
    assert AvroCodec().wire_format == SINGLE_OBJECT


# --- the header and the fingerprint -------------------------------------------------------


def test_header_is_avro_single_object_encoding() -> None:
    data = AvroCodec().encode(CUSTOMER_EVENT, customer_event())
    canonical = fastavro.schema.to_parsing_canonical_form(SCHEMAS.schema(CUSTOMER_EVENT))
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == struct.pack("<Q", crc64_avro(canonical.encode()))


def test_fingerprints_are_over_the_standard_canonical_form() -> None:
    """The Parsing Canonical Form inlines referenced types at their first use (Avro spec), so
    other languages' libraries compute the same fingerprint from the same .avsc files."""
    canonical = fastavro.schema.to_parsing_canonical_form(SCHEMAS.schema(CUSTOMER_EVENT))
    assert canonical.startswith(
        '{"name":"com.qbsync.events.CustomerEvent","type":"record","fields":[{"name":"envelope",'
        '"type":{"name":"com.qbsync.events.Envelope","type":"record"'
    )
    assert '"com.qbsync.events.Address"' in canonical  # later uses are by name
    released = load_released()["0.1.0"]
    result = fastavro.schema.to_parsing_canonical_form(
        released.schema("com.qbsync.pipeline.Result")
    )
    assert '{"name":"com.qbsync.pipeline.CommandAction","type":"enum"' in result


def test_every_schema_has_a_distinct_fingerprint() -> None:
    fingerprints = list(SCHEMAS.fingerprints.values())
    assert len(set(fingerprints)) == len(fingerprints)


# --- data written by released versions ----------------------------------------------------


def released_message(
    version: str, name: str, *, legacy: bool, variant: int = 1
) -> tuple[bytes, Any]:
    snapshot = load_released()[version]
    record = sample(snapshot.standalone[name], variant=variant)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, snapshot.schema(name), record)
    if legacy:
        fingerprint = next(fp for fp, n in snapshot.legacy_fingerprints.items() if n == name)
    else:
        fingerprint = snapshot.fingerprint(name)
    return b"\xc3\x01" + fingerprint + body.getvalue(), record


@pytest.mark.parametrize("legacy", [False, True], ids=["standard", "0.1.0-fingerprint"])
@pytest.mark.parametrize("name", sorted(load_released()["0.1.0"].parsed))
def test_data_written_by_0_1_0_decodes_as_the_current_schema(name: str, legacy: bool) -> None:
    for variant in range(4):
        data, written = released_message("0.1.0", name, legacy=legacy, variant=variant)
        decoded_name, decoded = AvroCodec().decode(data)
        assert decoded_name == name
        assert _without_new_fields(decoded, written) == written


def test_0_1_0_customer_events_gain_the_new_fields_with_their_defaults() -> None:
    data, written = released_message("0.1.0", CUSTOMER_EVENT, legacy=True)
    _, decoded = AvroCodec().decode(data)
    customer = decoded["customer"]
    assert customer["ship_to_locations"] == []
    assert (customer["terms"], customer["sales_tax_code"], customer["currency"]) == (None,) * 3
    assert decoded["envelope"] == written["envelope"]


def test_0_1_0_fingerprints_are_what_0_1_0_wrote() -> None:
    """Pinned from qbsync 0.1.0's loader: its messages must stay readable."""
    legacy = load_released()["0.1.0"].legacy_fingerprints
    assert {fp.hex(): name for fp, name in legacy.items()} == {
        "07556e47f5765018": "com.qbsync.events.Envelope",
        "77a6cbae2dec62af": "com.qbsync.events.Address",
        "cb4fd576c9d25c27": "com.qbsync.events.Customer",
        "fe1fca59d78faad3": "com.qbsync.events.CustomerEvent",
        "10bdb1827167de28": "com.qbsync.pipeline.Command",
        "691bbb6f532308c3": "com.qbsync.pipeline.Result",
        "e72146d768a67c95": "com.qbsync.pipeline.DeadLetter",
    }


def test_registry_data_from_an_older_writer_resolves(fake_registry: FakeRegistry) -> None:
    old = load_released()["0.1.0"]
    schema_id = fake_registry.put(old.standalone[CUSTOMER_EVENT])
    record = sample(old.standalone[CUSTOMER_EVENT], variant=1)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, old.schema(CUSTOMER_EVENT), record)
    data = b"\x00" + struct.pack(">I", schema_id) + body.getvalue()
    _, decoded = AvroCodec(registry=fake_registry).decode(data)
    assert decoded["customer"]["ship_to_locations"] == []
    assert _without_new_fields(decoded, record) == record


def _without_new_fields(decoded: Any, written: Any) -> Any:
    """``decoded`` restricted to the fields the writer had (new ones hold defaults)."""
    if isinstance(decoded, dict) and isinstance(written, dict):
        return {k: _without_new_fields(decoded[k], v) for k, v in written.items()}
    if isinstance(decoded, list) and isinstance(written, list):
        return [_without_new_fields(d, w) for d, w in zip(decoded, written, strict=True)]
    return decoded


# --- failures -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not Avro single-object encoding"),
        (b'{"json": true}', "expected header C3 01"),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", "no Avro schema with fingerprint"),
        (b"\x00\x00\x00\x00\x07body", r"Schema Registry format \(schema id 7\) but no registry"),
    ],
)
def test_garbage_is_refused_with_a_reason(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        AvroCodec(registry_url="").decode(data)


def test_truncated_body_is_refused() -> None:
    codec = AvroCodec()
    data = codec.encode(CUSTOMER_EVENT, customer_event())
    with pytest.raises(DecodeError, match="body does not match"):
        codec.decode(data[:20])


def test_trailing_bytes_are_refused() -> None:
    codec = AvroCodec()
    data = codec.encode(CUSTOMER_EVENT, customer_event())
    with pytest.raises(DecodeError, match="3 bytes after the record"):
        codec.decode(data + b"xyz")


def test_expected_type_is_enforced() -> None:
    codec = AvroCodec()
    data = codec.encode(CUSTOMER_EVENT, customer_event())
    with pytest.raises(DecodeError, match=r"expected a com\.qbsync\.pipeline\.Result record"):
        codec.decode(data, expected="com.qbsync.pipeline.Result")


def test_encoding_a_bad_record_names_the_problem() -> None:
    event = customer_event()
    event["envelope"] = {**event["envelope"], "kind": "EXPLODED"}
    with pytest.raises(EncodeError, match="EXPLODED"):
        AvroCodec().encode(CUSTOMER_EVENT, event)


def test_an_unknown_registry_id_is_bad_data(fake_registry: FakeRegistry) -> None:
    with pytest.raises(DecodeError, match="schema id 9: not in the schema registry"):
        AvroCodec(registry=fake_registry).decode(b"\x00\x00\x00\x00\x09body")


def test_a_registry_id_of_an_unknown_record_is_bad_data(fake_registry: FakeRegistry) -> None:
    schema_id = fake_registry.put({"type": "record", "name": "x.Other", "fields": []})
    with pytest.raises(DecodeError, match=r"'x\.Other', which this qbsync does not know"):
        AvroCodec(registry=fake_registry).decode(b"\x00" + struct.pack(">I", schema_id) + b"")


def test_an_unreachable_registry_is_not_bad_data(fake_registry: FakeRegistry) -> None:
    """A registry outage must stop the consumer, not dead-letter every event."""
    data = AvroCodec(registry=fake_registry).encode(CUSTOMER_EVENT, customer_event())
    fake_registry.down = True
    with pytest.raises(RegistryUnavailable, match="did not answer"):
        AvroCodec(registry=fake_registry).decode(data)
    with pytest.raises(RegistryUnavailable, match="did not answer"):
        AvroCodec(registry=fake_registry).encode(CUSTOMER_EVENT, customer_event())
    with pytest.raises(RegistryUnavailable):
        AvroCodec(registry_url="http://127.0.0.1:9").encode(CUSTOMER_EVENT, customer_event())


def test_a_refused_registration_is_an_encode_error(fake_registry: FakeRegistry) -> None:
    fake_registry.refuse = 409
    with pytest.raises(EncodeError, match="refused it \\(HTTP 409: Schema being registered is"):
        AvroCodec(registry=fake_registry).encode(CUSTOMER_EVENT, customer_event())


def test_an_incompatible_writer_in_the_registry_is_bad_data(fake_registry: FakeRegistry) -> None:
    """Someone registered a different shape under our record name: refuse, do not guess."""
    foreign = {
        "type": "record",
        "name": "CustomerEvent",
        "namespace": "com.qbsync.events",
        "fields": [{"name": "envelope", "type": "int"}],
    }
    schema_id = fake_registry.put(foreign)
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.schema.parse_schema(foreign), {"envelope": 7})
    data = b"\x00" + struct.pack(">I", schema_id) + body.getvalue()
    with pytest.raises(DecodeError, match=f"from registry schema id {schema_id}: cannot be read"):
        AvroCodec(registry=fake_registry).decode(data)
