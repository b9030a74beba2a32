"""The writers generated per schema: fastavro's bytes for every valid record of every schema,
fastavro's validation's verdict for any other, and the codec's errors for bad records."""

from __future__ import annotations

import copy
import enum
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import fastavro
import fastavro.logical_writers
import fastavro.validation
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.contracts import (
    ENTITIES,
    SCHEMA_REGISTRY,
    AvroCodec,
    EncodeError,
    load_schemas,
    sample,
    variants_for,
)
from core.contracts._compiled import compile_writer
from core.messages import Command, QboRequest
from tests.core.contracts.conftest import FakeRegistry

SCHEMAS = load_schemas()
COMMAND = "com.qbsync.pipeline.Command"
# What the pipeline writes and what the worker reads: a fallback to fastavro here is the
# slowness of issue #20 back, so these must compile.
MUST_COMPILE = sorted(
    {
        COMMAND,
        "com.qbsync.pipeline.Result",
        "com.qbsync.pipeline.DeadLetter",
        "com.qbsync.pipeline.Imported",
        "com.qbsync.events.QuickBooksChange",
        "com.qbsync.events.SyncStatus",
        *(spec.event_schema for spec in ENTITIES),
    }
)
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Every type and logical type the generator knows, beyond what qbsync's schemas use.
EVERYTHING = fastavro.parse_schema(
    {
        "type": "record",
        "name": "Everything",
        "namespace": "test",
        "fields": [
            {"name": "f", "type": "float"},
            {"name": "d", "type": "double"},
            {"name": "nd", "type": ["null", "double"]},
            {"name": "m", "type": {"type": "map", "values": ["null", "long"]}},
            {"name": "mm", "type": {"type": "map", "values": {"type": "array", "items": "int"}}},
            {"name": "fx", "type": {"type": "fixed", "name": "Four", "size": 4}},
            {"name": "fx_again", "type": ["Four", "null"]},
            {
                "name": "money",
                "type": {
                    "type": "fixed",
                    "name": "Money",
                    "size": 8,
                    "logicalType": "decimal",
                    "precision": 12,
                    "scale": 3,
                },
            },
            {"name": "tm", "type": {"type": "int", "logicalType": "time-millis"}},
            {"name": "tu", "type": {"type": "long", "logicalType": "time-micros"}},
            {"name": "us", "type": {"type": "long", "logicalType": "timestamp-micros"}},
            {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
            {"name": "odd", "type": {"type": "string", "logicalType": "not-known"}},
            {"name": "when", "type": [{"type": "int", "logicalType": "date"}, "null"]},
            {"name": "b", "type": ["null", "boolean"], "default": None},
            {"name": "e", "type": ["null", {"type": "enum", "name": "E", "symbols": ["A", "B"]}]},
            {
                "name": "rows",
                "type": {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "Row",
                        "fields": [
                            {"name": "e", "type": "E", "default": "B"},
                            {"name": "n", "type": "null"},
                            {"name": "tags", "type": {"type": "array", "items": "string"}},
                        ],
                    },
                },
            },
            {"name": "last", "type": ["null", "Row"]},
        ],
    }
)
NAMES = sorted(SCHEMAS.parsed)
CASES = {name: SCHEMAS.parsed[name] for name in NAMES} | {"test.Everything": EVERYTHING}


def fastavro_body(schema: Any, record: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def fastavro_accepts(schema: Any, record: Any) -> bool:
    try:
        return bool(fastavro.validation.validate(record, schema, raise_errors=False))
    except (ValueError, TypeError):  # a converter refused it (a date string that is none)
        return False


@cache
def writer(name: str) -> Any:
    return compile_writer(CASES[name])


# --- records made from a schema ---------------------------------------------------------------

JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.lists(st.integers(0, 3), max_size=2),
    st.dictionaries(st.sampled_from(["a", "n"]), st.integers(), max_size=1),
)


