"""The readers generated per schema: fastavro's records from every body of every schema, an
error wherever fastavro fails on a cut or corrupted one (and fastavro's record wherever it does
not), and the codec reading through them."""

from __future__ import annotations

import copy
import io
import struct
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import fastavro.logical_readers
import fastavro.schema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.contracts import (
    AvroCodec,
    DecodeError,
    load_released,
    load_schemas,
    sample,
    variants_for,
)
from core.contracts._compiled_read import compile_reader
from tests.core.contracts.conftest import FakeRegistry
from tests.core.contracts.test_compiled import (
    CASES,
    COMMAND,
    NAMES,
    SCHEMAS,
    Values,
    fastavro_body,
)

CUSTOMER_EVENT = "com.qbsync.events.CustomerEvent"
RECORDS = sorted(n for n, doc in SCHEMAS.standalone.items() if doc["type"] == "record")
# What the generated reader raises on bytes that do not read: a subset of what the codec turns
# into a DecodeError (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError).
READ_ERRORS = (EOFError, ValueError)

# What the writers' schema does not have and the reader reads differently: unions without null
# or of more branches, a one-branch union, two-byte enum indexes, maps of records, nested
# arrays, an empty record, the logical types left.
READABLE = fastavro.parse_schema(
    {
        "type": "record",
        "name": "Readable",
        "namespace": "test",
        "fields": [
            {"name": "three", "type": ["string", "long", "null"]},
            {"name": "pair", "type": ["double", "string"]},
            {"name": "one", "type": ["string"]},
            {
                "name": "many",
                "type": {"type": "enum", "name": "Many", "symbols": [f"S{i}" for i in range(90)]},
            },
            {"name": "flags", "type": {"type": "array", "items": "boolean"}},
            {
                "name": "grid",
                "type": {"type": "array", "items": {"type": "array", "items": "float"}},
            },
            {
                "name": "by_key",
                "type": {
                    "type": "map",
                    "values": [
                        "null",
                        {
                            "type": "record",
                            "name": "Cell",
                            "fields": [
                                {"name": "blob", "type": "bytes"},
                                {"name": "many", "type": "Many"},
                            ],
                        },
                    ],
                },
            },
            {"name": "nothing", "type": {"type": "record", "name": "Nothing", "fields": []}},
            {
                "name": "amount",
                "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
            },
            {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
            {"name": "ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "local_us", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
            {"name": "on", "type": {"type": "int", "logicalType": "date"}},
        ],
    }
)
READ_CASES = {**CASES, "test.Readable": READABLE}

# Small schemas whose bodies random bytes often are, to fuzz each reading against fastavro's.
SMALL_SCHEMAS: list[Any] = [
    "null",
    "boolean",
    "int",
    "long",
    "float",
    "double",
    "bytes",
    "string",
    {"type": "fixed", "name": "F3", "size": 3},
    {"type": "enum", "name": "E3", "symbols": ["A", "B", "C"]},
    {"type": "enum", "name": "E70", "symbols": [f"S{i}" for i in range(70)]},
    ["null", "string"],
    ["long", "null", "boolean"],
    {"type": "array", "items": "long"},
    {"type": "map", "values": "int"},
    {"type": "array", "items": {"type": "map", "values": ["null", "string"]}},
    *(
        {"type": base, "logicalType": logical}
        for base, logical in [
            ("int", "date"),
            ("int", "time-millis"),
            ("long", "time-micros"),
            ("long", "timestamp-millis"),
            ("long", "timestamp-micros"),
            ("long", "local-timestamp-millis"),
            ("long", "local-timestamp-micros"),
            ("string", "uuid"),
        ]
    ),
    {"type": "bytes", "logicalType": "decimal", "precision": 5, "scale": 2},
    {"type": "fixed", "name": "D4", "size": 4, "logicalType": "decimal", "precision": 9},
]
SMALL = {str(schema): fastavro.parse_schema(schema) for schema in SMALL_SCHEMAS}
# Bytes that make varints odd: over-long, negative, the most negative, ten bytes and more.
EDGE_BYTES = [
    b"\x00",
    b"\x01",
    b"\x02",
    b"\x03",
    b"\x7f",
    b"\x80",
    b"\xff",
    b"\x80\x00",
    b"\x81\x00",  # an over-long -1
    b"\x83\x80\x00",  # an over-long -2
    b"\xff" * 9 + b"\x01",
    b"\xfe" * 9 + b"\x01",
    b"\x80" * 10 + b"\x01",
    b"\xff" * 11 + b"\x7f",
    b"\xfe\xff\xff\xff\x0f",
    b"\xff\xff\xff\xff\x0f",
    b"\xed\xa0\x80",  # an encoded surrogate: not UTF-8
]
BYTES = st.one_of(
    st.binary(max_size=24),
    st.lists(st.one_of(st.sampled_from(EDGE_BYTES), st.binary(max_size=3)), max_size=6).map(
        b"".join
    ),
)


def reader(schema: Any) -> Any:
    read = compile_reader(schema)
    assert read is not None
    return read


READERS = {name: reader(schema) for name, schema in READ_CASES.items()}


def fastavro_read(schema: Any, body: bytes) -> tuple[Any, int]:
    stream = io.BytesIO(body)
    return fastavro.schemaless_reader(stream, schema, None), stream.tell()


def same(got: Any, want: Any) -> bool:
    """Equal, of the same types all the way down, dict keys in the same order; a float to the
    bit (NaNs and -0.0), a decimal to its digits and exponent, a datetime with its tzinfo."""
    if type(got) is not type(want):
        return False
    if isinstance(got, dict):
        return list(got) == list(want) and all(same(got[k], want[k]) for k in got)
    if isinstance(got, list | tuple):
        return len(got) == len(want) and all(same(g, w) for g, w in zip(got, want, strict=True))
    if isinstance(got, float):
        return struct.pack("<d", got) == struct.pack("<d", want)
    if isinstance(got, Decimal):
        return bool(got.as_tuple() == want.as_tuple())
    if isinstance(got, datetime):
        return bool(got == want and got.tzinfo == want.tzinfo)
    return bool(got == want)


def check_against_fastavro(schema: Any, read: Any, body: bytes) -> bool:
    """The reader fails where fastavro does, else reads what it reads; True: both read it."""
    try:
        want, used = fastavro_read(schema, body)
    except Exception:  # anything fastavro raises: the reader must refuse too
        with pytest.raises(READ_ERRORS):
            read(body)
        return False
    got, consumed = read(body)
    assert same(got, want), (got, want)
    assert consumed == used
    return True


class ReadValues(Values):
    """test_compiled's values, for unions without null and the logical types it leaves out,
    and for a logical type only values of it (fastavro writes any long for a timestamp, and
    cannot read most of them back)."""

    def of(self, schema: Any) -> st.SearchStrategy[Any]:
        if isinstance(schema, dict):
            key = f"{schema['type']}-{schema.get('logicalType')}"
            if key in fastavro.logical_readers.LOGICAL_READERS:
                return self.logical(schema)
        return super().of(schema)

    def union(self, branches: list[Any]) -> st.SearchStrategy[Any]:
        if "null" in branches:
            return super().union(branches)
        return st.one_of(*(self.of(b) for b in branches))

    def logical(self, schema: Any) -> st.SearchStrategy[Any]:
        if schema["logicalType"] == "local-timestamp-micros":
            return st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1))
        return super().logical(schema)


