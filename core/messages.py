"""The pipeline's own messages, as frozen typed records: what the worker puts on a company's
command topic, what the gateway or the QBO sender answers on ``results``, what anyone puts on
``deadletters``, and what the gateway reads back from QuickBooks onto ``imports``.

Each record names its Avro schema (``schemas/avro/com.qbsync.pipeline.*.avsc``) and speaks
it through :class:`core.contracts.AvroCodec`: ``encode(codec)`` and ``decode(codec, data)``.
Field names and types are the schema's, so a record and its Avro form convert one to one
(``to_avro``/``from_avro``); a UUID arrives from fastavro as :class:`uuid.UUID` and is kept
as its string here, the form every other part of qbsync uses.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal, Self

from core.contracts import AvroCodec

__all__ = [
    "COMMAND",
    "DEAD_LETTER",
    "IMPORTED",
    "RESULT",
    "SYNC_STATUS",
    "Command",
    "DeadLetter",
    "Failure",
    "Imported",
    "Message",
    "Origin",
    "QboRequest",
    "Result",
]

COMMAND = "com.qbsync.pipeline.Command"
RESULT = "com.qbsync.pipeline.Result"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"
IMPORTED = "com.qbsync.pipeline.Imported"
SYNC_STATUS = "com.qbsync.events.SyncStatus"

Action = Literal["ADD", "MOD", "QUERY"]


class Message:
    """A record with a schema: converts to and from its Avro form, field by field."""

    SCHEMA: ClassVar[str]

    def to_avro(self) -> dict[str, Any]:
        # The fields' values as they are, then only those holding a tuple or a message
        # converted: a function call per field was most of a command's to_avro.
        values = self.__dict__
        record = {name: values[name] for name in _field_names(type(self))}
        for name, value in record.items():
            if isinstance(value, Message | tuple):
                record[name] = _to_avro(value)
        return record

    @classmethod
    def from_avro(cls, record: Mapping[str, Any]) -> Self:
        values: dict[str, object] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            if f.name in record:
                values[f.name] = _from_avro(record[f.name])
        nested = getattr(cls, "_NESTED", {})
        for name, kind in nested.items():
            if isinstance(values.get(name), Mapping):
                values[name] = kind.from_avro(values[name])
        return cls(**values)

    def encode(self, codec: AvroCodec) -> bytes:
        return codec.encode(self.SCHEMA, self.to_avro())

    @classmethod
    def decode(cls, codec: AvroCodec, data: bytes) -> Self:
        """The record in ``data``; :class:`core.contracts.DecodeError` if it is not one."""
        return cls.from_avro(codec.decode(data, expected=cls.SCHEMA)[1])

    def replace(self, **changes: object) -> Self:
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(kind: type[Message]) -> tuple[str, ...]:
    """A message class's fields, listed once (``dataclasses.fields`` per record costs)."""
    names = _FIELD_NAMES.get(kind)
    if names is None:
        names = _FIELD_NAMES[kind] = tuple(f.name for f in dataclasses.fields(kind))  # type: ignore[arg-type]
    return names


def _to_avro(value: object) -> object:
    if isinstance(value, Message):
        return value.to_avro()
    if isinstance(value, tuple):
        return list(value)
    return value


def _from_avro(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):
        return tuple(value)
    return value


@dataclass(frozen=True)
class QboRequest(Message):
    """A write to one QuickBooks Online entity (a command's ``qbo``)."""

    SCHEMA: ClassVar[str] = "com.qbsync.pipeline.QboEntityRequest"

    operation: str
    entity: str
    body: str
    checks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command(Message):
    """One request for one company file (or QBO company), in the order it must be sent."""

    SCHEMA: ClassVar[str] = COMMAND
    _NESTED: ClassVar[dict[str, type[Message]]] = {"qbo": QboRequest}

    command_id: str
    event_id: str
    tenant_id: str
    profile_id: str
    entity: str
    entity_id: str
    action: Action
    request_xml: str
    created_at: datetime
    depends_on: tuple[str, ...] = ()
    attempt: int = 1
    first_failed_at: datetime | None = None
    match_existing: bool = False
    source_updated_at: datetime | None = None
    conflict_policy: str | None = None
    qbo: QboRequest | None = None
    occurred_at: datetime | None = None

    @property
    def record(self) -> tuple[str, str, str]:
        """Which record it writes: (tenant, entity, entity id)."""
        return (self.tenant_id, self.entity, self.entity_id)


