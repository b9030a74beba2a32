from __future__ import annotations

import asyncio
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from core.errors import WorkFailed
from core.processes import name_this_thread

__all__ = [
    "AsyncProducer",
    "DeliveryFailed",
    "ProduceError",
    "ProducerPool",
    "RecordProducer",
    "Settled",
]

log = logging.getLogger(__name__)

# After a purge, how long a send_all waits for its records' (purged) reports.
_PURGED_S = 5.0


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


def _idempotent(
    client_config: Mapping[str, str], overrides: Mapping[str, str | int]
) -> dict[str, str | int]:
    """The producers' configuration: idempotent, every replica, small batches."""
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
    return config


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


class _Awaited:
    """One :meth:`RecordProducer.send_all`'s records: done once every record handed to the
    producer has its delivery report (reports may come before the last one is handed
    over; ``seal`` says none will follow). ``failures``: ``(position, error name, the
    record's own fault)``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0
        self._sealed = False
        self.done = threading.Event()
        self.failures: list[tuple[int, str, bool]] = []

    def handed(self) -> None:
        with self._lock:
            self._waiting += 1

    def refused(self, position: int, error: KafkaError) -> None:
        with self._lock:
            self.failures.append((position, error.name(), error.code() in _RECORD_FAULTS))

    def report(self, position: int) -> Callable[[KafkaError | None, Message], None]:
        def delivered(error: KafkaError | None, _message: Message) -> None:
            with self._lock:
                if error is not None:
                    self.failures.append((position, error.name(), error.code() in _RECORD_FAULTS))
                self._waiting -= 1
                self._check()

        return delivered

    def seal(self) -> None:
        with self._lock:
            self._sealed = True
            self._check()

    @property
    def waiting(self) -> int:
        with self._lock:
            return self._waiting

    def _check(self) -> None:
        if self._sealed and self._waiting == 0:
            self.done.set()


class RecordProducer:
    """An idempotent producer whose :meth:`send_all` returns only once every record is acked.

    Used where a later step (an offset commit) must not happen before the records are safe.
    Many threads share one (the gateway's request threads): each waits for its own records'
    reports, which a thread of the producer's serves, and records are sent at once
    (``linger.ms`` 0; records queued while earlier ones are in flight share a request).
    It waited with ``flush()``, which returns only once the whole producer is empty, every
    thread's records, and makes each flushing thread poll: with 16 threads each sending 25
    records in a loop, 175-555 sends a second at 1.1-2.9 ms of CPU each and 1.3-5.8 ms of the
    broker's; waiting for its own, 1,089-3,115 at 0.3-0.65 ms and 0.2-0.9 ms
    (docs/gateway-scale.md, "A batch's results wait for their own acknowledgements").
    """

    def __init__(self, client_config: Mapping[str, str], **overrides: str | int) -> None:
        self._producer = Producer(_idempotent(client_config, {"linger.ms": 0, **overrides}))
        self._closing = threading.Event()
        self._reports = threading.Thread(
            target=self._serve, name="qbsync-delivery-reports", daemon=True
        )
        self._reports.start()

    def _serve(self) -> None:
        """The reports' thread: every delivery report is served here (or by close's flush).
        A report's callback that raises ends that poll, not the thread: were it to end,
        every later send would wait out its timeout (the other reports wait in the queue
        for the next poll)."""
        name_this_thread("qbsync-delivery")
        while not self._closing.is_set():
            try:
                self._producer.poll(0.1)
            except Exception as error:
                log.warning("delivery report failed", extra={"error": type(error).__name__})

    def send_all(
        self, records: Iterable[tuple[str, bytes | None, bytes]], *, timeout: float = 30.0
    ) -> int:
        """Send ``(topic, key, value)`` records, wait for every acknowledgement. A record
        refused (at once, or by the broker) does not stop the others; :class:`DeliveryFailed`
        then says which. Records not acknowledged within ``timeout`` are purged from the
        producer before :class:`DeliveryFailed` is raised, so none is delivered later."""
        awaited = _Awaited()
        count = 0
        by_topic: dict[str, list[tuple[int, bytes | None, bytes]]] = {}
        for position, (topic, key, value) in enumerate(records):
            by_topic.setdefault(topic, []).append((position, key, value))
            count += 1
        for topic, queued in by_topic.items():
            self._produce(topic, queued, awaited)
        awaited.seal()
        remaining = 0
        if not awaited.done.wait(timeout):
            remaining = awaited.waiting
            # Not acknowledged in time: take them back. Left queued, a later send would
            # still deliver them after the caller, told they failed, sent them again: a
            # duplicate. One already in flight may still land; the broker cannot say, and
            # the caller's retry is then a duplicate Kafka cannot prevent. librdkafka
            # purges the whole producer: other threads' records fail too (each caller
            # hears so and sends them again; nothing is delivered behind a caller's back).
            self._producer.purge()
            awaited.done.wait(_PURGED_S)  # their reports (purged), into this call's list
        if remaining or awaited.failures:
            failures = sorted(awaited.failures)
            raise DeliveryFailed(
                f"{remaining} record(s) unacknowledged, {len(failures)} failed"
                + (f": {failures[0][1]} (record {failures[0][0]})" if failures else ""),
                failures,
                remaining,
            )
        return count

    def _produce(
        self, topic: str, queued: list[tuple[int, bytes | None, bytes]], awaited: _Awaited
    ) -> None:
        """Hand one topic's records to librdkafka in one call (``produce_batch``): one C
        call instead of a ``produce()`` per record: the client's CPU per 25-record send
        0.19-0.39 ms against 0.40-0.87 (measured alone, 1 and 4 partitions), and fewer
        Produce requests per batch (1.9 against 2.3 at one session: with ``linger.ms`` 0
        librdkafka's broker thread still wakes at the first record queued, so a batch often
        goes as a few one-record requests and then the rest; docs/gateway-scale.md, "Fewer
        broker requests per batch"). Records refused for want of room in the queue are the
        call's tail and are handed over again, in order, once reports have made room; any
        other refusal is the record's and is named. The tail, because nothing makes room
        during the call: a record leaves the queue once its report's callback has run, which
        needs the GIL, and ``produce_batch`` holds it throughout (measured: a spinning
        thread ran 1% of its usual pace during one). So the order of a partition's records
        is kept, as with one ``produce()`` at a time."""
        while queued:
            messages: list[dict[str, Any]] = [
                {"key": key, "value": value, "callback": awaited.report(position)}
                for position, key, value in queued
            ]
            self._producer.produce_batch(topic, messages)
            again: list[tuple[int, bytes | None, bytes]] = []
            for record, message in zip(queued, messages, strict=True):
                error: KafkaError | None = message.get("_error")
                if error is None:
                    awaited.handed()
                elif error.code() == KafkaError._QUEUE_FULL:
                    again.append(record)
                else:
                    awaited.refused(record[0], error)
            if again:
                self._producer.poll(0.1)  # room comes as reports are served
            queued = again

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then release the client (its threads and sockets)."""
        if self._producer.flush(timeout):
            self._producer.purge()  # undeliverable; callers of send_all already heard so
        self._closing.set()
        self._reports.join()
        self._producer.close()


class ProduceError(Exception):
    """A record the broker (or the producer, before sending) did not take. ``code`` is
    librdkafka's error name (e.g. ``MSG_SIZE_TOO_LARGE``); ``record_fault`` says whether it
    is the record's own fault (too large, invalid) rather than the broker's or the
    network's."""

    def __init__(self, topic: str, size: int, error: KafkaError, limit: int) -> None:
        self.code = error.name()
        self.record_fault = error.code() in _RECORD_FAULTS
        detail = error.str()
        if error.code() in (KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.RECORD_LIST_TOO_LARGE):
            detail += (
                f" ({size:,} bytes; over the producer's message.max.bytes of {limit:,} or the"
                f" topic's max.message.bytes)"
            )
        super().__init__(f"{self.code}: {detail}")
        self.topic = topic


Settled = Callable[[str, bool, int], None]
"""Told of records' outcomes: a topic, whether the broker acknowledged them, how many."""


class AsyncProducer:
    """One idempotent librdkafka producer for an asyncio application. :meth:`send` queues a
    record and hands back a future that the broker's delivery report resolves (or fails
    with :class:`ProduceError`); a thread serves the reports and settles the futures in the
    event loop, one hop per poll rather than per record. Order per partition holds
    (idempotence: retries keep their place)."""

    def __init__(
        self,
        client_config: Mapping[str, str],
        loop: asyncio.AbstractEventLoop,
        *,
        settled: Settled | None = None,
        **overrides: str | int,
    ) -> None:
        # A broker gone for this long fails the batch (the worker halts and comes back).
        config = _idempotent(client_config, {"delivery.timeout.ms": 60_000, **overrides})
        self._limit = int(config.get("message.max.bytes", 1_000_000))
        self._producer = Producer(config)
        self._loop = loop
        self._settled = settled
        self._done: list[tuple[asyncio.Future[None], str, int, KafkaError | None]] = []
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="producer-reports", daemon=True)
        self._thread.start()

    def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[None]:
        """Queue one record; its delivery's future. Raises :class:`ProduceError` when the
        producer refuses it at once (too large) and :class:`BufferError` when its queue is
        full (wait for deliveries, then send again)."""
        future: asyncio.Future[None] = self._loop.create_future()

        def delivered(error: KafkaError | None, _message: Message) -> None:
            # Called by poll() in the reports' thread, the only one touching _done.
            self._done.append((future, topic, len(value), error))

        try:
            if partition is None:
                self._producer.produce(topic, value, key, on_delivery=delivered)
            else:
                self._producer.produce(topic, value, key, partition, on_delivery=delivered)
        except KafkaException as exc:
            raise ProduceError(topic, len(value), exc.args[0], self._limit) from None
        return future

    def _serve(self) -> None:
        """The reports' thread: poll, then settle what arrived in the loop in one call."""
        name_this_thread("qbsync-delivery")
        while not self._closing.is_set():
            self._producer.poll(0.05)
            if self._done:
                done, self._done = self._done, []
                try:
                    self._loop.call_soon_threadsafe(self._settle, done)
                except RuntimeError:  # the loop is closed: nobody waits any more
                    return

    def _settle(self, done: list[tuple[asyncio.Future[None], str, int, KafkaError | None]]) -> None:
        counts: dict[tuple[str, bool], int] = {}
        for future, topic, size, error in done:
            outcome = (topic, error is None)
            counts[outcome] = counts.get(outcome, 0) + 1
            if future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(ProduceError(topic, size, error, self._limit))
        if self._settled is not None:
            for (topic, acknowledged), count in counts.items():
                self._settled(topic, acknowledged, count)

    def close(self, timeout: float = 10.0) -> None:
        """Stop serving reports, deliver what is queued, release the client: all within
        ``timeout`` (the reports' thread and the flush share it)."""
        deadline = time.monotonic() + timeout
        self._closing.set()
        self._thread.join(timeout)
        self._producer.flush(max(0.0, deadline - time.monotonic()))
        self._producer.close()


