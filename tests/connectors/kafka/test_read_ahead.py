"""The read-ahead's rules over an in-memory stand-in for librdkafka's consumer: what is
placed where, served from memory, paused, let go, and which errors reach a reader. (Its
runs against the real broker are in test_command_queue.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from connectors.kafka._read_ahead import ReadAhead
from tests.support.waiting import until

BIG = 1 << 20


@dataclass
class _Message:
    _topic: str | None
    _offset: int = -1
    _value: bytes = b""
    _error: KafkaError | None = None

    def error(self) -> KafkaError | None:
        return self._error

    def topic(self) -> str | None:
        return self._topic

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes:
        return self._value


class _Consumer:
    """librdkafka's consumer as the read-ahead uses it: partitions assigned at an offset,
    ``chunk`` records of each unpaused one per consume() (a pause outlives an unassign, as
    in librdkafka; a resumed partition is fetched again only once sought, as librdkafka's
    fetcher, not woken by a resume, waits for its next timer); every call written down."""

    def __init__(self, logs: dict[str, list[bytes]], chunk: int) -> None:
        self.logs = logs
        self.chunk = chunk
        self.at: dict[str, int] = {}
        self.paused: set[str] = set()
        self.asleep: set[str] = set()  # resumed, not yet sought
        self.calls: list[tuple[str, str, int]] = []
        self.errors: list[_Message] = []
        self.woken = threading.Event()

    def list_topics(self, topic: str, timeout: float) -> None:
        self.calls.append(("list", topic, -1))
        assert threading.current_thread().name == "qbsync-read-ahead"
        if topic not in self.logs:
            raise KafkaException(KafkaError(KafkaError._TRANSPORT))

    def incremental_assign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            assert tp.topic not in self.at, "assigned twice"
            self.at[tp.topic] = tp.offset
            self.asleep.discard(tp.topic)
            self.calls.append(("assign", tp.topic, tp.offset))

    def incremental_unassign(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            del self.at[tp.topic]
            self.calls.append(("unassign", tp.topic, -1))

    def pause(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.paused.add(tp.topic)
            self.calls.append(("pause", tp.topic, -1))

    def resume(self, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            self.paused.discard(tp.topic)
            self.asleep.add(tp.topic)
            self.calls.append(("resume", tp.topic, -1))

    def position(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        return [TopicPartition(tp.topic, 0, self.at[tp.topic]) for tp in partitions]

    def seek(self, partition: TopicPartition) -> None:
        self.at[partition.topic] = partition.offset
        self.asleep.discard(partition.topic)
        self.calls.append(("seek", partition.topic, partition.offset))

    def consume(self, num: int, timeout: float) -> list[_Message]:
        out: list[_Message] = self.errors[:]
        self.errors.clear()
        for topic, at in list(self.at.items()):
            if topic in self.paused or topic in self.asleep:
                continue
            values = self.logs.get(topic, [])[at : at + self.chunk]
            out += [_Message(topic, at + i, value) for i, value in enumerate(values)]
            self.at[topic] = at + len(values)
        if not out:
            self.woken.wait(timeout)  # librdkafka's own wait for records
        return out

    def close(self) -> None:
        self.calls.append(("close", "", -1))

    def count(self, call: str, topic: str) -> int:
        return sum(1 for c in self.calls if c[:2] == (call, topic))


@pytest.fixture
def logs() -> dict[str, list[bytes]]:
    return {t: [f"{t}{i}".encode() for i in range(100)] for t in ("a", "b", "c")}


def _ahead(
    logs: dict[str, list[bytes]], chunk: int = 500, **options: Any
) -> tuple[ReadAhead, _Consumer]:
    consumer = _Consumer(logs, chunk)
    return ReadAhead({}, consumer=lambda _config: consumer, **options), consumer  # type: ignore[arg-type, return-value]


@pytest.fixture
def made(logs: dict[str, list[bytes]]) -> Iterator[tuple[ReadAhead, _Consumer]]:
    ahead, consumer = _ahead(logs, chunk=10, ahead=40)
    yield ahead, consumer
    ahead.close()


def offsets(records: list[Any]) -> list[int]:
    return [r.offset for r in records]


def test_the_next_batch_is_served_from_memory_by_the_same_placement(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    assert offsets(ahead.read("a", 0, 25, BIG, timeout=5)) == list(range(25))
    batch = until(lambda: ahead.ready("a", 25, 25, BIG), timeout=5, what="the next batch")
    assert offsets(batch) == list(range(25, 50))
    assert [r.value for r in batch] == [f"a{i}".encode() for i in range(25, 50)]
    assert consumer.count("assign", "a") == 1
    assert consumer.count("list", "a") == 1  # the topic is asked about before its placement


def test_ready_is_none_until_a_whole_batch_is_buffered(logs: dict[str, list[bytes]]) -> None:
    ahead, _ = _ahead(logs, chunk=10)
    try:
        assert ahead.ready("a", 0, 25, BIG) is None  # nothing placed yet
        ahead.read("a", 0, 5, BIG, timeout=5)
        until(lambda: ahead.ready("a", 90, 10, BIG), timeout=5, what="the last ten")
        # Only ten after 90: a batch of 25 may have more in the broker, so the caller asks.
        assert ahead.ready("a", 90, 25, BIG) is None
        # Cut by bytes it is whole (the rest is buffered): "a90" is 3 bytes, two fit in 7.
        assert offsets(ahead.ready("a", 90, 25, 7) or []) == [90, 91]
    finally:
        ahead.close()


def test_a_read_outside_the_buffer_moves_the_partition_there(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    assert offsets(ahead.read("a", 0, 10, BIG, timeout=5)) == list(range(10))
    assert offsets(ahead.read("a", 5, 10, BIG, timeout=5)) == list(range(5, 15))
    assert offsets(ahead.read("a", 80, 5, BIG, timeout=5)) == list(range(80, 85))
    # Back before what the buffer holds (a batch read again by another session).
    assert offsets(ahead.read("a", 3, 4, BIG, timeout=5)) == [3, 4, 5, 6]
    placed = [c[2] for c in consumer.calls if c[:2] == ("assign", "a")]
    assert placed == [0, 80, 3]
    assert consumer.count("unassign", "a") == 2


def test_a_full_buffer_pauses_and_every_record_is_served_once_in_order(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    seen: list[int] = []
    at = 0
    first = ahead.read("a", 0, 7, BIG, timeout=5)
    until(lambda: consumer.count("pause", "a"), timeout=5, what="the partition paused")
    # Paused at 40 buffered (ahead), fetched ten at a time: never far past it.
    assert consumer.at["a"] <= 50
    seen += offsets(first)
    at = seen[-1] + 1
    for _ in range(100):  # bounded: a read that finds nothing would not move ``at``
        batch = ahead.read("a", at, 7, BIG, timeout=5)
        seen += offsets(batch)
        at = seen[-1] + 1
        if at >= 100 or not batch:
            break
    assert seen == list(range(100))
    assert consumer.count("resume", "a") >= 1
    # Each resume sought the partition where it stood, so librdkafka fetches it at once.
    resumed = [i for i, c in enumerate(consumer.calls) if c[:2] == ("resume", "a")]
    assert all(consumer.calls[i + 1][:2] == ("seek", "a") for i in resumed)
    assert consumer.count("assign", "a") == 1


def test_a_paused_partition_placed_elsewhere_is_fetched_again(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    ahead.read("a", 0, 1, BIG, timeout=5)
    until(lambda: consumer.count("pause", "a"), timeout=5, what="the partition paused")
    # Far past what is buffered: placed at 90 while the client still has it paused.
    assert offsets(ahead.read("a", 90, 10, BIG, timeout=5)) == list(range(90, 100))
    assert consumer.count("resume", "a") == 1


def test_a_read_ahead_smaller_than_a_batch_still_serves_the_whole_batch(
    logs: dict[str, list[bytes]],
) -> None:
    # Held back at 5 records, a reader wanting 25 would get 10 after its wait (the bug).
    ahead, _ = _ahead(logs, chunk=10, ahead=5)
    try:
        assert offsets(ahead.read("a", 0, 25, BIG, timeout=5)) == list(range(25))
    finally:
        ahead.close()


def test_past_the_byte_budget_partitions_pause_except_one_short_of_a_waiting_reader(
    logs: dict[str, list[bytes]],
) -> None:
    ahead, consumer = _ahead(logs, chunk=10, max_bytes=40)  # "a0".."a99": 2-3 bytes each
    try:
        ahead.read("a", 0, 1, BIG, timeout=5)
        until(lambda: consumer.count("pause", "a"), timeout=5, what="a paused over the budget")
        assert consumer.at["a"] <= 30  # 10 a consume: paused at the first over 40 bytes
        # Over the budget, "b" is read: short of what its reader waits for, it is not
        # held back (held back at the budget, the read would get 10 after its wait).
        assert offsets(ahead.read("b", 0, 60, BIG, timeout=5)) == list(range(60))
        # "a"'s reader comes back: resumed for it although the budget is spent.
        assert offsets(ahead.read("a", 1, 50, BIG, timeout=5)) == list(range(1, 51))
    finally:
        ahead.close()


def test_files_are_read_side_by_side(made: tuple[ReadAhead, _Consumer]) -> None:
    ahead, consumer = made
    for start in (0, 20, 40):
        for topic in ("a", "b", "c"):
            batch = ahead.read(topic, start, 20, BIG, timeout=5)
            assert [r.value for r in batch] == [
                f"{topic}{i}".encode() for i in range(start, start + 20)
            ]
    assert [consumer.count("assign", t) for t in ("a", "b", "c")] == [1, 1, 1]


def test_an_idle_partition_is_let_go_and_placed_again_when_asked(
    logs: dict[str, list[bytes]],
) -> None:
    ahead, consumer = _ahead(logs, idle_s=0.0)
    try:
        ahead.read("a", 0, 5, BIG, timeout=5)
        until(lambda: consumer.count("unassign", "a"), timeout=5, what="the idle partition let go")
        assert "a" not in consumer.at
        assert offsets(ahead.read("a", 5, 5, BIG, timeout=5)) == [5, 6, 7, 8, 9]
        assert consumer.count("assign", "a") == 2
    finally:
        ahead.close()


def test_a_released_partition_is_let_go_at_once_and_placed_again_when_asked(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    ahead.read("a", 0, 5, BIG, timeout=5)
    ahead.release("a")
    until(lambda: consumer.count("unassign", "a"), timeout=5, what="the partition let go")
    assert ahead.ready("a", 5, 5, BIG) is None  # nothing kept of it
    assert offsets(ahead.read("a", 5, 5, BIG, timeout=5)) == [5, 6, 7, 8, 9]
    assert consumer.count("assign", "a") == 2
    ahead.release("b")  # never read: nothing to let go
    assert consumer.count("unassign", "b") == 0


def test_beyond_max_partitions_the_least_recently_read_is_let_go(
    logs: dict[str, list[bytes]],
) -> None:
    ahead, consumer = _ahead(logs, max_partitions=2)
    try:
        for topic in ("a", "b", "c"):
            ahead.read(topic, 0, 1, BIG, timeout=5)
        until(lambda: consumer.count("unassign", "a"), timeout=5, what="the oldest let go")
        assert sorted(consumer.at) == ["b", "c"]
    finally:
        ahead.close()


def test_a_partition_error_reaches_its_reader_and_the_next_read_places_it_again(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    ahead.read("a", 0, 5, BIG, timeout=5)
    consumer.errors.append(_Message("a", _error=KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)))
    with pytest.raises(KafkaException) as raised:
        until(
            lambda: ahead.read("a", 5, 500, BIG, timeout=0.2) and None,
            timeout=5,
            what="the partition's error",
        )
    assert raised.value.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert offsets(ahead.read("a", 5, 2, BIG, timeout=5)) == [5, 6]
    assert consumer.count("assign", "a") == 2


def test_a_topic_the_broker_cannot_be_asked_about_fails_its_read_only(
    made: tuple[ReadAhead, _Consumer],
) -> None:
    ahead, consumer = made
    with pytest.raises(KafkaException) as raised:
        ahead.read("nowhere", 0, 1, BIG, timeout=5)
    assert raised.value.args[0].code() == KafkaError._TRANSPORT
    assert consumer.count("assign", "nowhere") == 0
    assert offsets(ahead.read("a", 0, 2, BIG, timeout=5)) == [0, 1]


def test_a_client_error_is_raised_to_a_reader_that_got_nothing(
    logs: dict[str, list[bytes]],
) -> None:
    ahead, consumer = _ahead({"a": []})
    try:
        consumer.errors.append(_Message(None, _error=KafkaError(KafkaError._ALL_BROKERS_DOWN)))
        with pytest.raises(KafkaException) as raised:
            ahead.read("a", 0, 1, BIG, timeout=0.5)
        assert raised.value.args[0].code() == KafkaError._ALL_BROKERS_DOWN
    finally:
        ahead.close()


def test_close_stops_the_thread_and_closes_the_consumer(logs: dict[str, list[bytes]]) -> None:
    ahead, consumer = _ahead(logs)
    ahead.read("a", 0, 1, BIG, timeout=5)
    ahead.close()
    assert consumer.calls[-1][0] == "close"
    with pytest.raises(RuntimeError, match="closed"):
        ahead.read("a", 0, 1, BIG, timeout=5)