RECORD_STRATEGIES = {name: ReadValues(schema).of(schema) for name, schema in READ_CASES.items()}


def body_of(name: str, data: st.DataObject) -> bytes:
    return fastavro_body(READ_CASES[name], data.draw(RECORD_STRATEGIES[name]))


# --- fastavro's records -----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_schema_compiles(name: str) -> None:
    assert compile_reader(SCHEMAS.parsed[name]) is not None


@pytest.mark.parametrize("name", list(READ_CASES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), tail=st.binary(max_size=4))
def test_records_read_as_fastavro_reads_them(name: str, data: st.DataObject, tail: bytes) -> None:
    """Also with bytes after the record, which the reader leaves unread as fastavro does."""
    body = body_of(name, data)
    want, used = fastavro_read(READ_CASES[name], body + tail)
    assert used == len(body)
    got, consumed = READERS[name](body + tail)
    assert same(got, want), (got, want)
    assert consumed == len(body)


@pytest.mark.parametrize("name", NAMES)
def test_every_sample_reads_as_fastavro_reads_it(name: str) -> None:
    for variant in range(variants_for(SCHEMAS.standalone[name]) + 1):
        body = fastavro_body(
            SCHEMAS.parsed[name], sample(SCHEMAS.standalone[name], variant=variant)
        )
        assert check_against_fastavro(SCHEMAS.parsed[name], READERS[name], body)