class ProducerPool:
    """Several :class:`AsyncProducer` s behind one :meth:`send`, each topic always on the
    same one (a stable hash of its name), so every partition keeps one idempotent producer
    and its order. Why several: librdkafka puts one partition in a produce request and
    keeps at most 5 requests in flight per connection with idempotence, so a batch of 500
    commands for 500 company files' topics took 100 round trips on one producer. Spread
    over 4, the same batch is acknowledged 2.5-3x sooner, and a start's first writes to
    thousands of topics 3-6x sooner (docs/performance.md, "Many company files")."""

    def __init__(
        self,
        client_config: Mapping[str, str],
        loop: asyncio.AbstractEventLoop,
        *,
        size: int,
        settled: Settled | None = None,
        **overrides: str | int,
    ) -> None:
        if size < 1:
            raise ValueError(f"a producer pool needs at least one producer, not {size}")
        self._members = [
            AsyncProducer(client_config, loop, settled=settled, **overrides) for _ in range(size)
        ]

    def member_for(self, topic: str) -> int:
        """The index of the producer that writes ``topic`` (the same for the pool's life)."""
        return zlib.crc32(topic.encode()) % len(self._members)

    def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> asyncio.Future[None]:
        """:meth:`AsyncProducer.send` on the topic's producer."""
        return self._members[self.member_for(topic)].send(topic, key, value, partition)

    def close(self, timeout: float = 10.0) -> None:
        """Close every producer (each delivers what it has queued first), all within
        ``timeout``: with the broker gone, a stop takes no longer than with one producer
        (what is not delivered was not acknowledged, and is read again after the restart)."""
        deadline = time.monotonic() + timeout
        for member in self._members:
            member.close(max(0.0, deadline - time.monotonic()))
