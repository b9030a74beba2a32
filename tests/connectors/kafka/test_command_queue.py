"""A session's next batch on the real broker: read from the offset the session committed
itself, without asking the group's committed offset again; the watermark is still asked
(that request is what makes a pooled consumer learn the partition's leader)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from confluent_kafka import Consumer

from connectors.kafka import CommandQueue, RecordProducer, ensure_topics
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import use_broker

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
        # A session's first batch asks the group's offset (another replica may have
        # committed since) and the watermark, as before.
        with _counting(queue) as asked:
            first = queue.fetch("file", 25, 1 << 20)
        assert [c.offset for c in first] == list(range(25))
        assert asked == ["get_watermark_offsets", "committed"]
        queue.commit("file", 25)

        # The next batches: the session committed the offset itself.
        with _counting(queue) as asked:
            second = queue.fetch("file", 25, 1 << 20, start=25)
        assert [c.offset for c in second] == list(range(25, 50))
        assert asked == ["get_watermark_offsets"]
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
