"""The batch planner: what goes to QuickBooks, what settles here (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from connectors.kafka import QueuedCommand
from connectors.qbwc._batch import plan_batch
from connectors.qbxml import build_request
from core.messages import Command, DeadLetter, Failure, Origin
from core.status import Status

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def command(entity_id: str, *, depends_on: tuple[str, ...] = (), match: bool = False) -> Command:
    return Command(
        command_id=f"c-{entity_id}",
        event_id=f"e-{entity_id}",
        tenant_id="acme",
        profile_id="p",
        entity="customer",
        entity_id=entity_id,
        action="ADD",
        request_xml=build_request("customer", "Add", {"Name": entity_id}),
        created_at=NOW,
        depends_on=depends_on,
        match_existing=match,
    )


def queued(offset: int) -> QueuedCommand:
    return QueuedCommand(offset=offset, key=b"acme", value=f"raw-{offset}".encode())


def test_a_command_whose_dependency_failed_is_blocked_and_so_are_its_dependents() -> None:
    batch = plan_batch(
        [
            (queued(5), command("a", depends_on=("customer:gone",))),
            (queued(6), command("b", depends_on=("customer:a",))),
            (queued(7), command("c")),
        ],
        sent_through=0,
        failed_keys=frozenset({"acme:customer:gone"}),
    )
    first, second, third = batch.flight.commands
    assert first.answer.status_code == Status.BLOCKED
    assert "customer:gone" in first.answer.status_message
    assert second.answer.status_code == Status.BLOCKED
    assert third.outcome is None
    assert batch.for_quickbooks
    assert batch.failed_keys == {"acme:customer:gone", "acme:customer:a", "acme:customer:b"}
    assert batch.flight.next_offset == 8
    assert third.command == b"raw-7"


def test_resent_below_the_mark_or_when_the_worker_says_it_may_exist() -> None:
    batch = plan_batch(
        [
            (queued(3), command("a")),
            (queued(4), command("b")),
            (queued(5), command("c", match=True)),
        ],
        sent_through=4,
        failed_keys=frozenset(),
    )
    assert [c.resent for c in batch.flight.commands] == [True, False, True]


def test_an_unreadable_command_is_a_dead_letter_and_the_batch_goes_past_it() -> None:
    letter = DeadLetter.of(
        Origin("qbsync.commands.p", 0, 9, b"k", b"junk"), Failure("undecodable-command", "x"), NOW
    )
    batch = plan_batch([(queued(9), letter)], sent_through=0, failed_keys=frozenset())
    assert batch.dead == (letter,)
    assert batch.flight.commands == ()
    assert not batch.for_quickbooks
    assert batch.flight.next_offset == 10
