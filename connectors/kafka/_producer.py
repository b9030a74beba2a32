from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.errors import WorkFailed

__all__ = ["DeliveryFailed", "RecordProducer"]

log = logging.getLogger(__name__)


_RECORD_FAULTS = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_MSG_SIZE,
        KafkaError.INVALID_RECORD,
        KafkaError.INVALID_MSG,  # corrupt
        KafkaError.TOPIC_EXCEPTION,
        KafkaError.RECORD_LIST_TOO_LARGE,
    }
)


class DeliveryFailed(WorkFailed):
    """The broker did not acknowledge every record of a batch. ``failures`` lists the
    records refused, by position in the batch, with the error's name (e.g.
    ``MSG_SIZE_TOO_LARGE``); ``unacknowledged`` counts those never answered (a timeout)."""

    def __init__(
        self, message: str, failures: list[tuple[int, str, bool]], unacknowledged: int
    ) -> None:
        super().__init__(message)
        self.failures = [(position, name) for position, name, _ in failures]
        self.unacknowledged = unacknowledged
        self._record_faults = all(fault for _, _, fault in failures)

    @property
    def records_at_fault(self) -> bool:
        """Every failure is the fault of its record (too large, invalid), none the broker's
        or the network's: dead-letter those records rather than retrying the batch."""
        return bool(self.failures) and self._record_faults and not self.unacknowledged


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
        """Send ``(topic, key, value)`` records, wait for every acknowledgement. A record
        refused (at once, or by the broker) does not stop the others; :class:`DeliveryFailed`
        then says which."""
        failures: list[tuple[int, str, bool]] = []

        def on_delivery(position: int) -> Callable[[KafkaError | None, Message], None]:
            def delivered(error: KafkaError | None, _message: Message) -> None:
                if error is not None:
                    failures.append((position, error.name(), error.code() in _RECORD_FAULTS))

            return delivered

        count = 0
        for position, (topic, key, value) in enumerate(records):
            while True:
                try:
                    self._producer.produce(
                        topic, value=value, key=key, on_delivery=on_delivery(position)
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
                except KafkaException as exc:  # refused before sending (e.g. too large)
                    error = exc.args[0]
                    failures.append((position, error.name(), error.code() in _RECORD_FAULTS))
                    break
            count += 1
        remaining = self._producer.flush(timeout)
        if remaining or failures:
            failures.sort()
            raise DeliveryFailed(
                f"{remaining} record(s) unacknowledged, {len(failures)} failed"
                + (f": {failures[0][1]} (record {failures[0][0]})" if failures else ""),
                failures,
                remaining,
            )
        return count

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then release the client (its threads and sockets)."""
        if self._producer.flush(timeout):
            self._producer.purge()  # undeliverable; callers of send_all already heard so
        self._producer.close()
