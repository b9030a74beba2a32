"""Draining a company's command topic: the one interface a QuickBooks connector implements.

A connector (the Web Connector gateway, the QBO sender) reads a company's command topic at
the committed offset, talks to QuickBooks, publishes one result per command (or a dead letter
for a command it cannot read) and, only once the broker acknowledged all of them, commits past
them. What the two share is declared here once: where commands come from
(:class:`CommandSource`), where results go (:class:`RecordSink`), the topics and batch limits
(:class:`DrainConfig`), the dead letter of an unreadable command (:func:`undecodable`), and
:class:`CompanyDrain`, the runner half both build on: fetch, read, publish, commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from connectors.kafka._command_queue import QueuedCommand
from core.contracts import AvroCodec, DecodeError
from core.messages import Command, DeadLetter, Failure, Imported, Origin, Result

__all__ = [
    "CommandBacklog",
    "CommandSource",
    "CompanyDrain",
    "DrainConfig",
    "Outgoing",
    "RecordSink",
    "undecodable",
]

# One record for the broker: (topic, key, value).
Outgoing = tuple[str, bytes | None, bytes]


class CommandSource(Protocol):
    """A company's command topic read at the committed offset (:class:`CommandQueue`)."""

    def fetch(
        self, profile_id: str, max_count: int, max_bytes: int, *, start: int | None = None
    ) -> list[QueuedCommand]:
        """``start``: the committed offset, if the caller committed it itself while holding
        the company's lease (saves asking the broker for it)."""
        ...

    def commit(self, profile_id: str, next_offset: int, *, wait: bool = True) -> None:
        """Commit past ``next_offset``; without ``wait``, in the background (then
        :meth:`flush` waits for it)."""
        ...

    def flush(self, profile_id: str) -> None:
        """Return once every commit made for the company without waiting is made."""
        ...


class CommandBacklog(CommandSource, Protocol):
    """A command source that also says how many commands wait (the gateway's progress)."""

    def pending(self, profile_id: str) -> int: ...


class RecordSink(Protocol):
    """Returns only once every record is acknowledged (:class:`RecordProducer`)."""

    def send_all(self, records: Sequence[Outgoing], *, timeout: float = ...) -> int: ...


@dataclass(frozen=True)
class DrainConfig:
    """The topics and batch limits of draining a company's command topic."""

    results_topic: str
    dead_letters_topic: str
    commands_topic_prefix: str
    batch_size: int = 25
    batch_max_bytes: int = 512 * 1024


def undecodable(
    config: DrainConfig, profile_id: str, item: QueuedCommand, reason: str, failed_at: datetime
) -> DeadLetter:
    """The dead letter of a command nobody can read, its bytes kept as they were."""
    return DeadLetter.of(
        Origin(
            topic=f"{config.commands_topic_prefix}{profile_id}",
            partition=0,
            offset=item.offset,
            key=item.key,
            value=item.value,
        ),
        Failure(code="undecodable-command", reason=f"The command could not be read: {reason}"),
        failed_at,
        profile_id=profile_id,
    )


class CompanyDrain:
    """Fetch a company's commands, read them, publish what became of them, commit past them.

    Publishing returns only once the broker acknowledged every record; a caller commits
    after that, never before, so no offset moves past work neither done nor dead-lettered.
    """

    def __init__(
        self, commands: CommandSource, sink: RecordSink, codec: AvroCodec, config: DrainConfig
    ) -> None:
        self.config = config
        self._commands = commands
        self._sink = sink
        self._codec = codec

    def fetch(self, profile_id: str, start: int | None = None) -> list[QueuedCommand]:
        return self._commands.fetch(
            profile_id, self.config.batch_size, self.config.batch_max_bytes, start=start
        )

    def read(self, profile_id: str, item: QueuedCommand) -> Command | DeadLetter:
        """The command in ``item``, or its dead letter when it cannot be read."""
        try:
            return Command.decode(self._codec, item.value)
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            return undecodable(self.config, profile_id, item, str(exc), datetime.now(UTC))

    def outgoing(self, message: Result | DeadLetter | Imported, topic: str = "") -> Outgoing:
        """``message`` as a broker record: results and dead letters to their topics, keyed
        by tenant (a dead letter by its original key); ``topic`` for anything else."""
        value = message.encode(self._codec)
        if isinstance(message, DeadLetter):
            return (self.config.dead_letters_topic, message.original_key, value)
        if isinstance(message, Result):
            topic = self.config.results_topic
        return (topic, message.tenant_id.encode(), value)

    def publish(self, records: Sequence[Outgoing]) -> None:
        """Send ``records`` and wait until the broker acknowledged every one."""
        if records:
            self._sink.send_all(records)

    def commit(self, profile_id: str, next_offset: int, *, wait: bool = True) -> None:
        self._commands.commit(profile_id, next_offset, wait=wait)

    def flush(self, profile_id: str) -> None:
        self._commands.flush(profile_id)
