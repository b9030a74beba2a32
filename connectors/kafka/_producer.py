from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from confluent_kafka import KafkaError, Message, Producer

from qbsync.errors import WorkFailed

__all__ = ["DeliveryFailed", "RecordProducer"]

log = logging.getLogger(__name__)


class DeliveryFailed(WorkFailed):
    """The broker did not acknowledge every record of a batch."""


class RecordProducer:
    """An idempotent producer whose :meth:`send_all` returns only once every record is acked.

    Used where a later step (an offset commit) must not happen before the records are safe.
    """

    def __init__(self, client_config: Mapping[str, str], **overrides: str | int) -> None:
        config: dict[str, str | int] = {
            **client_config,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "compression.type": "lz4",
            # The Java client's and Faust's (aiokafka's) partitioner: a tenant's results land
            # on the partition index its events use, so the worker that parked the tenant's
            # events is the one that sees the results releasing them (docs/architecture.md).
            "partitioner": "murmur2_random",
        }
        config.update(overrides)
        self._producer = Producer(config)

    def send_all(
        self, records: Iterable[tuple[str, bytes | None, bytes]], *, timeout: float = 30.0
    ) -> int:
        """Send ``(topic, key, value)`` records, wait for every acknowledgement."""
        errors: list[KafkaError] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                errors.append(error)

        count = 0
        for topic, key, value in records:
            while True:
                try:
                    self._producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                    break
                except BufferError:
                    self._producer.poll(0.1)
            count += 1
        remaining = self._producer.flush(timeout)
        if remaining or errors:
            raise DeliveryFailed(
                f"{remaining} record(s) unacknowledged, {len(errors)} failed"
                + (f": {errors[0].str()}" if errors else "")
            )
        return count

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then release the client (its threads and sockets)."""
        if self._producer.flush(timeout):
            self._producer.purge()  # undeliverable; callers of send_all already heard so
        self._producer.close()
