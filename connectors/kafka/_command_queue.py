"""Read a company file's command topic from the committed offset, commit past settled ones.

The gateway keeps no consumer group membership: each file topic has one partition, read by
explicit assignment at the group's committed offset. So any gateway replica can serve any
Web Connector call, and the only state is the committed offset in Kafka.

Apache Kafka's high watermark says exactly how many commands wait, so an idle file costs two
cheap metadata requests. Tansu 0.6 (the embedded demo broker) advances its high watermark
once per record *batch*; with ``exact_watermarks=False`` the queue confirms "empty" and finds
the end of a batch by reading instead.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from connectors.kafka._group_commit import GroupCommit
from connectors.kafka._queued import QueuedCommand
from connectors.kafka._read_ahead import ReadAhead
from connectors.kafka._work_index import WorkIndex

__all__ = ["CommandQueue", "CommandTopicNotReady", "QueuedCommand"]


class CommandTopicNotReady(RuntimeError):
    """The company file's command topic exists but its partition has no leader yet (it was
    just created, or its broker is moving): nothing can be read or counted until it has."""


_ABSENT = {KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_PARTITION}
_COORDINATOR_MOVING = {
    KafkaError.NOT_COORDINATOR,
    KafkaError.COORDINATOR_NOT_AVAILABLE,
    KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
}
_COORDINATOR_ATTEMPTS = 5
# A topic the worker has just created is listed before its partition has a leader: the
# broker answers NOT_LEADER_FOR_PARTITION (or LEADER_NOT_AVAILABLE) for a moment. The queue
# asks again until the leader is known, for at most this long, then reports "not ready".
_LEADERLESS = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.REPLICA_NOT_AVAILABLE,
}
_LEADER_WAIT_S = 5.0
# How long a read waits for one more record once it has stopped trusting the watermark.
_PEEK_S = 0.3


def _listed(consumer: Consumer, topic: str) -> bool:
    """Whether the broker knows ``topic`` now. ``list_topics`` names an unknown topic too,
    with the error UNKNOWN_TOPIC_OR_PART: only that error (or no entry) means absent."""
    found = consumer.list_topics(topic, timeout=10).topics.get(topic)
    return found is not None and (found.error is None or found.error.code() not in _ABSENT)


class CommandQueue:
    def __init__(
        self,
        client_config: Mapping[str, str],
        *,
        group_id: str,
        topic_for: Callable[[str], str],
        fetch_timeout: float = 5.0,
        exact_watermarks: bool = True,
        consumers: int = 4,
        leader_wait: float = _LEADER_WAIT_S,
        index: WorkIndex | None = None,
        read_ahead: int = 200,
    ) -> None:
        """``index``: answers :meth:`pending` from memory when it can (see WorkIndex; only
        with exact watermarks, since it reads nothing but watermarks and offsets). The
        queue tells it about its own commits; its owner starts and closes it.
        ``read_ahead``: records read ahead per busy file (0: each read assigns a pooled
        consumer and unassigns it after, as before issue 14's read-ahead)."""
        config = {
            **client_config,
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "allow.auto.create.topics": False,
            # The broker answers a connection's requests in order: a Fetch parked for
            # the default 500 ms delays the next watermark or offset query behind it.
            # The queue only reads what it knows is there, so a short wait costs nothing.
            "fetch.wait.max.ms": 10,
        }
        # A small pool of clients: one librdkafka consumer can serve only one assign/consume
        # at a time, and every Web Connector call needs one; a pool lets calls for different
        # files proceed side by side instead of queueing behind a single lock.
        self._idle: queue.Queue[Consumer] = queue.Queue()
        self._all = [Consumer(config) for _ in range(max(1, consumers))]
        for consumer in self._all:
            self._idle.put(consumer)
        self._topic_for = topic_for
        self._fetch_timeout = fetch_timeout
        self._exact = exact_watermarks
        self._leader_wait = leader_wait
        self._index = index if exact_watermarks else None
        self._commits = GroupCommit(self._commit_request, committed=self._learn)
        # Reads with exact watermarks go through one long-lived consumer that keeps busy
        # files' partitions assigned and reads ahead (connectors.kafka._read_ahead); the
        # pool above still answers the watermark and committed-offset questions.
        self._ahead = (
            ReadAhead(config, ahead=read_ahead, consumer=lambda c: Consumer(c))
            if exact_watermarks and read_ahead > 0
            else None
        )

    def close(self) -> None:
        self._commits.close()  # what was handed over is sent first (it borrows a consumer)
        if self._ahead is not None:
            self._ahead.close()
        for consumer in self._all:
            consumer.close()

    @contextmanager
    def _borrow(self) -> Iterator[Consumer]:
        consumer = self._idle.get()
        try:
            yield consumer
        finally:
            self._idle.put(consumer)

    def _bounds(
        self, consumer: Consumer, topic: str, start: int | None = None
    ) -> tuple[int, int] | None:
        """``(next unsettled offset, high watermark)`` of the file's single partition, or
        None when the topic does not exist yet; :class:`CommandTopicNotReady` when it exists
        but its partition has had no leader for ``leader_wait`` seconds. ``start``: the
        committed offset when the caller knows it (not asked of the broker then)."""
        partition = TopicPartition(topic, 0)
        listed = False
        deadline = time.monotonic() + self._leader_wait
        attempt = 0
        while True:
            try:
                low, high = consumer.get_watermark_offsets(partition, timeout=10, cached=False)
                if start is not None:
                    return max(start, low), high
                (committed,) = self._committed(consumer, partition)
                break
            except KafkaException as exc:
                code = exc.args[0].code()
                if code in _ABSENT:
                    # librdkafka remembers a topic it once found absent; the worker may have
                    # created it since. Ask the broker, once: absent, there is nothing to
                    # read; listed, this client's view lags and is waited for like a leader.
                    if not listed:
                        if not _listed(consumer, topic):
                            return None
                        listed = True
                        continue
                elif code not in _LEADERLESS:
                    raise
                if time.monotonic() >= deadline:
                    raise CommandTopicNotReady(
                        f"command topic {topic!r}: partition 0 has no leader yet"
                        f" ({exc.args[0].name()}); its commands wait in Kafka and are read"
                        " at the next update"
                    ) from exc
                attempt += 1
                time.sleep(min(0.05 * 2**attempt, 0.5))  # backoff for the broker
        start = committed.offset if committed.offset >= 0 else low
        return max(start, low), high

    def _committed(self, consumer: Consumer, partition: TopicPartition) -> list[TopicPartition]:
        """The group's committed offset; a coordinator that is moving or loading is asked
        again (briefly) instead of failing the Web Connector's call."""
        for attempt in range(_COORDINATOR_ATTEMPTS):
            try:
                return list(consumer.committed([partition], timeout=10))
            except KafkaException as exc:
                if (
                    exc.args[0].code() not in _COORDINATOR_MOVING
                    or attempt == _COORDINATOR_ATTEMPTS - 1
                ):
                    raise
                time.sleep(0.1 * (attempt + 1))  # backoff for the broker, not synchronization
        raise AssertionError("unreachable")

    def pending(self, profile_id: str) -> int:
        """How many commands wait for this file (0 when its topic does not exist yet).
        Without exact watermarks: at least this many (1 means "some")."""
        topic = self._topic_for(profile_id)
        known = self._index.pending(topic) if self._index is not None else None
        if known is not None:
            return known
        with self._borrow() as consumer:
            bounds = self._bounds(consumer, topic)
            if bounds is None:
                return 0
            start, high = bounds
            if high > start or self._exact:
                return max(0, high - start)
            return len(self._read(consumer, topic, start, 1, 1, deadline_s=_PEEK_S))

    def fetch(
        self, profile_id: str, max_count: int, max_bytes: int, *, start: int | None = None
    ) -> list[QueuedCommand]:
        """The next commands after the committed offset, at most ``max_count`` and about
        ``max_bytes`` (always at least one, so an oversized command cannot block the file).

        ``start``: the committed offset, when the caller knows it because it committed it
        itself in the session it holds the file's lease for (the gateway's next batch after
        a settle): the group's offset is then not asked again, and a whole batch the
        read-ahead holds already is handed over without any broker request. Otherwise the
        watermark is asked (more may have come since), and the read waits for what it
        promises; a file found caught up is let go by the read-ahead. Without ``start``,
        this queue's own commits for the file that are not made yet are made first."""
        topic = self._topic_for(profile_id)
        if self._ahead is not None and start is not None:
            ready = self._ahead.ready(topic, start, max_count, max_bytes)
            if ready is not None:
                return ready  # a whole batch read ahead: no broker request
        if start is None:
            # The group's offset is asked: this queue's own commits not yet made (handed
            # over without waiting) are made first, or it would read settled commands again.
            self._commits.flush(topic, 0)
        with self._borrow() as consumer:
            bounds = self._bounds(consumer, topic, start)
            if bounds is None:
                return []
            start, high = bounds
            if not self._exact:
                return self._read(consumer, topic, start, max_count, max_bytes, deadline_s=_PEEK_S)
            if start >= high:
                if self._ahead is not None:
                    self._ahead.release(topic)  # caught up: the session ends here
                return []
            want = min(max_count, high - start)
            if self._ahead is None:
                return self._read(consumer, topic, start, want, max_bytes)
        return self._ahead.read(topic, start, want, max_bytes, self._fetch_timeout)

    def _read(
        self,
        consumer: Consumer,
        topic: str,
        start: int,
        want: int,
        max_bytes: int,
        *,
        deadline_s: float | None = None,
    ) -> list[QueuedCommand]:
        """Read from ``start``. With ``deadline_s``, stop when nothing more arrives within it
        (the watermark was not trusted); otherwise ``want`` records are known to exist."""
        consumer.assign([TopicPartition(topic, 0, start)])
        try:
            out: list[QueuedCommand] = []
            size = 0
            patience = deadline_s if deadline_s is not None else self._fetch_timeout
            deadline = time.monotonic() + patience
            while len(out) < want and time.monotonic() < deadline:
                for message in consumer.consume(want - len(out), timeout=min(patience, 0.5)):
                    error = message.error()
                    if error is not None:
                        if error.code() == KafkaError._PARTITION_EOF:
                            continue
                        raise KafkaException(error)
                    offset = message.offset()
                    if offset is None or offset < start + len(out):
                        continue
                    value = message.value() or b""
                    if out and size + len(value) > max_bytes:
                        return out
                    size += len(value)
                    out.append(QueuedCommand(offset=offset, key=message.key(), value=value))
                    if deadline_s is not None:
                        deadline = time.monotonic() + deadline_s
            return out
        finally:
            consumer.unassign()

    def commit(self, profile_id: str, next_offset: int, *, wait: bool = True) -> None:
        """Mark everything before ``next_offset`` as settled; with ``wait``, return once it
        is committed, else once it is handed to the committing thread (:meth:`flush` waits
        for it later). Concurrent sessions' commits share one request
        (connectors.kafka._group_commit)."""
        topic = self._topic_for(profile_id)
        self._commits.commit(topic, 0, next_offset, wait=wait)
        if wait:
            self._learn(topic, 0, next_offset)

    def flush(self, profile_id: str) -> None:
        """Return once every offset committed without waiting for this file is committed."""
        self._commits.flush(self._topic_for(profile_id), 0)

    def _learn(self, topic: str, _partition: int, next_offset: int) -> None:
        """A commit is made: the work index knows at once (not at its next refresh)."""
        if self._index is not None:
            self._index.settled(topic, next_offset)

    def _commit_request(self, offsets: list[TopicPartition]) -> list[TopicPartition]:
        with self._borrow() as consumer:
            return list(consumer.commit(offsets=offsets, asynchronous=False) or [])