def integers(low: int, high: int) -> st.SearchStrategy[int]:
    """Bounds, the edges of the one-byte varints and of the look-up tables, anything between."""
    edges = [low, high, low + 1, high - 1, 0, -1, 63, 64, -64, -65, 8191, 8192, -8193]
    return st.one_of(
        st.sampled_from([e for e in edges if low <= e <= high]), st.integers(low, high)
    )


def datetimes() -> st.SearchStrategy[datetime]:
    offsets = st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
    aware = st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.one_of(st.just(UTC), st.builds(timezone, offsets)),
    )
    naive = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1))
    return st.one_of(aware, naive)


def decimals(precision: int, scale: int) -> st.SearchStrategy[Decimal]:
    """At most ``precision`` digits, at most ``scale`` of them after the point."""

    def make(unscaled: int, places: int) -> Decimal:
        return Decimal(unscaled).scaleb(-places)

    digits = st.integers(-(10 ** min(precision, 12)) + 1, 10 ** min(precision, 12) - 1)
    return st.builds(make, digits, st.integers(0, scale))


def texts() -> st.SearchStrategy[str]:
    return st.one_of(
        st.text(),
        st.text(min_size=64, max_size=80),  # a two-byte length
        st.sampled_from(["", "名前", "Ünïcode & <Sons>", "x" * 9000]),  # 9000: three bytes
    )


