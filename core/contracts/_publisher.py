"""Publish domain events for upstream services: validate, encode, produce, confirm.

Every event goes to ``<prefix>.events`` keyed by its tenant id, so one tenant's events stay in
one partition and reach the worker in the order they were published (a customer before its
job before its invoice); which partition is Kafka's murmur2 of the key, as for every qbsync
producer (:func:`core.contracts.tenant_partition`). The producer is idempotent with
``acks=all``: a retry after a lost acknowledgement never duplicates or reorders a partition's
records. Consumers still see an event more than once after a publisher retries on its own,
which is why every envelope carries an ``event_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.contracts._catalog import EventType, event_type
from core.contracts._codec import AvroCodec
from core.contracts._errors import ContractError
from core.contracts._validate import validate_event
from core.settings import Settings

__all__ = ["Delivery", "EventPublisher", "PreparedEvent", "PublishFailed", "prepare_event"]

log = logging.getLogger(__name__)


class PublishFailed(ContractError):
    """The broker did not acknowledge an event; it may or may not have been written."""


@dataclass(frozen=True)
class PreparedEvent:
    """A validated, encoded event: what would be sent, and where it would be keyed."""

    event_type: EventType
    record: dict[str, Any]
    key: bytes
    value: bytes

    @property
    def event_id(self) -> str:
        return str(self.record["envelope"]["event_id"])

    @property
    def tenant_id(self) -> str:
        return str(self.record["envelope"]["tenant_id"])


@dataclass(frozen=True)
class Delivery:
    """Where the broker stored an event."""

    event_type: str
    event_id: str
    topic: str
    partition: int
    offset: int


DeliveryCallback = Callable[[PreparedEvent, Delivery | None, PublishFailed | None], None]


def prepare_event(
    codec: AvroCodec,
    kind: str | EventType,
    event: Mapping[str, Any],
    *,
    tenant_id: str | None = None,
    now: datetime | None = None,
) -> PreparedEvent:
    """Validate (every problem, by path: :class:`InvalidEvent`) and encode one event."""
    chosen = event_type(kind) if isinstance(kind, str) else kind
    record = validate_event(chosen, event, tenant_id=tenant_id, schemas=codec.schemas, now=now)
    value = codec.encode(chosen.schema, record)
    tenant = str(record["envelope"]["tenant_id"])
    return PreparedEvent(event_type=chosen, record=record, key=tenant.encode(), value=value)


class EventPublisher:
    """A producer for ``settings.topics.events`` with delivery reports.

    Use :meth:`publish` for one event at a time (it returns once the broker has it), or
    :meth:`send` many with a callback and :meth:`flush` once. ``overrides`` are librdkafka
    settings (e.g. ``{"linger.ms": 50}``); idempotence cannot be turned off.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        codec: AvroCodec | None = None,
        overrides: Mapping[str, str | int] | None = None,
    ) -> None:
        if not settings.kafka.bootstrap_servers:
            raise PublishFailed("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: there is no broker")
        config: dict[str, str | int | bool] = {
            **settings.kafka.client_config(),
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            # Every qbsync producer's partitioner (core.contracts._partitions): a tenant's
            # results come back on the partition index its events use. librdkafka's
            # default (CRC-32) put them elsewhere for about half the tenants of two
            # partitions. Overridable for an upgrade (see the CHANGELOG).
            "partitioner": "murmur2_random",
            **(overrides or {}),
            "enable.idempotence": True,
        }
        self.topic = settings.topics.events
        self.codec = codec or AvroCodec()
        self._producer = Producer(config)

    def prepare(
        self, kind: str | EventType, event: Mapping[str, Any], *, tenant_id: str | None = None
    ) -> PreparedEvent:
        return prepare_event(self.codec, kind, event, tenant_id=tenant_id)

    def send(self, prepared: PreparedEvent, on_delivery: DeliveryCallback | None = None) -> None:
        """Queue one event; ``on_delivery`` runs from :meth:`flush` (or :meth:`poll`)."""

        def report(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failure = PublishFailed(f"event {prepared.event_id} was not stored: {error.str()}")
                log.warning(
                    "event not published",
                    extra={"event_id": prepared.event_id, "code": error.name()},
                )
                if on_delivery is not None:
                    on_delivery(prepared, None, failure)
                return
            partition, offset = message.partition(), message.offset()
            delivery = Delivery(
                event_type=prepared.event_type.name,
                event_id=prepared.event_id,
                topic=message.topic() or self.topic,
                partition=-1 if partition is None else partition,
                offset=-1 if offset is None else offset,
            )
            log.info(
                "event published",
                extra={
                    "event_type": delivery.event_type,
                    "event_id": delivery.event_id,
                    "partition": delivery.partition,
                    "offset": delivery.offset,
                },
            )
            if on_delivery is not None:
                on_delivery(prepared, delivery, None)

        while True:
            try:
                self._producer.produce(
                    self.topic, key=prepared.key, value=prepared.value, on_delivery=report
                )
                return
            except BufferError:
                self._producer.poll(0.1)  # the local queue is full: let deliveries drain
            except KafkaException as exc:
                raise PublishFailed(f"event {prepared.event_id} was refused: {exc}") from exc

    def publish(
        self,
        kind: str | EventType | PreparedEvent,
        event: Mapping[str, Any] | None = None,
        *,
        tenant_id: str | None = None,
        timeout: float = 30.0,
    ) -> Delivery:
        """Validate, send and wait for the broker's acknowledgement of one event."""
        if isinstance(kind, PreparedEvent):
            prepared = kind
        else:
            if event is None:
                raise TypeError("publish(kind, event): the event is missing")
            prepared = self.prepare(kind, event, tenant_id=tenant_id)
        outcome: list[Delivery | PublishFailed | None] = []

        def keep(
            _prepared: PreparedEvent, done: Delivery | None, failed: PublishFailed | None
        ) -> None:
            outcome.append(done if done is not None else failed)

        self.send(prepared, keep)
        self.flush(timeout)
        if not outcome:
            raise PublishFailed(f"event {prepared.event_id} was not acknowledged in {timeout} s")
        result = outcome[0]
        if not isinstance(result, Delivery):
            raise result or PublishFailed(f"event {prepared.event_id}: no delivery report")
        return result

    def poll(self, timeout: float = 0.0) -> int:
        """Serve delivery reports that have arrived; returns how many."""
        served: int = self._producer.poll(timeout)
        return served

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued event is acknowledged (or failed: see the callbacks)."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise PublishFailed(f"{remaining} event(s) not acknowledged in {timeout} s")

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then release the client's threads and sockets."""
        try:
            self.flush(timeout)
        finally:
            self._producer.purge()
            self._producer.close()

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
