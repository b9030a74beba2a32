"""Commit the offsets of concurrent callers in one OffsetCommit request (a group commit).

Why: every settled batch of a Web Connector session commits its company file's offset, and
all files' command topics share the gateway's one consumer group, so one OffsetCommit can
carry every file's partition. Committed one by one they were the broker's most expensive
request of a working session: 30% of its handler time per batch at 16 sessions
(docs/performance.md, "The broker's requests per batch"). Here a caller whose commit finds
none in flight sends its own at once (no added wait when alone); callers arriving while one
is in flight wait for it to end, then the first of them sends one request for all of them.

Each caller still returns only once its own offset is committed, or raises its own error:
the request's (every caller of that request gets it) or its partition's. So what a caller
does after a commit (the gateway's session write) happens after it, exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, TopicPartition

__all__ = ["GroupCommit"]

# Sends one OffsetCommit for the partitions given; returns them with per-partition errors.
CommitRequest = Callable[[list[TopicPartition]], Sequence[TopicPartition]]


_INTERRUPTED = "the offset commit was interrupted; it may not have been made"


@dataclass
class _Waiter:
    partition: TopicPartition
    done: bool = False
    error: BaseException | None = field(default=None)


class GroupCommit:
    """``commit(topic, partition, offset)`` from any thread; see the module's doc."""

    def __init__(self, send: CommitRequest) -> None:
        self._send = send
        self._ready = threading.Condition()
        self._queued: list[_Waiter] = []
        self._sending = False
        self.requests = 0  # OffsetCommit requests sent (for tests and benches)

    def commit(self, topic: str, partition: int, offset: int) -> None:
        waiter = _Waiter(TopicPartition(topic, partition, offset))
        with self._ready:
            self._queued.append(waiter)
            while not waiter.done and self._sending:
                self._ready.wait()
            if waiter.done:
                return self._settled(waiter)
            # Nothing in flight: this caller sends for everyone queued (itself included).
            batch, self._queued = self._queued, []
            self._sending = True
        errors: dict[int, BaseException] | None = None
        try:
            errors = self._send_batch(batch)
        except Exception as exc:  # the request failed (KafkaException, a closed client ...)
            errors = dict.fromkeys(range(len(batch)), exc)
        finally:
            with self._ready:
                for index, queued in enumerate(batch):
                    queued.done = True
                    # None: interrupted (KeyboardInterrupt ...): no waiter may think it done.
                    queued.error = (
                        RuntimeError(_INTERRUPTED) if errors is None else errors.get(index)
                    )
                self._sending = False
                self._ready.notify_all()
        return self._settled(waiter)

    def _send_batch(self, batch: list[_Waiter]) -> dict[int, BaseException]:
        """One request for ``batch``: each waiter's error, by its position. librdkafka
        raises one partition's error for the whole request, though Kafka commits each
        partition on its own: then each partition is sent again alone (committing the same
        offset twice changes nothing), so that only its own callers get its error."""
        # One offset per partition in a request: the highest asked (a file's commits come
        # from the one session holding its lease, so two at once do not happen in practice).
        highest: dict[tuple[str, int], TopicPartition] = {}
        for queued in batch:
            tp = queued.partition
            key = (tp.topic, tp.partition)
            if key not in highest or tp.offset > highest[key].offset:
                highest[key] = tp
        failed: dict[tuple[str, int], BaseException] = {}
        try:
            self._request(list(highest.values()), failed)
        except KafkaException as exc:
            if len(highest) == 1:
                failed = dict.fromkeys(highest, exc)
            else:
                for key, tp in highest.items():
                    try:
                        self._request([tp], failed)
                    except KafkaException as alone:
                        failed[key] = alone
        return {
            index: failed[key]
            for index, queued in enumerate(batch)
            if (key := (queued.partition.topic, queued.partition.partition)) in failed
        }

    def _request(
        self, partitions: list[TopicPartition], failed: dict[tuple[str, int], BaseException]
    ) -> None:
        """Send one OffsetCommit; errors the broker gave per partition go into ``failed``."""
        self.requests += 1
        for tp in self._send(partitions):
            if tp.error is not None:
                failed[(tp.topic, tp.partition)] = KafkaException(tp.error)

    @staticmethod
    def _settled(waiter: _Waiter) -> None:
        if waiter.error is not None:
            raise waiter.error
