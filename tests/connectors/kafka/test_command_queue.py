"""A session's next batch on the real broker: read from the offset the session committed
itself, without asking the group's committed offset again; a whole batch read ahead is
served without asking anything, a partial one asks the watermark (more may have come)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import CommandQueue, RecordProducer, ensure_topics
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import use_broker
from tests.support.threads import joined, started
from tests.support.waiting import until

pytestmark = pytest.mark.integration

_ASKS = ("committed", "get_watermark_offsets")


class _Counted:
    """A consumer whose offset questions to the broker are written down."""

    def __init__(self, consumer: Consumer, asked: list[str]) -> None:
        self._consumer = consumer
        self._asked = asked

    def __getattr__(self, name: str) -> Any:
        if name in _ASKS:
            self._asked.append(name)
        return getattr(self._consumer, name)


def _produce(config: dict[str, str], topic: str, first: int, count: int) -> None:
    producer = RecordProducer(config)
    producer.send_all([(topic, None, f"command {first + i}".encode()) for i in range(count)])
    producer.close()


def _one_file(
    broker: BrokerInfo, settings: Settings, tag: str, commands: int = 30
) -> tuple[CommandQueue, dict[str, str], str]:
    """A queue over one file's topic (``file``) holding ``commands`` commands; the queue,
    the client config and the topic."""
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"{tag}-{uuid.uuid4().hex[:6]}."
    topic = f"{prefix}file"
    ensure_topics(config, {topic: 1})
    _produce(config, topic, 0, commands)
    queue = CommandQueue(
        config, group_id=f"g-{uuid.uuid4().hex[:6]}", topic_for=lambda file: prefix + file
    )
    return queue, config, topic


@contextmanager
def _counting(queue: CommandQueue) -> Iterator[list[str]]:
    asked: list[str] = []
    borrow = queue._borrow

    @contextmanager
    def counted() -> Iterator[Any]:
        with borrow() as consumer:
            yield _Counted(consumer, asked)

    queue._borrow = counted  # type: ignore[method-assign]
    try:
        yield asked
    finally:
        queue._borrow = borrow  # type: ignore[method-assign]


def test_the_next_batch_of_a_session_does_not_ask_the_committed_offset(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"cq-{uuid.uuid4().hex[:6]}."
    group = f"g-{uuid.uuid4().hex[:6]}"
    topic = f"{prefix}file"
    ensure_topics(config, {topic: 1})
    _produce(config, topic, 0, 60)
    queue = CommandQueue(config, group_id=group, topic_for=lambda file: f"{prefix}{file}")
    try:
        # The group's coordinator loaded first: while it loads, the committed offset is
        # asked again (a retry, not a second question), which would blur the count.
        with queue._borrow() as consumer:
            queue._committed(consumer, TopicPartition(topic, 0))
        # A session's first batch asks the group's offset (another replica may have
        # committed since) and the watermark, as before.
        with _counting(queue) as asked:
            first = queue.fetch("file", 25, 1 << 20)
        assert [c.offset for c in first] == list(range(25))
        assert asked == ["get_watermark_offsets", "committed"]
        queue.commit("file", 25)

        # The next batches: the session committed the offset itself. The first read left
        # the partition assigned and read on (the read-ahead), so a whole batch may be in
        # memory already: then nothing at all is asked; else only the watermark.
        with _counting(queue) as asked:
            second = queue.fetch("file", 25, 1 << 20, start=25)
        assert [c.offset for c in second] == list(range(25, 50))
        assert asked in ([], ["get_watermark_offsets"])
        queue.commit("file", 50)
        with _counting(queue) as asked:
            third = queue.fetch("file", 25, 1 << 20, start=50)
        assert [c.value for c in third] == [f"command {i}".encode() for i in range(50, 60)]
        assert asked == ["get_watermark_offsets"]
        queue.commit("file", 60)

        # Commands written since are found (the watermark is the broker's, asked each time).
        _produce(config, topic, 60, 5)
        with _counting(queue) as asked:
            late = queue.fetch("file", 25, 1 << 20, start=60)
        assert [c.offset for c in late] == list(range(60, 65))
        assert asked == ["get_watermark_offsets"]

        # ``start`` is taken as the committed offset, not the group's (which says 60).
        assert [c.offset for c in queue.fetch("file", 3, 1 << 20, start=40)] == [40, 41, 42]
        # Without ``start`` the group's offset is the truth.
        assert [c.offset for c in queue.fetch("file", 25, 1 << 20)] == list(range(60, 65))
    finally:
        queue.close()


def test_a_read_that_asks_the_group_waits_for_the_queues_own_commits(
    broker: BrokerInfo, settings: Settings
) -> None:
    """A commit handed to the committing thread without waiting is not made yet when a
    read without ``start`` asks the group's offset (the gateway's next send after a stage
    that failed): the read waits for it, or it would read settled commands again."""
    queue, _, _ = _one_file(broker, settings, "cq")
    gate = threading.Event()
    request = queue._commits._send

    def held(partitions: list[TopicPartition]) -> Any:
        assert gate.wait(30), "the test never let the commit go"
        return request(partitions)

    try:
        assert [c.offset for c in queue.fetch("file", 25, 1 << 20)] == list(range(25))
        queue._commits._send = held  # type: ignore[method-assign]
        queue.commit("file", 25, wait=False)  # handed over; held before its request
        read: list[list[int]] = []
        flushing = threading.Event()
        flush = queue._commits.flush

        def noted(*args: Any, **kwargs: Any) -> None:
            flushing.set()
            flush(*args, **kwargs)

        queue._commits.flush = noted  # type: ignore[method-assign]
        reader, raised = started(
            lambda: read.append([c.offset for c in queue.fetch("file", 25, 1 << 20)])
        )
        # The read either waits for the commit, or (were it not to) has read already.
        until(lambda: read or flushing.is_set(), what="the read to wait or be done")
        gate.set()
        joined(reader)
        assert raised == []
        assert read == [list(range(25, 30))]  # not the 25 settled ones again
    finally:
        gate.set()
        queue.close()


@pytest.mark.parametrize("read_ahead", [200, 0], ids=["read-ahead", "per-batch"])
def test_files_read_side_by_side_through_the_read_ahead_get_each_command_once(
    broker: BrokerInfo, settings: Settings, read_ahead: int
) -> None:
    """Three files' sessions interleaved batch by batch on one queue (one read-ahead
    consumer holding all three partitions), a batch read again from an earlier offset (as
    a session after a crash does), and commands written while the files are held: each
    file gets exactly its commands, in order, none skipped or repeated."""
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"ra-{uuid.uuid4().hex[:6]}."
    files = ["f0", "f1", "f2"]
    ensure_topics(config, {prefix + f: 1 for f in files})
    for f in files:
        _produce(config, prefix + f, 0, 70)
    queue = CommandQueue(
        config,
        group_id=f"g-{uuid.uuid4().hex[:6]}",
        topic_for=lambda p: prefix + p,
        read_ahead=read_ahead,
    )
    try:
        got: dict[str, list[bytes]] = {f: [] for f in files}
        at: dict[str, int | None] = dict.fromkeys(files)
        for round_number in range(4):
            for f in files:
                batch = queue.fetch(f, 20, 1 << 20, start=at[f])
                got[f] += [c.value for c in batch]
                at[f] = batch[-1].offset + 1
                queue.commit(f, at[f])
            if round_number == 1:
                for f in files:
                    _produce(config, prefix + f, 70, 5)  # written while held
        for f in files:
            assert got[f] == [f"command {i}".encode() for i in range(75)]
            assert queue.fetch(f, 20, 1 << 20, start=75) == []
        # A batch read again from before what the read-ahead holds.
        again = queue.fetch("f1", 10, 1 << 20, start=30)
        assert [c.offset for c in again] == list(range(30, 40))
        assert [c.value for c in again] == [f"command {i}".encode() for i in range(30, 40)]
    finally:
        queue.close()


def test_a_file_found_caught_up_is_let_go_by_the_read_ahead(
    broker: BrokerInfo, settings: Settings
) -> None:
    """A session's reads keep the file's partition read ahead; the read that finds nothing
    left lets it go at once (a held partition rides in every Fetch of the read-ahead's
    consumer), not 10 s later."""
    queue, config, topic = _one_file(broker, settings, "rl")
    ahead = queue._ahead
    assert ahead is not None
    try:
        assert len(queue.fetch("file", 25, 1 << 20)) == 25
        queue.commit("file", 25)
        assert topic in ahead.held()
        assert [c.offset for c in queue.fetch("file", 25, 1 << 20, start=25)] == list(range(25, 30))
        queue.commit("file", 30)
        assert topic in ahead.held()  # more may come while the session lasts
        assert queue.fetch("file", 25, 1 << 20, start=30) == []
        assert topic not in ahead.held()
        # Let go, not lost: a command written afterwards is read from where the file was.
        _produce(config, topic, 30, 1)
        assert [c.value for c in queue.fetch("file", 25, 1 << 20, start=30)] == [b"command 30"]
    finally:
        queue.close()