class Values:
    """Strategies for the valid values of a parsed schema."""

    def __init__(self, schema: Any) -> None:
        self.named: Mapping[str, Any] = (
            schema.get("__named_schemas", {}) if isinstance(schema, dict) else {}
        )

    def of(self, schema: Any) -> st.SearchStrategy[Any]:
        if isinstance(schema, list):
            return self.union(schema)
        if isinstance(schema, str):
            return self.of(self.named[schema]) if schema in self.named else self.primitive(schema)
        kind, logical = schema["type"], schema.get("logicalType")
        if logical is not None and f"{kind}-{logical}" in fastavro.logical_writers.LOGICAL_WRITERS:
            return st.one_of(self.primitive(kind, schema), self.logical(schema))
        if kind == "record":
            return self.record(schema)
        if kind == "enum":
            return self.enum(schema["symbols"])
        if kind == "array":
            items = self.of(schema["items"])
            short = st.lists(items, max_size=3)
            long = st.lists(items, min_size=1, max_size=2).map(lambda xs: xs * 40)
            return st.one_of(short, long, short.map(tuple))
        if kind == "map":
            values = self.of(schema["values"])
            long = values.map(lambda v: {f"k{i}": v for i in range(70)})
            return st.one_of(st.dictionaries(texts(), values, max_size=3), long)
        return self.primitive(kind, schema)

    def primitive(self, kind: str, schema: Any = None) -> st.SearchStrategy[Any]:
        if kind == "fixed":
            size = schema["size"]
            exact = st.binary(min_size=size, max_size=size)
            return st.one_of(exact, exact.map(bytearray))
        return {
            "null": st.none(),
            "boolean": st.booleans(),
            "int": integers(*INT32),
            "long": integers(*INT64),
            "float": st.one_of(st.floats(width=32), st.floats(), integers(-(2**40), 2**40)),
            "double": st.one_of(st.floats(), integers(-(2**60), 2**60)),
            "string": texts(),
            "bytes": st.one_of(st.binary(), st.binary().map(bytearray)),
        }[kind]

    def logical(self, schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
        logical = schema["logicalType"]
        if logical == "uuid":
            return st.one_of(st.uuids(), st.uuids().map(str))
        if logical == "date":
            return st.one_of(st.dates(), st.dates().map(date.isoformat), datetimes())
        if logical in {"timestamp-millis", "timestamp-micros", "local-timestamp-millis"}:
            return datetimes()
        if logical in {"time-millis", "time-micros"}:
            return st.times()
        assert logical == "decimal", logical
        return decimals(schema["precision"], schema.get("scale", 0))

    def record(self, schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        required, optional = {}, {}
        for field in schema["fields"]:
            kind = field["type"]
            may_lack = "default" in field or (isinstance(kind, list) and "null" in kind)
            chosen = optional if may_lack else required
            chosen[field["name"]] = self.of(kind)
        optional["zz_not_in_the_schema"] = st.integers()  # fastavro ignores extra keys
        return st.fixed_dictionaries(required, optional=optional)

    def enum(self, symbols: list[str]) -> st.SearchStrategy[Any]:
        # A StrEnum hashes by its name: equal to a symbol, yet missed by a dict look-up.
        members = enum.StrEnum("Symbols", {f"S{i}": s for i, s in enumerate(symbols)})
        return st.one_of(st.sampled_from(symbols), st.sampled_from(list(members)))

    def union(self, branches: list[Any]) -> st.SearchStrategy[Any]:
        """Each branch, and each in fastavro's tuple notation ``(name, value)`` where both its
        writer and its validation name it (a primitive, a named reference, a record)."""
        named = [b for b in branches if b != "null" and tag(b) is not None]
        tagged = [st.tuples(st.just(tag(b)), self.of(b)) for b in named]
        null = st.tuples(st.just("null"), st.none())
        return st.one_of(*(self.of(b) for b in branches), *tagged, null)


def tag(branch: Any) -> str | None:
    if isinstance(branch, dict):
        return str(branch["name"]) if branch["type"] == "record" else None
    return str(branch)


@cache
def records(name: str) -> st.SearchStrategy[Any]:
    return Values(CASES[name]).of(CASES[name])


def spots(value: Any) -> Iterator[tuple[Any, Any]]:
    """Every (container, key or index) in a record, nested ones included."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield value, key
            yield from spots(inner)
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield value, index
            yield from spots(inner)
    elif isinstance(value, tuple):  # tuple notation: what it holds
        for inner in value:
            yield from spots(inner)


def spoil(record: Any, data: st.DataObject) -> Any:
    """``record`` with one value replaced by anything, or one key left out."""
    record = copy.deepcopy(record)
    places = list(spots(record))
    if places:
        container, key = data.draw(st.sampled_from(places))
        if isinstance(container, dict) and data.draw(st.booleans()):
            del container[key]
        else:
            container[key] = data.draw(JUNK)
    return record


# --- the same bytes as fastavro ---------------------------------------------------------------


@pytest.mark.parametrize("name", MUST_COMPILE)
def test_the_pipelines_schemas_compile(name: str) -> None:
    assert compile_writer(SCHEMAS.parsed[name]) is not None


def test_everything_the_generator_knows_compiles() -> None:
    assert writer("test.Everything") is not None


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_records_are_written_as_fastavro_writes_them(name: str, data: st.DataObject) -> None:
    write = writer(name)
    if write is None:  # a schema the generator does not support: the codec keeps fastavro
        return
    record = data.draw(records(name))
    assert write(record) == fastavro_body(CASES[name], record)


@pytest.mark.parametrize("name", list(CASES))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_record_is_refused_exactly_when_fastavro_finds_it_invalid(
    name: str, data: st.DataObject
) -> None:
    write = writer(name)
    if write is None:
        return
    record = spoil(data.draw(records(name)), data)
    if fastavro_accepts(CASES[name], record):
        assert write(record) == fastavro_body(CASES[name], record)
    else:
        with pytest.raises((ValueError, TypeError, KeyError, AttributeError)):
            write(record)


@pytest.mark.parametrize("name", NAMES)
def test_every_sample_is_written_as_fastavro_writes_it(name: str) -> None:
    write = writer(name)
    if write is None:
        return
    for variant in range(variants_for(SCHEMAS.standalone[name]) + 1):
        record = sample(SCHEMAS.standalone[name], variant=variant)
        assert write(record) == fastavro_body(SCHEMAS.parsed[name], record)


# --- what it does not support ------------------------------------------------------------------


def nested_arrays(depth: int) -> Any:
    kind: Any = "long"
    for _ in range(depth):
        kind = {"type": "array", "items": kind}
    return kind


@pytest.mark.parametrize(
    "field_type",
    [
        ["null", "string", "long"],
        ["string", "long"],
        {"type": "array", "items": ["int", "string"]},
        ["null", "test.Node"],  # recursive: the record inside itself
        nested_arrays(25),  # deeper than Python nests blocks
    ],
    ids=["three branches", "no null", "union in an array", "recursive", "arrays 25 deep"],
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
    assert compile_writer(schema) is None


def test_the_codec_keeps_fastavro_for_a_schema_that_does_not_compile(tmp_path: Path) -> None:
    document = {
        "type": "record",
        "name": "Wide",
        "namespace": "test",
        "fields": [{"name": "x", "type": ["null", "string", "long"]}],
    }
    (tmp_path / "test.Wide.avsc").write_text(json.dumps(document), encoding="utf-8")
    codec = AvroCodec(load_schemas(tmp_path), registry_url="")
    for record in ({"x": None}, {"x": "a"}, {"x": 7}):
        assert codec.decode(codec.encode("test.Wide", record)) == ("test.Wide", record)
    with pytest.raises(EncodeError, match=r"^test\.Wide: "):
        codec.encode("test.Wide", {"x": 1.5})


# --- through the codec ---------------------------------------------------------------------


def command() -> dict[str, Any]:
    return sample(SCHEMAS.standalone[COMMAND], variant=1, seed=3)


def test_a_command_round_trips_and_its_bytes_are_fastavros() -> None:
    codec, before = AvroCodec(registry_url=""), AvroCodec(registry_url="", compiled_writers=False)
    for variant in range(variants_for(SCHEMAS.standalone[COMMAND]) + 1):
        record = sample(SCHEMAS.standalone[COMMAND], variant=variant)
        data = codec.encode(COMMAND, record)
        assert data == before.encode(COMMAND, record)
        assert codec.decode(data) == (COMMAND, record)


def test_a_command_message_round_trips() -> None:
    """What the worker sends: ids as strings, a tuple of dependencies, a nested QBO request."""
    codec = AvroCodec(registry_url="")
    sent = Command(
        command_id=str(uuid.uuid4()),
        event_id=str(uuid.uuid4()),
        tenant_id="t-1",
        profile_id="p-1",
        entity="invoice",
        entity_id="inv-9",
        action="ADD",
        request_xml="<InvoiceAddRq>" + "x" * 300 + "</InvoiceAddRq>",
        created_at=datetime(2026, 11, 21, 12, 30, 15, 123000, tzinfo=UTC),
        depends_on=("customer:c-1", "item:i-2"),
        attempt=2,
        first_failed_at=datetime(2026, 11, 21, 12, 0, tzinfo=UTC),
        conflict_policy="most_recent",
        qbo=QboRequest(operation="create", entity="Invoice", body="{}", checks=("start-date",)),
    )
    data = sent.encode(codec)
    assert data == AvroCodec(registry_url="", compiled_writers=False).encode(
        COMMAND, sent.to_avro()
    )
    assert Command.decode(codec, data) == sent


def test_the_registry_format_has_the_same_body(fake_registry: FakeRegistry) -> None:
    codec = AvroCodec(registry=fake_registry)
    assert codec.wire_format == SCHEMA_REGISTRY
    record = command()
    data = codec.encode(COMMAND, record)
    assert data[5:] == fastavro_body(SCHEMAS.parsed[COMMAND], record)
    assert data == AvroCodec(registry=fake_registry, compiled_writers=False).encode(COMMAND, record)
    assert codec.decode(data) == (COMMAND, record)


def without(record: dict[str, Any], name: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != name}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: without(r, "tenant_id"), "field tenant_id: missing"),
        (lambda r: {**r, "created_at": "yesterday"}, "field created_at: expected long"),
        (lambda r: {**r, "tenant_id": 5}, "field tenant_id: expected string, got int 5"),
        (lambda r: {**r, "entity": None}, "field entity: expected string, got NoneType"),
        (lambda r: {**r, "action": "EXPLODED"}, "'EXPLODED' is not one of ADD, MOD, QUERY"),
        (lambda r: {**r, "conflict_policy": 5}, "conflict_policy: expected null or string"),
        (lambda r: {**r, "conflict_policy": ("long", 5)}, "no branch named 'long'"),
        (
            lambda r: {**r, "qbo": {"operation": "create", "entity": "Invoice"}},
            "field qbo.body: missing",
        ),
        (lambda r: {**r, "depends_on": [b"x"]}, r"field depends_on\[\]: expected string"),
        (lambda r: {**r, "attempt": 2**31}, "2147483648 is out of range for an int"),
        (lambda r: {**r, "created_at": 2**63}, "out of range for a long"),
        (lambda r: [r], "the record: expected com.qbsync.pipeline.Command, got list"),
    ],
    ids=[
        "missing",
        "str for long",
        "int for string",
        "None for string",
        "not a symbol",
        "no union branch",
        "no tagged branch",
        "missing nested",
        "bytes in an array of strings",
        "int out of range",
        "long out of range",
        "not a mapping",
    ],
)
def test_a_bad_command_is_an_encode_error_naming_the_schema(change: Any, message: str) -> None:
    with pytest.raises(EncodeError, match=rf"^{COMMAND}: .*{message}"):
        AvroCodec(registry_url="").encode(COMMAND, change(command()))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("match_existing", None),
        ("match_existing", "no"),
        ("attempt", True),
        ("attempt", 1.5),
        ("attempt", 2**40),
        ("created_at", 1.5),
    ],
)
def test_what_only_fastavros_writer_let_through_is_refused(field: str, value: Any) -> None:
    """fastavro's writer writes these (None as false, 1.5 as 1, an int as a long's varint);
    its validation refuses them, and so does the generated writer."""
    record = {**command(), field: value}
    AvroCodec(registry_url="", compiled_writers=False).encode(COMMAND, record)
    assert not fastavro_accepts(SCHEMAS.parsed[COMMAND], record)
    with pytest.raises(EncodeError, match=f"field {field}: "):
        AvroCodec(registry_url="").encode(COMMAND, record)


def test_a_mapping_that_is_not_a_dict_is_read_as_one() -> None:
    """A defaultdict must not invent the fields it lacks; other mappings read as a dict."""

    class Frozen(Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def __getitem__(self, key: str) -> Any:
            return self.data[key]

        def __iter__(self) -> Any:
            return iter(self.data)

        def __len__(self) -> int:
            return len(self.data)

    record = command()
    write = writer(COMMAND)
    assert write(Frozen(record)) == fastavro_body(SCHEMAS.parsed[COMMAND], record)
    lacking = without(record, "attempt")
    assert write(Frozen(lacking)) == fastavro_body(SCHEMAS.parsed[COMMAND], lacking)
    defaulting = defaultdict(lambda: "x", without(record, "entity"))
    with pytest.raises(ValueError, match="field entity: missing"):
        write(defaulting)
    assert "entity" not in defaulting


def test_a_timestamp_is_fastavros_for_aware_naive_and_int_values() -> None:
    write = writer("com.qbsync.pipeline.Imported")
    base = sample(SCHEMAS.standalone["com.qbsync.pipeline.Imported"], variant=1)
    for when in (
        datetime(2026, 3, 1, 12, 0, 0, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999500, tzinfo=UTC),
        datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=-5))),
        datetime(2026, 3, 1, 12, 0, 0, 1500),
        -1,
        (datetime(2026, 3, 1, tzinfo=UTC) - EPOCH) // timedelta(milliseconds=1),
        time(1, 2),  # not a timestamp: both refuse it
    ):
        record = {**base, "imported_at": when}
        if isinstance(when, time):
            with pytest.raises(TypeError, match="field imported_at: expected long"):
                write(record)
        else:
            assert write(record) == fastavro_body(
                SCHEMAS.parsed["com.qbsync.pipeline.Imported"], record
            )
