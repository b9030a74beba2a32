"""Each busy company file's commands read ahead by one long-lived consumer (issue 14).

Why: before, every batch of a Web Connector session borrowed a pooled consumer, assigned the
file's partition at the batch's offset, read, and unassigned it: two or three broker requests
a batch (the read, then librdkafka's prefetch thrown away at the unassign) and per-batch
client work, 24% of the broker's handler time at 16 sessions (docs/performance.md, "The
broker's requests per batch of a working session"). Here one consumer keeps the partitions of
the files being read assigned for ``idle_s`` after their last read, and one thread moves what
it fetches (one Fetch request for all of them) into a buffer per file. A session's next batch
is then usually in memory already, and :meth:`ReadAhead.ready` hands it over without any
broker request.

It only ever caches the log: records are immutable, so a buffer is right for any reader
that asks from an offset it covers; a read from anywhere else moves the partition there
(unassigned and assigned again at that offset, which is how librdkafka drops what it fetched
from the old position). Nothing here commits or decides what is settled: that stays with the
caller and the group's committed offsets, so any gateway replica can still serve any call.

Threads: every call on the consumer (assign, unassign, pause, resume, consume, and the
``list_topics`` that makes it fetch a topic it has not met at once rather than at
librdkafka's next topic scan: measured 38-410 ms against 15 ms) is made by the one reading
thread, in order, so a record fetched from an old position can never be filed under a new
one: a buffer accepts records only after the thread has placed its partition at the
buffer's start. Callers only change the buffers, under one lock.

One assumption: a topic name always means the same log. qbsync never deletes a command
topic; one deleted by hand and made again under the same name within ``idle_s`` of its
last read could be served the old records from memory, so restart the gateway after that.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from connectors.kafka._queued import QueuedCommand
from core.processes import name_this_thread

__all__ = ["ReadAhead"]

log = logging.getLogger(__name__)

# How long the reading thread waits in one consume() while partitions are assigned: also
# the longest a newly asked partition waits to be placed (the thread cannot be woken from
# inside librdkafka's wait).
_POLL_S = 0.005
# Records taken from librdkafka per consume() call.
_CONSUME_MAX = 500
# How often idle partitions are let go.
_SWEEP_S = 1.0
# A topic's metadata is asked again (by a caller, before the partition is placed) when
# this consumer has not read the topic for this long: librdkafka forgets topics it no
# longer reads.
_KNOWN_S = 60.0


@dataclass
class _Buffer:
    """What has been read ahead of one file's partition: records from ``start`` on, the
    next expected at or past ``next``. ``placed``: the reading thread has assigned the
    partition at ``start`` (records are accepted only then)."""

    start: int
    next: int
    asked: float
    records: deque[QueuedCommand] = field(default_factory=deque)
    size: int = 0  # bytes of the records' values
    placed: bool = False
    paused: bool = False
    waiting: int = 0  # readers waiting for more of its records
    wanted: int = 0  # the most records one of them wants
    error: KafkaError | None = None

    @property
    def short(self) -> bool:
        """A reader waits for more records than it holds: never held back then."""
        return self.waiting > 0 and len(self.records) < self.wanted

    def covers(self, offset: int) -> bool:
        return self.start <= offset <= self.next

    def drop_before(self, offset: int) -> int:
        """Records before ``offset`` are behind the reader (settled or being settled); the
        bytes let go."""
        dropped = 0
        while self.records and self.records[0].offset < offset:
            dropped += len(self.records.popleft().value)
        self.start = max(self.start, offset)
        self.size -= dropped
        return dropped

    def take(self, want: int, max_bytes: int) -> list[QueuedCommand]:
        """Up to ``want`` records from ``start`` and about ``max_bytes`` (at least one)."""
        out: list[QueuedCommand] = []
        size = 0
        for record in self.records:
            if len(out) >= want or (out and size + len(record.value) > max_bytes):
                break
            size += len(record.value)
            out.append(record)
        return out


class ReadAhead:
    """See the module's doc. ``config``: the consumer's (group id included; this consumer
    never commits). ``ahead``: records buffered per file before its partition is paused.
    ``idle_s``: a partition not read for this long is let go. ``max_bytes``: past this
    many bytes held in all buffers, partitions are paused as records come, except one
    short of what a waiting reader wants. The reading thread starts at the first read."""

    def __init__(
        self,
        config: Mapping[str, Any],
        *,
        ahead: int = 200,
        idle_s: float = 10.0,
        max_partitions: int = 1000,
        max_bytes: int = 64 * 1024 * 1024,
        consumer: Callable[[dict[str, Any]], Consumer] = Consumer,
    ) -> None:
        self._config = {
            **config,
            # librdkafka's own prefetch per partition stays near what is buffered here, and
            # once past it librdkafka waits fetch.queue.backoff.ms (default 1 s) before it
            # fetches the partition again: this thread drains its queue at once, so a long
            # wait only delays the next batch (seen as ~1 s at the bench's p99).
            "queued.min.messages": max(1, ahead),
            "fetch.queue.backoff.ms": 10,
            "queued.max.messages.kbytes": max(1024, max_bytes // 4096),
        }
        self._make = consumer
        self._ahead = max(1, ahead)
        self._idle_s = idle_s
        self._max_partitions = max(1, max_partitions)
        self._max_bytes = max_bytes
        self._bytes = 0  # held in all buffers
        self._lock = threading.Condition()
        self._buffers: dict[str, _Buffer] = {}
        self._to_place: set[str] = set()
        self._drained: set[str] = set()  # records taken: maybe resume
        self._filled: set[str] = set()  # records added: maybe pause
        self._let_go: set[str] = set()  # buffers dropped by a reader: unassign
        self._known: dict[str, float] = {}  # topic -> when its metadata was last asked/read
        self._consumer: Consumer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._client_error: tuple[KafkaError, float] | None = None

    # -- callers ----------------------------------------------------------------------

    def ready(
        self, topic: str, start: int, max_count: int, max_bytes: int
    ) -> list[QueuedCommand] | None:
        """A whole batch from ``start`` when it is buffered already (``max_count`` records,
        or as many as reach ``max_bytes``), else None: the caller asks the broker how many
        there are and :meth:`read` s them."""
        with self._lock:
            buffer = self._buffers.get(topic)
            if buffer is None or buffer.error is not None or not buffer.covers(start):
                return None
            buffer.asked = time.monotonic()
            self._bytes -= buffer.drop_before(start)
            self._drained.add(topic)
            out = buffer.take(max_count, max_bytes)
            if len(out) >= max_count:
                return out
            # Fewer: a batch cut by max_bytes is whole; else more may exist (ask the broker).
            if out and len(out) < len(buffer.records):
                return out
            return None

    def read(
        self, topic: str, start: int, want: int, max_bytes: int, timeout: float
    ) -> list[QueuedCommand]:
        """``want`` records from ``start`` (known to exist: the caller read the high
        watermark), fewer if ``max_bytes`` is reached or ``timeout`` passes first. Raises
        the partition's error (KafkaException), or the client's when nothing came at all."""
        began = time.monotonic()
        deadline = began + timeout
        with self._lock:
            while True:
                self._start_thread()  # again after a wait: the thread may have failed
                buffer = self._buffers.get(topic)
                if buffer is not None and buffer.error is not None:
                    self._forget(topic)  # placed afresh by the next read
                    self._let_go.add(topic)
                    raise KafkaException(buffer.error)
                buffer = self._at(topic, start)
                self._bytes -= buffer.drop_before(start)
                self._drained.add(topic)
                out = buffer.take(want, max_bytes)
                if len(out) >= want or (out and len(out) < len(buffer.records)):
                    return out
                left = deadline - time.monotonic()
                if left <= 0:
                    if not out and self._client_error and self._client_error[1] >= began:
                        raise KafkaException(self._client_error[0])
                    return out
                buffer.waiting += 1
                buffer.wanted = max(buffer.wanted, want)
                try:
                    self._lock.wait(left)
                finally:
                    buffer.waiting -= 1
                    if not buffer.waiting:
                        buffer.wanted = 0
                    self._filled.add(topic)  # maybe not paused while short: check again

    def release(self, topic: str) -> None:
        """The file's reader found nothing left: let its partition go now rather than
        after ``idle_s`` (a held partition is in every Fetch request this consumer sends,
        every 10 ms: 100 files held after their sessions made the e2e bench's broker work
        a third more)."""
        with self._lock:
            if topic in self._buffers:
                self._forget(topic)
                self._let_go.add(topic)

    def held(self) -> frozenset[str]:
        """The topics whose records are read ahead now (each file's partition assigned)."""
        with self._lock:
            return frozenset(self._buffers)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
            self._lock.notify_all()
        if thread is not None:
            thread.join()

    def _at(self, topic: str, start: int) -> _Buffer:
        """The file's buffer, moved to ``start`` when it does not cover it (lock held)."""
        now = time.monotonic()
        buffer = self._buffers.get(topic)
        if buffer is None or not buffer.covers(start):
            self._forget(topic)
            buffer = _Buffer(start=start, next=start, asked=now)
            self._buffers[topic] = buffer
            self._to_place.add(topic)
            self._lock.notify_all()
        buffer.asked = now
        return buffer

    def _forget(self, topic: str) -> None:
        """Drop the file's buffer, if any (lock held)."""
        buffer = self._buffers.pop(topic, None)
        if buffer is not None:
            self._bytes -= buffer.size
        self._to_place.discard(topic)

    def _start_thread(self) -> None:
        """(lock held)"""
        if self._closed:
            raise RuntimeError("the command queue is closed")
        if self._thread is not None:
            return
        self._consumer = self._make(dict(self._config))
        self._thread = threading.Thread(target=self._run, name="qbsync-read-ahead", daemon=True)
        self._thread.start()

    # -- the reading thread -------------------------------------------------------------

    def _run(self) -> None:
        name_this_thread("qbsync-ahead")
        consumer = self._consumer
        assert consumer is not None
        assigned: set[str] = set()
        paused: set[str] = set()
        swept = time.monotonic()
        try:
            while True:
                with self._lock:
                    if self._closed:
                        return
                    if not assigned and not self._to_place:
                        self._lock.wait(_SWEEP_S)
                        continue
                    now = time.monotonic()
                    release, self._let_go = list(self._let_go), set()
                    if now - swept >= _SWEEP_S:
                        release, swept = release + self._idle(now), now
                    place = {t: self._buffers[t] for t in self._to_place}
                    self._to_place.clear()
                    pause, resume = self._flow()
                self._learn(consumer, place)
                self._apply(
                    consumer,
                    assigned,
                    paused,
                    {t: b.start for t, b in place.items() if b.error is None},
                    release,
                    pause,
                    resume,
                )
                with self._lock:
                    for topic, buffer in place.items():
                        if self._buffers.get(topic) is buffer:
                            buffer.placed = True
                messages = consumer.consume(_CONSUME_MAX, timeout=_POLL_S) if assigned else []
                if messages:
                    self._file(messages)
        except Exception as error:  # the consumer failed: the next read starts a new one
            log.error("read-ahead stopped", extra={"error": type(error).__name__})
            with self._lock:
                self._client_error = (KafkaError(KafkaError._FAIL), time.monotonic())
                self._buffers.clear()
                self._bytes = 0
                self._to_place.clear()
                self._known.clear()
                self._thread = None
                self._lock.notify_all()
        finally:
            try:
                consumer.close()
            except Exception as error:  # closing a failed client: nothing left to do
                log.warning("read-ahead close failed", extra={"error": type(error).__name__})

    def _learn(self, consumer: Consumer, place: Mapping[str, _Buffer]) -> None:
        """Ask the broker about each topic to place that this consumer has not read lately,
        so that it is fetched at once (see the module's doc). Here, not in the callers'
        threads: a ``list_topics`` from another thread while this one consumes was measured
        to wait up to 39 s (confluent-kafka 2.x, librdkafka 2.x); it is ~10-15 ms alone."""
        now = time.monotonic()
        for topic, buffer in place.items():
            known = self._known.get(topic)
            if known is not None and now - known < _KNOWN_S:
                continue
            try:
                consumer.list_topics(topic, timeout=10)
            except KafkaException as error:
                with self._lock:
                    buffer.error = error.args[0]
                    self._lock.notify_all()
                continue
            self._known[topic] = now

    def _idle(self, now: float) -> list[str]:
        """Buffers to let go (lock held): not read for ``idle_s``, and the least recently
        read beyond ``max_partitions``. Topics met longer than ``_KNOWN_S`` ago are
        forgotten too (asked again anyway): one entry per file ever read would otherwise
        stay for the process's life."""
        self._known = {t: at for t, at in self._known.items() if now - at < _KNOWN_S}
        stale = [t for t, b in self._buffers.items() if now - b.asked >= self._idle_s]
        if len(self._buffers) - len(stale) > self._max_partitions:
            live = sorted(
                (b.asked, t) for t, b in self._buffers.items() if now - b.asked < self._idle_s
            )
            stale += [t for _, t in live[: len(live) - self._max_partitions]]
        for topic in stale:
            self._forget(topic)
        return stale

    def _flow(self) -> tuple[list[str], list[str]]:
        """Partitions to pause and to resume (lock held). A buffer is full at ``ahead``
        records, or at any size while all buffers together hold ``max_bytes``; it is
        resumed once drained to half (and the total is under the budget again). A buffer
        short of what a waiting reader wants is never held back: resumed at once, not
        paused."""
        pause: list[str] = []
        resume: list[str] = []
        over = self._bytes >= self._max_bytes
        for topic in self._drained:
            buffer = self._buffers.get(topic)
            if buffer is None or not buffer.paused:
                continue
            if buffer.short or (len(buffer.records) <= self._ahead // 2 and not over):
                buffer.paused = False
                resume.append(topic)
        self._drained.clear()
        for topic in self._filled:
            buffer = self._buffers.get(topic)
            if buffer is None or buffer.paused or buffer.short:
                continue
            if len(buffer.records) >= self._ahead or over:
                buffer.paused = True
                pause.append(topic)
        self._filled.clear()
        return pause, resume

    @staticmethod
    def _apply(
        consumer: Consumer,
        assigned: set[str],
        paused: set[str],
        place: Mapping[str, int],
        release: list[str],
        pause: list[str],
        resume: list[str],
    ) -> None:
        """The consumer's calls, in order. ``assigned`` and ``paused``: what the client
        holds (this thread's own view). A pause outlives an unassign in librdkafka (a
        partition paused, unassigned and assigned again fetches nothing until resumed:
        measured), so a placement resumes a partition the client still has paused."""
        gone = [t for t in {*release, *place} if t in assigned]
        if gone:
            consumer.incremental_unassign([TopicPartition(t, 0) for t in gone])
            assigned.difference_update(gone)
        if place:
            consumer.incremental_assign([TopicPartition(t, 0, o) for t, o in place.items()])
            assigned.update(place)
        if pause := [t for t in pause if t in assigned and t not in place]:
            consumer.pause([TopicPartition(t, 0) for t in pause])
            paused.update(pause)
        resume = [t for t in resume if t in assigned and t not in place]
        again = {t: o for t, o in place.items() if t in paused}  # placed, still paused
        if resume or again:
            # Each is also sought to where it stands: librdkafka does not wake its fetcher
            # for a resume, and a partition it had stopped fetching (its queue full) waited
            # for the fetcher's next timer, up to a second (measured: 0.6-0.96 s in one
            # resume of three alone; every 500 records of a one-session gateway). A seek
            # wakes it.
            consumer.resume([TopicPartition(t, 0) for t in [*resume, *again]])
            where = consumer.position([TopicPartition(t, 0) for t in resume]) if resume else []
            for position in [*where, *(TopicPartition(t, 0, o) for t, o in again.items())]:
                if position.offset >= 0:
                    consumer.seek(position)
            paused.difference_update([*resume, *again])

    def _file(self, messages: list[Any]) -> None:
        """Put each fetched record in its file's buffer (lock taken here)."""
        with self._lock:
            for message in messages:
                error = message.error()
                topic = message.topic()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    buffer = self._buffers.get(topic) if topic else None
                    if buffer is not None and buffer.placed:
                        buffer.error = error
                    else:
                        self._client_error = (error, time.monotonic())
                        log.warning("read-ahead client error", extra={"code": error.name()})
                    continue
                buffer = self._buffers.get(topic)
                offset = message.offset()
                if buffer is None or not buffer.placed or offset is None or offset < buffer.next:
                    continue
                value = message.value() or b""
                buffer.records.append(QueuedCommand(offset, message.key(), value))
                buffer.size += len(value)
                self._bytes += len(value)
                buffer.next = offset + 1
                self._filled.add(topic)
            now = time.monotonic()
            for topic in self._filled:
                self._known[topic] = now
            self._lock.notify_all()