@dataclass(frozen=True)
class Result(Message):
    """QuickBooks' answer to one command (or qbsync's own, with a :class:`core.status.Status`)."""

    SCHEMA: ClassVar[str] = RESULT

    command_id: str
    tenant_id: str
    profile_id: str
    entity: str
    entity_id: str
    action: Action
    status_code: int
    status_severity: str
    status_message: str
    processed_at: datetime
    qb_id: str | None = None
    edit_sequence: str | None = None
    full_name: str | None = None
    ref_number: str | None = None
    command: bytes | None = None
    api: str | None = None

    @property
    def succeeded(self) -> bool:
        """Done in QuickBooks: no error, and a status below 1000 (0, or a warning such as
        qbXML's 530 that still did the work); what the worker settles as written."""
        return self.status_severity != "Error" and 0 <= self.status_code < 1000


@dataclass(frozen=True)
class Origin:
    """Where a message came from, and its bytes: what its dead letter keeps, byte for byte."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(frozen=True)
class Failure:
    """Why something is a dead letter: the catalog's words plus qbsync's own context."""

    code: str
    reason: str
    category: str = "rejected"
    explanation: str = ""
    remedy: str = ""
    attempts: int = 1
    first_failed_at: datetime | None = None
    blocked_by: str | None = None


@dataclass(frozen=True)
class DeadLetter(Message):
    """A message nobody could act on, its original bytes kept for a replay."""

    SCHEMA: ClassVar[str] = DEAD_LETTER

    dead_letter_id: str
    source_topic: str
    source_partition: int
    source_offset: int
    code: str
    reason: str
    failed_at: datetime
    tenant_id: str | None = None
    profile_id: str | None = None
    original_key: bytes | None = None
    original_value: bytes | None = None
    entity: str | None = None
    entity_id: str | None = None
    category: str = ""
    explanation: str = ""
    remedy: str = ""
    attempts: int = 1
    first_failed_at: datetime | None = None
    blocked_by: str | None = None

    @classmethod
    def of(
        cls,
        origin: Origin,
        failure: Failure,
        failed_at: datetime,
        *,
        tenant_id: str | None = None,
        profile_id: str | None = None,
        entity: str | None = None,
        entity_id: str | None = None,
        dead_letter_id: str | None = None,
    ) -> DeadLetter:
        """The one way to build a dead letter: ``origin`` byte for byte, and why."""
        return cls(
            dead_letter_id=dead_letter_id or str(uuid.uuid4()),
            source_topic=origin.topic,
            source_partition=origin.partition,
            source_offset=origin.offset,
            code=failure.code,
            reason=failure.reason,
            failed_at=failed_at,
            tenant_id=tenant_id,
            profile_id=profile_id,
            original_key=origin.key,
            original_value=origin.value,
            entity=entity,
            entity_id=entity_id,
            category=failure.category,
            explanation=failure.explanation,
            remedy=failure.remedy,
            attempts=failure.attempts,
            first_failed_at=failure.first_failed_at or failed_at,
            blocked_by=failure.blocked_by,
        )


@dataclass(frozen=True)
class Imported(Message):
    """One record read back from QuickBooks (a query's answer), for the worker to reconcile."""

    SCHEMA: ClassVar[str] = IMPORTED

    tenant_id: str
    profile_id: str
    entity: str
    qb_id: str
    record_type: str
    record_json: str
    imported_at: datetime
    edit_sequence: str | None = None
    time_modified: datetime | None = None
    deleted: bool = False  # the transaction was deleted in QuickBooks (record_json "{}")
