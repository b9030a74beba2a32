"""Which company files have commands waiting, known in memory and refreshed in bulk.

An idle Web Connector poll (``authenticate`` -> ``none``) should cost neither a broker round
trip nor a database query. The index asks the broker, in a background thread, for every
command topic's high watermark (one ListOffsets request for all of them) and the gateway
group's committed offsets (one OffsetFetch for all), every ``refresh_s``; a poll reads the
difference from memory.

What it may get wrong, and why that is safe: a command written after the last refresh is not
seen until the next one, so the Web Connector is told ``none`` and comes back at its next
scheduled update (at most one poll interval late, never lost: the offsets in Kafka stay the
only truth, and a session reads and commits them as before). A file the index believes busy
but is not opens a session that finds nothing and ends at once. Until its first refresh, or
when refreshes keep failing for ``max_age_s``, the index answers "unknown" and the caller
asks the broker itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping

from confluent_kafka import Consumer, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._listoffsets import OffsetSpec  # not re-exported for type checkers

from core.processes import name_this_thread

__all__ = ["WorkIndex"]

log = logging.getLogger(__name__)
_LATEST: OffsetSpec = OffsetSpec.latest()  # type: ignore[no-untyped-call]
_EARLIEST: OffsetSpec = OffsetSpec.earliest()  # type: ignore[no-untyped-call]


class WorkIndex:
    """``pending(topic)``: commands waiting on a command topic, from memory; None when the
    index does not know (not refreshed yet, or stale), so the caller asks the broker."""

    def __init__(
        self,
        client_config: Mapping[str, str],
        *,
        group_id: str,
        topic_prefix: str,
        refresh_s: float = 1.0,
        max_age_s: float = 30.0,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._admin = AdminClient(dict(client_config))
        self._consumer = Consumer(
            {
                **client_config,
                "group.id": group_id,
                "enable.auto.commit": False,
                "allow.auto.create.topics": False,
            }
        )
        self._prefix = topic_prefix
        self._refresh_s = refresh_s
        self._max_age_s = max_age_s
        self._timeout_s = timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        # topic -> (next unsettled offset, high watermark)
        self._bounds: dict[str, tuple[int, int]] = {}
        self._refreshed_at: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.refreshes = 0

    def start(self) -> None:
        """Refresh now, then every ``refresh_s`` in a daemon thread."""
        self._thread = threading.Thread(target=self._loop, name="work-index", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self._timeout_s + self._refresh_s + 5)
        self._consumer.close()

    def _loop(self) -> None:
        name_this_thread("qbsync-index")
        while not self._stop.is_set():
            try:
                self.refresh()
            except KafkaException as exc:  # the broker is away: keep the last answer a while
                log.warning("work index refresh failed", extra={"error": str(exc.args[0])})
            self._stop.wait(self._refresh_s)

    def refresh(self) -> None:
        """One round: every command topic's watermarks and committed offsets, in bulk."""
        started = self._clock()
        metadata = self._consumer.list_topics(timeout=self._timeout_s)
        topics = sorted(
            name
            for name, topic in metadata.topics.items()
            if name.startswith(self._prefix) and topic.error is None and 0 in topic.partitions
        )
        bounds: dict[str, tuple[int, int]] = {}
        if topics:
            partitions = [TopicPartition(topic, 0) for topic in topics]
            highs = self._offsets(partitions, _LATEST)
            committed = {
                tp.topic: tp.offset
                for tp in self._consumer.committed(partitions, timeout=self._timeout_s)
            }
            unset = [TopicPartition(t, 0) for t in topics if committed.get(t, -1) < 0]
            lows = self._offsets(unset, _EARLIEST) if unset else {}
            for topic in topics:
                start = committed.get(topic, -1)
                if start < 0:
                    start = lows.get(topic, 0)
                bounds[topic] = (start, highs.get(topic, start))
        with self._lock:
            # A commit made while this round was in flight is newer than what it read.
            for topic, (start, high) in bounds.items():
                known = self._bounds.get(topic)
                if known is not None and known[0] > start:
                    bounds[topic] = (known[0], high)
            self._bounds = bounds
            self._refreshed_at = started
            self.refreshes += 1

    def _offsets(self, partitions: list[TopicPartition], spec: OffsetSpec) -> dict[str, int]:
        futures = self._admin.list_offsets(
            dict.fromkeys(partitions, spec), request_timeout=self._timeout_s
        )
        return {tp.topic: future.result().offset for tp, future in futures.items()}

    def pending(self, topic: str) -> int | None:
        """Commands waiting on ``topic`` as of the last refresh (0 for a topic that did not
        exist then); None when the index is not fresh enough to answer."""
        with self._lock:
            if self._refreshed_at is None or self._clock() - self._refreshed_at > self._max_age_s:
                return None
            start, high = self._bounds.get(topic, (0, 0))
            return max(0, high - start)

    def settled(self, topic: str, next_offset: int) -> None:
        """The gateway committed ``next_offset`` on ``topic``: remember it at once."""
        with self._lock:
            start, high = self._bounds.get(topic, (next_offset, next_offset))
            self._bounds[topic] = (max(start, next_offset), max(high, next_offset))
