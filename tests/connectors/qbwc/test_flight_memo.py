"""The flight memo (pure, no I/O): a session's batch in flight is parsed from the row's JSON
only when the text is not the one last written or read for that session."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from connectors.qbwc._flight_memo import FlightMemo
from connectors.qbwc._recovery import Answer, Flight, Sent
from connectors.qbxml import build_request
from connectors.store import json_text


def _flight(next_offset: int, *names: str) -> Flight:
    return Flight(
        next_offset=next_offset,
        main_sent=False,
        commands=tuple(
            Sent(
                request_id=str(number),
                action="ADD",
                request_xml=build_request("customer", "Add", {"Name": name}),
                command_id=f"c-{number}",
                tenant_id="t-1",
                entity="customer",
                entity_id=name,
                command=name.encode() + b"\x00\xff",
                source_updated_at=datetime(2026, 12, 7, 6, 0, tzinfo=UTC),
                outcome=Answer(0, "Info", "Status OK", qb_id=f"800000{number}-1")
                if number % 2
                else None,
            )
            for number, name in enumerate(names)
        ),
    )


def test_a_written_flight_is_answered_from_memory_for_its_own_text() -> None:
    memo = FlightMemo(json_text)
    flight = _flight(2, "Ada", "Grace")
    data = memo.written("s-1", flight)
    assert data == flight.to_json()
    assert memo.read("s-1", json_text(data)) is flight
    assert memo.parsed == 0


def test_any_other_text_is_parsed_and_then_remembered() -> None:
    memo = FlightMemo(json_text)
    memo.written("s-1", _flight(2, "Ada", "Grace"))
    other = _flight(4, "Alan", "Linus")  # written by another replica
    text = json_text(other.to_json())
    read = memo.read("s-1", text)
    assert read == other
    assert memo.parsed == 1
    assert memo.read("s-1", text) is read  # the next call of the session
    assert memo.parsed == 1
    # Another session with the same text is its own entry.
    assert memo.read("s-2", text) == other
    assert memo.parsed == 2


def test_a_flight_differing_in_one_answer_is_not_taken_for_the_remembered_one() -> None:
    memo = FlightMemo(json_text)
    flight = _flight(2, "Ada", "Grace")
    memo.written("s-1", flight)
    answered = dataclasses.replace(
        flight,
        commands=(
            flight.commands[0],
            dataclasses.replace(flight.commands[1], outcome=Answer(3100, "Error", "in use")),
        ),
    )
    read = memo.read("s-1", json_text(answered.to_json()))
    assert read == answered
    assert read != flight


def test_no_flight_is_none_and_forgets_the_session() -> None:
    memo = FlightMemo(json_text)
    memo.written("s-1", _flight(2, "Ada"))
    assert memo.read("s-1", None) is None
    assert memo.read("s-1", "null") is None  # the row's in_flight was cleared
    flight = _flight(2, "Ada")
    assert memo.read("s-1", json_text(flight.to_json())) == flight
    assert memo.parsed == 1  # forgotten at the null: parsed again


def test_the_memo_keeps_the_most_recently_used_sessions() -> None:
    memo = FlightMemo(json_text, size=2)
    texts = {}
    for key in ("a", "b", "c"):
        texts[key] = json_text(memo.written(key, _flight(1, key)).copy())
    memo.read("b", texts["b"])
    memo.written("d", _flight(1, "d"))  # "c" was used longest ago after "b"'s read
    assert memo.parsed == 0
    memo.read("b", texts["b"])
    assert memo.parsed == 0
    memo.read("c", texts["c"])
    memo.read("a", texts["a"])
    assert memo.parsed == 2
