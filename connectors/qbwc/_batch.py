"""Batch assembly: which of the queued commands go to QuickBooks, and which are settled here.

A pure planner: handed the commands read from the file's topic (each already decoded, or its
dead letter), the profile's ``sent_through`` mark and the session's failed keys, it returns a
complete :class:`Batch`; the gateway only carries it out. Rules:

- a command whose dependency (``Command.depends_on``) failed earlier in the session is not
  sent: it settles as blocked (``Status.BLOCKED``, the dependency named) so nothing waits
  forever, and its own dependents are held back in turn;
- a command handed to QuickBooks before (offset below ``sent_through``) or one the worker
  says may exist already (``match_existing``) is marked ``resent``: recovery looks it up first;
- an unreadable command becomes a dead letter and the batch goes on past it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from connectors.kafka import QueuedCommand
from connectors.qbwc._recovery import Answer, Flight, Sent, prepare
from core.messages import Command, DeadLetter
from core.status import Status

__all__ = ["Batch", "blocked", "plan_batch"]


@dataclass(frozen=True)
class Batch:
    flight: Flight
    dead: tuple[DeadLetter, ...]
    failed_keys: frozenset[str]

    @property
    def for_quickbooks(self) -> bool:
        """Whether anything goes out (else it settles here, without QuickBooks)."""
        return any(c.outcome is None for c in self.flight.commands)


def blocked(dependencies: Sequence[str]) -> Answer:
    """The outcome of a command held back because what it needs failed this session."""
    return Answer(
        status_code=int(Status.BLOCKED),
        status_severity="Error",
        status_message="Not sent to QuickBooks: it depends on "
        + ", ".join(repr(d) for d in dependencies)
        + ", which failed earlier in this session. It is settled as blocked so nothing"
        " waits forever; replay it once that record is fixed.",
    )


def plan_batch(
    read: Sequence[tuple[QueuedCommand, Command | DeadLetter]],
    sent_through: int,
    failed_keys: frozenset[str],
) -> Batch:
    """The batch of ``read`` (non-empty, in offset order); see the module's docstring."""
    failed = set(failed_keys)
    commands: list[Sent] = []
    dead: list[DeadLetter] = []
    for item, message in read:
        if isinstance(message, DeadLetter):
            dead.append(message)
            continue
        two_way = bool(message.conflict_policy and message.source_updated_at)
        sent = Sent(
            request_id=str(item.offset),
            command_id=message.command_id,
            tenant_id=message.tenant_id,
            entity=message.entity,
            entity_id=message.entity_id,
            action=message.action,
            request_xml=message.request_xml,
            command=item.value,
            resent=item.offset < sent_through or message.match_existing,
            conflict_policy=message.conflict_policy if two_way else None,
            source_updated_at=message.source_updated_at if two_way else None,
        )
        blockers = [d for d in message.depends_on if f"{message.tenant_id}:{d}" in failed]
        if blockers:
            sent = dataclasses.replace(sent, outcome=blocked(blockers))
            failed.add(sent.key)  # its own dependents are held back in turn
        commands.append(sent)
    flight = Flight(next_offset=read[-1][0].offset + 1, commands=tuple(commands))
    batch = Batch(flight=flight, dead=tuple(dead), failed_keys=frozenset(failed))
    return dataclasses.replace(batch, flight=prepare(flight)) if batch.for_quickbooks else batch