# --- cut and corrupted bodies ----------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_every_cut_of_a_sample_is_refused(name: str) -> None:
    body = fastavro_body(SCHEMAS.parsed[name], sample(SCHEMAS.standalone[name], variant=1))
    for cut in range(len(body)):
        assert not check_against_fastavro(SCHEMAS.parsed[name], READERS[name], body[:cut])


@pytest.mark.parametrize("name", list(READ_CASES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_cut_body_is_refused(name: str, data: st.DataObject) -> None:
    body = body_of(name, data)
    assert body
    cut = data.draw(st.integers(0, len(body) - 1))
    assert not check_against_fastavro(READ_CASES[name], READERS[name], body[:cut])


def corrupt(body: bytes, data: st.DataObject) -> bytes:
    """``body`` with bytes replaced, put in or taken out, at one place."""
    at = data.draw(st.integers(0, len(body)))
    chunk = data.draw(st.one_of(st.sampled_from(EDGE_BYTES), st.binary(min_size=1, max_size=6)))
    how = data.draw(st.sampled_from(["replace", "insert", "delete", "flip"]))
    if how == "replace":
        return body[:at] + chunk + body[at + len(chunk) :]
    if how == "insert":
        return body[:at] + chunk + body[at:]
    if how == "delete":
        return body[:at] + body[at + len(chunk) :]
    if at == len(body):
        return body + chunk
    bit = data.draw(st.integers(0, 7))
    return body[:at] + bytes([body[at] ^ (1 << bit)]) + body[at + 1 :]


@pytest.mark.parametrize("name", list(READ_CASES))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_corrupted_body_reads_as_fastavro_reads_it_or_is_refused(
    name: str, data: st.DataObject
) -> None:
    body = corrupt(body_of(name, data), data)
    check_against_fastavro(READ_CASES[name], READERS[name], body)


@pytest.mark.parametrize("name", list(SMALL))
@settings(max_examples=150, deadline=None)
@given(body=BYTES)
def test_any_bytes_read_as_fastavro_reads_them_or_are_refused(name: str, body: bytes) -> None:
    check_against_fastavro(SMALL[name], reader(SMALL[name]), body)


def varint(value: int) -> bytes:
    return fastavro_body("long", value)


@pytest.mark.parametrize(
    "logical",
    ["timestamp-millis", "timestamp-micros", "local-timestamp-millis", "local-timestamp-micros"],
)
@settings(max_examples=300, deadline=None)
@given(
    value=st.one_of(
        st.integers(-(2**63), 2**63 - 1),
        st.integers(-(10**17), 10**17),
        st.sampled_from([-(2**63), 2**63 - 1, 0, -1, 253402300799999, 253402300800000]),
        st.sampled_from([-62135596800000, -62135596800001, 253402300799999999]),
        st.sampled_from([253402300800000000, -62135596800000000, -62135596800000001]),
    )
)
def test_timestamps_convert_as_fastavros_converters_do(logical: str, value: int) -> None:
    """The reader does fastavro's arithmetic for timestamps itself: the same datetime for
    every long, a refusal where fastavro's converter raises."""
    schema = fastavro.parse_schema({"type": "long", "logicalType": logical})
    check_against_fastavro(schema, reader(schema), varint(value))


# --- what bytes no writer makes read as ----------------------------------------------------


def read_both(schema: Any, body: bytes) -> Any:
    schema = fastavro.parse_schema(schema)
    got, consumed = reader(schema)(body)
    assert same((got, consumed), fastavro_read(schema, body))
    return got


def test_what_fastavro_takes_it_takes_with_the_same_value() -> None:
    three = {"type": "enum", "name": "Three", "symbols": ["A", "B", "C"]}
    assert read_both("boolean", b"\x05") is True
    assert read_both("long", b"\x80" * 10 + b"\x01") == 32  # 1 << 70 is 1 << 6 in C
    assert read_both("long", b"\xfe" * 10 + b"\x01") == 4575373530093313983
    assert read_both("int", b"\xfe\xff\xff\xff\x7f") == 2**34 - 1  # no 32-bit check
    assert read_both(three, b"\x01") == "C"  # -1: from the end
    assert read_both(["null", "string"], b"\x01\x02a") == "a"
    assert read_both(["null", "string"], b"\x80\x00") is None  # an over-long 0
    assert read_both(["null", "string"], b"\x81\x00\x02a") == "a"  # an over-long -1
    assert read_both(three, b"\x83\x80\x00") == "B"  # an over-long -2
    # A block count of -2**63: no items, the array goes on
    long_min = b"\xff" * 9 + b"\x01"
    assert read_both({"type": "array", "items": "long"}, long_min + b"\x00\x02\x04\x00") == [2]
    assert read_both({"type": "array", "items": "long"}, b"\x03\x08\x02\x04\x00") == [1, 2]


@pytest.mark.parametrize(
    ("schema", "body", "error", "message"),
    [
        ("string", b"\x01abc", ValueError, "a string of -1 bytes"),
        ("bytes", b"\xff" * 9 + b"\x01", ValueError, "-9223372036854775808 bytes"),
        ("string", b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f", EOFError, "in the 0 bytes left"),
        ("string", b"\x02\xff", UnicodeDecodeError, "can't decode byte 0xff"),
        ("double", b"\x00" * 7, EOFError, r"the body ends inside a value \(7 bytes\)"),
        ("long", b"\x80\x80", EOFError, "the body ends inside a value"),
        (["null", "long"], b"\x04", ValueError, "branch 2 of a union of 2"),
        (["null", "long"], b"\x05", ValueError, "branch -3 of a union of 2"),
        (
            {"type": "enum", "name": "E", "symbols": ["A"]},
            b"\x80\x01",
            ValueError,
            "symbol 64 of an enum of 1",
        ),
        (
            {"type": "array", "items": "long"},
            b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f\x00",
            EOFError,
            "4611686018427387903 items in the 1 bytes left",
        ),
        (
            {"type": "map", "values": "string"},
            b"\x81\x01\x00\x00",
            EOFError,
            "65 items in the 1 bytes left",
        ),
        (
            {"type": "int", "logicalType": "date"},
            b"\xfe\xff\xff\xff\x0f",
            ValueError,
            r"cannot convert the int \(date\) \(OverflowError",
        ),
        (
            {"type": "long", "logicalType": "timestamp-millis"},
            b"\xfe\xff\xff\xff\xff\xff\xff\xff\x7f",
            ValueError,
            r"cannot convert the long \(timestamp-millis\)",
        ),
        ({"type": "string", "logicalType": "uuid"}, b"\x02a", ValueError, "UUID"),
    ],
)
def test_bytes_that_do_not_read_are_refused_with_a_reason(
    schema: Any, body: bytes, error: type[Exception], message: str
) -> None:
    """Lengths and counts are checked against the bytes left before anything is read or
    allocated, so a huge or negative one is refused at once."""
    parsed = fastavro.parse_schema(schema)
    with pytest.raises(Exception):  # noqa: B017 - whatever fastavro raises
        fastavro_read(parsed, body)
    with pytest.raises(error, match=message):
        reader(parsed)(body)


def test_errors_name_the_field() -> None:
    read = READERS[COMMAND]
    body = fastavro_body(SCHEMAS.parsed[COMMAND], sample(SCHEMAS.standalone[COMMAND], variant=1))
    # the first field, command_id, is a UUID: its length byte made odd
    with pytest.raises(ValueError, match=r"^field command_id: a string of -\d+ bytes$"):
        read(bytes([body[0] | 1]) + body[1:])
    uuid_text = body[1 : 1 + body[0] // 2]
    with pytest.raises(ValueError, match=r"^field command_id: cannot convert the string \(uuid\)"):
        read(body[:1] + b"x" * len(uuid_text) + body[1 + len(uuid_text) :])


# --- what it leaves to fastavro ------------------------------------------------------------


def nested_arrays(depth: int) -> Any:
    kind: Any = "long"
    for _ in range(depth):
        kind = {"type": "array", "items": kind}
    return kind


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "test.Node"],
        {"type": "array", "items": "null"},
        {"type": "array", "items": {"type": "record", "name": "Empty", "fields": []}},
        {"type": "array", "items": {"type": "fixed", "name": "Zero", "size": 0}},
        nested_arrays(25),
    ],
    ids=["recursive", "array of nulls", "array of empty records", "array of size 0", "deep"],
)
def test_what_it_does_not_support_is_left_to_fastavro(field_type: Any) -> None:
    schema = fastavro.parse_schema(
        {
            "type": "record",
            "name": "Node",
            "namespace": "test",
            "fields": [{"name": "x", "type": field_type}],
        }
    )
    assert compile_reader(schema) is None


# --- through the codec ---------------------------------------------------------------------


@pytest.fixture
def fastavro_reads(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The reader schema of every call of fastavro's reader (which still reads)."""
    calls: list[Any] = []
    real = fastavro.schemaless_reader

    def spy(stream: Any, writer_schema: Any, reader_schema: Any = None, **options: Any) -> Any:
        calls.append(reader_schema)
        return real(stream, writer_schema, reader_schema, **options)

    monkeypatch.setattr(fastavro, "schemaless_reader", spy)
    return calls


def test_the_codec_reads_current_data_with_the_generated_readers(
    fastavro_reads: list[Any],
) -> None:
    codec = AvroCodec(registry_url="")
    for name in RECORDS:
        for variant in range(variants_for(SCHEMAS.standalone[name]) + 1):
            record = sample(SCHEMAS.standalone[name], variant=variant)
            assert codec.decode(codec.encode(name, record)) == (name, record)
    assert fastavro_reads == []
    readers = codec._readers  # the cache: one generated reader per schema
    assert readers is not None
    assert sorted(w.name for w in readers) == RECORDS
    assert all(read is not None for read in readers.values())


def test_without_compiled_readers_fastavro_reads(fastavro_reads: list[Any]) -> None:
    codec = AvroCodec(registry_url="", compiled_readers=False)
    record = sample(SCHEMAS.standalone[CUSTOMER_EVENT], variant=1)
    assert codec.decode(codec.encode(CUSTOMER_EVENT, record)) == (CUSTOMER_EVENT, record)
    assert fastavro_reads == [None]


def released_message(name: str, *, legacy: bool) -> tuple[bytes, bytes, Any]:
    """0.1.0's data: the message, the fingerprint in its header, the record written."""
    snapshot = load_released()["0.1.0"]
    record = sample(snapshot.standalone[name], variant=1)
    body = fastavro_body(snapshot.schema(name), record)
    if legacy:
        fingerprint = next(fp for fp, n in snapshot.legacy_fingerprints.items() if n == name)
    else:
        fingerprint = snapshot.fingerprint(name)
    return b"\xc3\x01" + fingerprint + body, fingerprint, record


def without_new_fields(decoded: Any, written: Any) -> Any:
    if isinstance(decoded, dict) and isinstance(written, dict):
        return {k: without_new_fields(decoded[k], v) for k, v in written.items()}
    if isinstance(decoded, list) and isinstance(written, list):
        return [without_new_fields(d, w) for d, w in zip(decoded, written, strict=True)]
    return decoded


@pytest.mark.parametrize("legacy", [False, True], ids=["standard", "0.1.0-fingerprint"])
def test_data_of_an_older_release_is_resolved_by_fastavro(
    fastavro_reads: list[Any], legacy: bool
) -> None:
    """Data written with a schema that is not the current one needs resolving: fastavro, with
    the current schema as the reader's. Data of an unchanged schema reads as current data."""
    codec = AvroCodec(registry_url="")
    resolved = []
    for name in sorted(load_released()["0.1.0"].parsed):
        data, fingerprint, written = released_message(name, legacy=legacy)
        before = len(fastavro_reads)
        decoded_name, decoded = codec.decode(data)
        assert decoded_name == name
        assert without_new_fields(decoded, written) == written
        if fingerprint == SCHEMAS.fingerprints[name]:
            assert len(fastavro_reads) == before
        else:
            assert fastavro_reads[before:] == [SCHEMAS.parsed[name]]
            resolved.append(name)
    assert CUSTOMER_EVENT in resolved


def test_a_registry_schema_with_our_fingerprint_reads_with_its_own_logical_types(
    fake_registry: FakeRegistry, fastavro_reads: list[Any]
) -> None:
    """The fingerprint leaves logical types out: a publisher's schema without ours reads as
    fastavro reads it (a UUID as its string), by a reader generated for that schema."""
    document = copy.deepcopy(SCHEMAS.standalone[CUSTOMER_EVENT])
    envelope = next(f for f in document["fields"] if f["name"] == "envelope")["type"]
    next(f for f in envelope["fields"] if f["name"] == "event_id")["type"] = "string"
    canonical = fastavro.schema.to_parsing_canonical_form(fastavro.parse_schema(document))
    fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
    assert fingerprint == SCHEMAS.fingerprints[CUSTOMER_EVENT]
    record = sample(SCHEMAS.standalone[CUSTOMER_EVENT], variant=1)
    body = fastavro_body(SCHEMAS.parsed[CUSTOMER_EVENT], record)
    data = b"\x00" + struct.pack(">I", fake_registry.put(document)) + body

    _, decoded = AvroCodec(registry=fake_registry).decode(data)
    assert decoded["envelope"]["event_id"] == str(record["envelope"]["event_id"])
    assert fastavro_reads == []
    _, by_fastavro = AvroCodec(registry=fake_registry, compiled_readers=False).decode(data)
    assert fastavro_reads == [None]
    assert same(decoded, by_fastavro)
    # ... while data with our own schema's fingerprint still reads the UUID
    ours = AvroCodec(registry_url="")
    assert ours.decode(ours.encode(CUSTOMER_EVENT, record)) == (CUSTOMER_EVENT, record)


CODECS: dict[str, Callable[[], AvroCodec]] = {
    "generated": lambda: AvroCodec(registry_url=""),
    "fastavro": lambda: AvroCodec(registry_url="", compiled_readers=False),
}


@pytest.mark.parametrize("codec", list(CODECS))
def test_every_cut_of_a_message_is_a_decode_error_naming_the_schema(codec: str) -> None:
    decoder = CODECS[codec]()
    data = decoder.encode(CUSTOMER_EVENT, sample(SCHEMAS.standalone[CUSTOMER_EVENT], variant=1))
    for cut in range(10, len(data)):
        with pytest.raises(DecodeError, match=rf"^{CUSTOMER_EVENT}: body does not match"):
            decoder.decode(data[:cut])


@pytest.mark.parametrize("codec", list(CODECS))
def test_trailing_bytes_are_still_refused(codec: str) -> None:
    decoder = CODECS[codec]()
    data = decoder.encode(COMMAND, sample(SCHEMAS.standalone[COMMAND], variant=1))
    with pytest.raises(DecodeError, match=rf"^{COMMAND}: 3 bytes after the record$"):
        decoder.decode(data + b"xyz")


@pytest.mark.parametrize("codec", list(CODECS))
@pytest.mark.parametrize(
    ("field", "value"),
    [("occurred_at", 2**62), ("source_updated_at", -(2**62))],
)
def test_a_timestamp_past_pythons_range_is_a_decode_error(
    codec: str, field: str, value: int
) -> None:
    """fastavro's converter raises OverflowError there, which the codec let through."""
    record = sample(SCHEMAS.standalone[CUSTOMER_EVENT], variant=1)
    record["envelope"][field] = value
    decoder = CODECS[codec]()
    data = decoder.encode(CUSTOMER_EVENT, record)
    with pytest.raises(DecodeError, match=rf"^{CUSTOMER_EVENT}: body does not match"):
        decoder.decode(data)


def test_reading_is_fastavros_for_what_it_does_not_compile(
    tmp_path: Path, fastavro_reads: list[Any]
) -> None:
    document = (
        '{"type": "record", "name": "Rows", "namespace": "test",'
        ' "fields": [{"name": "x", "type": {"type": "array", "items": "null"}}]}'
    )
    (tmp_path / "test.Rows.avsc").write_text(document, encoding="utf-8")
    codec = AvroCodec(load_schemas(tmp_path), registry_url="")
    assert codec.decode(codec.encode("test.Rows", {"x": [None, None]})) == (
        "test.Rows",
        {"x": [None, None]},
    )
    assert fastavro_reads == [None]


def test_dates_and_decimals_keep_their_types() -> None:
    """A sanity check that the property tests compare types, not only equality."""
    assert not same(Decimal("1.0"), Decimal("1.00"))
    assert not same(1, 1.0)
    assert not same({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert not same(0.0, -0.0)
    assert same(date(2026, 1, 1), date(2026, 1, 1))
