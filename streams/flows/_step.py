"""What every flow returns and how it words its records: the :class:`Step` the runner carries
out, the :class:`Source` a message came from, and the :class:`Outbox` that turns typed
messages (:mod:`core.messages`) into records for their topics. Pure: no store, no Kafka."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from connectors.qbo import explain_code
from connectors.qbxml import Explanation, explain
from connectors.store import FullRead, Mapping, SyncLogEntry
from core.contracts import AvroCodec
from core.messages import SYNC_STATUS, Command, DeadLetter, Failure, Origin, Result
from core.settings import TopicSettings
from streams.parking import Parked
from streams.two_way import Change

__all__ = ["Failure", "Message", "Outbox", "Record", "Source", "Step", "Writes", "explained"]

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes]
"""A record to produce: topic, key, value."""


class Message(Protocol):
    """A consumed Kafka message, as far as the flows read one."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


@dataclass(frozen=True)
class Source:
    """Where a message came from: what its dead letter records, byte for byte."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes

    @classmethod
    def of(cls, message: Message) -> Source:
        return cls(
            message.topic, message.partition, message.offset, message.key, message.value or b""
        )

    @classmethod
    def parked(cls, entry: Parked) -> Source:
        return cls(entry.source_topic, entry.partition, entry.offset, entry.key, entry.value)

    @property
    def origin(self) -> Origin:
        return Origin(self.topic, self.partition, self.offset, self.key, self.value)


@dataclass
class Writes:
    """What a step asks of the store: committed by the pipeline right after planning, in
    one place, before the runner carries the step out (a release then finds the mapping)."""

    mappings: list[Mapping] = field(default_factory=list)
    log: list[SyncLogEntry] = field(default_factory=list)
    forget: list[tuple[str, str, str]] = field(default_factory=list)  # stale mappings
    # (profile, import entities, everything: a full read)
    # (profile, import entities, full read: None, "match" or "deliver")
    imports: list[tuple[str, tuple[str, ...], FullRead | None]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.mappings or self.log or self.forget or self.imports)


@dataclass
class Step:
    """What one message (or one sweep) asks of the agent, which alone does I/O with Kafka
    and the table: records to send, entries to park and unpark, records now mapped (their
    waiting entries are released), records now dead (their waiting entries follow them,
    marked "blocked by") and records a manual sync was requested for (what is held for
    them, and what they need, goes too). ``writes`` and ``failures`` are the pipeline's
    (the store, the metrics), done before the step reaches the runner."""

    send: list[Record] = field(default_factory=list)
    unpark: list[bytes] = field(default_factory=list)
    park: list[Parked] = field(default_factory=list)
    touch: list[Parked] = field(default_factory=list)
    mapped: list[tuple[str, str]] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)
    requested: list[tuple[str, str]] = field(default_factory=list)
    # Change events for the apps, sent unless their guard holds
    # them back, then remembered.
    changes: list[Change] = field(default_factory=list)
    writes: Writes = field(default_factory=Writes)
    failures: list[Failure] = field(default_factory=list)


def explained(result: Result) -> Explanation:
    """The catalog entry for a result: QBO's codes for a QuickBooks Online company."""
    if result.api == "qbo":
        return explain_code(str(result.status_code))
    return explain(result.status_code, result.status_message)


@dataclass(frozen=True)
class Outbox:
    """The worker's records, worded once: a command for its company file's topic, a dead
    letter, a status event for the source app."""

    topics: TopicSettings
    codec: AvroCodec

    def command(self, command: Command) -> Record:
        return (
            self.topics.commands(command.profile_id),
            command.tenant_id.encode(),
            command.encode(self.codec),
        )

    def dead_letter(
        self,
        step: Step,
        source: Source,
        failure: Failure,
        now: datetime,
        *,
        tenant_id: str | None = None,
        profile_id: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        dead_letter_id: str | None = None,
    ) -> Step:
        """``source``, byte for byte, on the dead-letter topic with why it is there."""
        log.info(
            "dead-lettered",
            extra={"code": failure.code, "topic": source.topic, "offset": source.offset},
        )
        letter = DeadLetter.of(
            source.origin,
            failure,
            now,
            tenant_id=tenant_id,
            profile_id=profile_id,
            entity=entity,
            entity_id=entity_id,
            dead_letter_id=dead_letter_id,
        )
        step.send.append((self.topics.dead_letters, source.key, letter.encode(self.codec)))
        step.failures.append(failure)
        return step

    def status(
        self,
        result: Result,
        *,
        ok: bool,
        explanation: str | None = None,
        remedy: str | None = None,
    ) -> Record:
        """The source app's SyncStatus event for the record ``result`` answers."""
        catalog = explained(result)
        status = {
            "tenant_id": result.tenant_id,
            "entity": result.entity,
            "entity_id": result.entity_id,
            "command_id": result.command_id,
            "status": "SYNCED" if ok else "FAILED",
            "code": result.status_code,
            "explanation": explanation or (result.status_message if ok else catalog.explanation),
            "remedy": remedy if remedy is not None else ("" if ok else catalog.remedy),
            "qb_id": result.qb_id,
            "ref_number": result.ref_number,
            "full_name": result.full_name,
            "at": result.processed_at,
        }
        return (
            self.topics.status,
            result.tenant_id.encode(),
            self.codec.encode(SYNC_STATUS, status),
        )
