"""Validation: every problem, each at its exact path; the JSON conventions; the examples."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.contracts import (
    EVENT_TYPES,
    AvroCodec,
    InvalidEvent,
    from_json,
    load_schemas,
    parse_json,
    sample,
    to_json,
    validate_event,
)
from core.contracts._schemas import default_schema_dir

EXAMPLES = default_schema_dir() / "examples"
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
SCHEMAS = load_schemas()
RECORDS = sorted(n for n, doc in SCHEMAS.standalone.items() if doc["type"] == "record")


def example(entity: str) -> dict[str, Any]:
    loaded: dict[str, Any] = parse_json((EXAMPLES / f"{entity}.upserted.json").read_text())
    return loaded


def problems(kind: str, event: Any, **options: Any) -> list[str]:
    with pytest.raises(InvalidEvent) as caught:
        validate_event(kind, event, now=NOW, **options)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.json")), ids=lambda p: p.stem)
def test_every_example_is_valid_and_encodes(path: Path) -> None:
    kind = path.name.removesuffix(".json")
    record = validate_event(kind, parse_json(path.read_text()), now=NOW)
    codec = AvroCodec()
    assert codec.decode(codec.encode(EVENT_TYPES[kind].schema, record))[1] == record


def test_every_entity_has_an_example() -> None:
    assert {p.name for p in EXAMPLES.glob("*.json")} == {
        f"{name}.json" for name, kind in EVENT_TYPES.items() if kind.kind == "UPSERTED"
    }


def test_every_problem_is_reported_at_its_path() -> None:
    event = example("invoice")
    invoice = event["invoice"]
    invoice["lines"][2]["amount"] = "abc"
    invoice["lines"][0]["quantity"] = Decimal("1.123456")
    invoice["lines"][1]["item"] = {}
    invoice["txn_date"] = "03/02/2026"
    invoice["status"] = "ready_for_sync"
    invoice["is_to_be_printed"] = "yes"
    invoice["lines"][1]["amunt"] = "1.00"
    del event["envelope"]["entity_id"]
    assert problems("invoice.upserted", event) == [
        "envelope.entity_id: required field is missing",
        "invoice.txn_date: expected a date as YYYY-MM-DD, got '03/02/2026'",
        "invoice.is_to_be_printed: expected true or false, got 'yes'",
        "invoice.status: expected one of DRAFT, APPROVED, READY_FOR_SYNC, got 'ready_for_sync';"
        " did you mean 'READY_FOR_SYNC'?",
        "invoice.lines[0].quantity: expected a decimal with 5 places, got 1.123456",
        "invoice.lines[1].amunt: unknown field; did you mean 'amount'?",
        "invoice.lines[1].item: give id or full_name (or both)",
        "invoice.lines[2].amount: expected a decimal with 2 places, got 'abc'",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("12.345", "expected a decimal with 2 places, got '12.345'"),
        (Decimal("12.345"), "expected a decimal with 2 places, got 12.345"),
        ("", "expected a decimal with 2 places, got ''"),
        ("NaN", "expected a decimal with 2 places, got 'NaN'"),
        (True, "expected a decimal with 2 places, got true"),
        (None, "expected a decimal with 2 places, got null"),
        ({"value": 1}, "expected a decimal with 2 places, got an object"),
        ("1e16", "expected a decimal with at most 16 digits before the point, got '1e16'"),
        (
            "-12345678901234567",
            "expected a decimal with at most 16 digits before the point, got '-12345678901234567'",
        ),
    ],
)
def test_decimal_problems(value: Any, message: str) -> None:
    event = example("payment")
    event["payment"]["amount"] = value
    assert problems("payment.upserted", event) == [f"payment.amount: {message}"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("12.5", Decimal("12.50")),
        (Decimal("12.500"), Decimal("12.50")),  # a JSON number with trailing zeros
        (12, Decimal("12.00")),
        (0.1, Decimal("0.10")),  # from Python, a float that is exactly 2 places
        ("-9999999999999999.99", Decimal("-9999999999999999.99")),
        (" 7 ", Decimal("7.00")),
    ],
)
def test_decimals_are_exact_and_scaled(value: Any, expected: Decimal) -> None:
    event = example("payment")
    event["payment"]["amount"] = value
    record = validate_event("payment.upserted", event, now=NOW)
    amount = record["payment"]["amount"]
    assert amount == expected
    assert amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("2026-03-02T14:05:11", "the timestamp needs a UTC offset (e.g. Z or -05:00)"),
        ("2026-03-02", "expected an ISO-8601 timestamp such as 2026-03-01T09:30:00Z"),
        (1772460311250, "expected an ISO-8601 timestamp such as 2026-03-01T09:30:00Z"),
        ("yesterday", "expected an ISO-8601 timestamp such as 2026-03-01T09:30:00Z"),
    ],
)
def test_timestamp_problems(value: Any, problem: str) -> None:
    event = example("customer")
    event["envelope"]["source_updated_at"] = value
    [found] = problems("customer.upserted", event)
    assert found.startswith(f"envelope.source_updated_at: {problem}")


def test_timestamps_are_normalised_to_utc_milliseconds() -> None:
    event = example("customer")
    event["envelope"]["source_updated_at"] = "2026-03-02T08:05:11.250999-06:00"
    record = validate_event("customer.upserted", event, now=NOW)
    assert record["envelope"]["source_updated_at"] == datetime(
        2026, 3, 2, 14, 5, 11, 250000, tzinfo=UTC
    )


@pytest.mark.parametrize("value", ["2026-3-2", "20260302", "2026-02-30", 20260302])
def test_date_problems(value: Any) -> None:
    event = example("time_entry")
    event["time_entry"]["date"] = value
    [found] = problems("time_entry.upserted", event)
    assert found.startswith("time_entry.date: expected a date as YYYY-MM-DD, got ")


def test_other_type_problems() -> None:
    event = example("time_entry")
    event["envelope"]["event_id"] = "not-a-uuid"
    event["time_entry"]["duration_minutes"] = 90.5
    event["time_entry"]["memo"] = 42
    event["time_entry"]["employee"] = "usr-31"
    assert problems("time_entry.upserted", event) == [
        "envelope.event_id: expected a UUID such as 4b0c6b0e-1a2b-4c3d-9e8f-0a1b2c3d4e5f,"
        " got 'not-a-uuid'",
        "time_entry.employee: expected an object, got 'usr-31'",
        "time_entry.duration_minutes: expected a whole number, got 90.5",
        "time_entry.memo: expected text, got 42",
    ]
    event = example("time_entry")
    event["time_entry"]["duration_minutes"] = 2**31
    assert problems("time_entry.upserted", event) == [
        f"time_entry.duration_minutes: expected a whole number from {-(2**31)} to"
        f" {2**31 - 1}, got {2**31}"
    ]


def test_lists_and_objects_are_checked_for_shape() -> None:
    event = example("payment")
    event["payment"]["applied_to"] = {"transaction": {"id": "inv-1"}, "amount": "1.00"}
    assert problems("payment.upserted", event) == [
        "payment.applied_to: expected a list, got an object"
    ]
    assert problems("payment.upserted", ["not", "an", "object"]) == [
        "expected an object with envelope and payment, got a list"
    ]


def test_the_envelope_is_completed_from_the_event_type_and_tenant() -> None:
    event = example("invoice")
    record = validate_event("invoice.upserted", event, tenant_id="acme-hvac", now=NOW)
    envelope = record["envelope"]
    assert isinstance(envelope["event_id"], uuid.UUID)
    assert envelope["occurred_at"] == NOW
    assert (envelope["entity"], envelope["kind"]) == ("invoice", "UPSERTED")
    assert envelope["tenant_id"] == "acme-hvac"
    del event["envelope"]["tenant_id"]
    assert (
        validate_event("invoice.upserted", event, tenant_id="t-9")["envelope"]["tenant_id"] == "t-9"
    )
    assert problems("invoice.upserted", event) == ["envelope.tenant_id: required field is missing"]


def test_given_envelope_values_must_agree() -> None:
    event = example("invoice")
    event["envelope"].update(entity="bill", kind="DEACTIVATED", tenant_id="someone-else")
    assert problems("invoice.upserted", event, tenant_id="acme-hvac") == [
        "envelope.entity: 'bill' does not match the event type invoice.upserted ('invoice')",
        "envelope.kind: 'DEACTIVATED' does not match the event type invoice.upserted ('UPSERTED')",
        "envelope.tenant_id: 'someone-else' does not match the tenant given ('acme-hvac')",
    ]


def test_blank_ids_are_refused() -> None:
    event = example("invoice")
    event["envelope"]["entity_id"] = "  "
    assert problems("invoice.upserted", event) == ["envelope.entity_id: must not be empty"]


def test_upserts_need_the_record_and_the_other_kinds_do_not() -> None:
    event = example("customer")
    del event["customer"]
    assert problems("customer.upserted", event) == ["customer: required for customer.upserted"]
    assert validate_event("customer.deactivated", event)["customer"] is None
    assert (
        validate_event("job.sync_requested", {"envelope": example("job")["envelope"]})["job"]
        is None
    )


def test_optional_fields_take_their_defaults() -> None:
    record = validate_event("customer.upserted", example("customer"), now=NOW)
    customer = record["customer"]
    assert customer["is_active"] is True
    assert customer["ship_address"] is None
    assert customer["ship_to_locations"][1]["is_default"] is False
    assert customer["ship_to_locations"][1]["address"]["line2"] is None


def test_python_values_are_accepted_too() -> None:
    event = example("time_entry")
    event["time_entry"]["date"] = date(2026, 3, 2)
    event["envelope"]["source_updated_at"] = NOW
    event["envelope"]["event_id"] = uuid.UUID(int=7)
    record = validate_event("time_entry.upserted", event)
    assert record["time_entry"]["date"] == date(2026, 3, 2)
    assert record["envelope"]["event_id"] == uuid.UUID(int=7)


def test_invalid_json_is_a_problem_too() -> None:
    with pytest.raises(
        InvalidEvent, match=r"not valid JSON at line 1 column 9: Expecting property name"
    ):
        parse_json('{"a": 1,, }', source="x.json")


def test_numbers_never_pass_through_a_float() -> None:
    parsed = parse_json('{"amount": 0.30000000000000004}')
    assert parsed["amount"] == Decimal("0.30000000000000004")


def test_the_problem_list_is_in_the_exception_message() -> None:
    event = example("payment")
    event["payment"]["amount"] = "x"
    with pytest.raises(InvalidEvent, match=r"^payment.upserted: 1 problem: payment.amount: "):
        validate_event("payment.upserted", event)


@settings(max_examples=80, deadline=None)
@given(name=st.sampled_from(RECORDS), seed=st.integers(0, 2**32), half=st.integers(0, 10))
def test_any_record_survives_json_both_ways(name: str, seed: int, half: int) -> None:
    """to_json and back gives the same record: the conventions lose nothing."""
    record = sample(SCHEMAS.standalone[name], variant=2 * half + 1, seed=seed)
    text = json.dumps(to_json(record))
    assert from_json(SCHEMAS.standalone[name], parse_json(text)) == record


def test_to_json_uses_the_documented_conventions() -> None:
    record = validate_event("payment.upserted", copy.deepcopy(example("payment")), now=NOW)
    shown = to_json(record)
    assert shown["payment"]["amount"] == "614.00"
    assert shown["payment"]["txn_date"] == "2026-03-20"
    assert shown["envelope"]["occurred_at"] == "2026-03-02T15:00:00.000Z"
    assert uuid.UUID(shown["envelope"]["event_id"])
