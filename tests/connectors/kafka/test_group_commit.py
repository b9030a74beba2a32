"""connectors.kafka._group_commit on its own (a fake request; real threads): concurrent
commits share a request, each caller gets its own outcome; then on the real broker."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from connectors.kafka import CommandQueue, ensure_topics
from connectors.kafka._group_commit import GroupCommit, _Waiter
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import use_broker
from tests.support.waiting import until


@dataclass
class Answer:
    """A partition as the broker answers a commit: with its own error, or none."""

    topic: str
    partition: int
    offset: int
    error: KafkaError | None = None


class Broker:
    """Records each request's partitions; ``refuse`` names topics answered with an error;
    ``hold`` keeps the first request waiting until released."""

    def __init__(self, refuse: frozenset[str] = frozenset(), hold: bool = False) -> None:
        self.requests: list[list[tuple[str, int]]] = []
        self.refuse = refuse
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, partitions: list[TopicPartition]) -> list[Answer]:
        self.requests.append([(tp.topic, tp.offset) for tp in partitions])
        self.entered.set()
        assert self.release.wait(30), "the test never released the held request"
        return [
            Answer(
                tp.topic,
                tp.partition,
                tp.offset,
                KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART) if tp.topic in self.refuse else None,
            )
            for tp in partitions
        ]


def run(commit: Callable[[], None]) -> tuple[threading.Thread, list[BaseException]]:
    raised: list[BaseException] = []

    def body() -> None:
        try:
            commit()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=body)
    thread.start()
    return thread, raised


def test_a_lone_commit_is_sent_at_once_as_its_own_request() -> None:
    broker = Broker()
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    commits.commit("file-a", 0, 25)
    commits.commit("file-a", 0, 50)
    assert broker.requests == [[("file-a", 25)], [("file-a", 50)]]
    assert commits.requests == 2


def test_commits_arriving_during_one_in_flight_share_the_next_request() -> None:
    broker = Broker(hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    first, first_raised = run(lambda: commits.commit("file-a", 0, 25))
    assert broker.entered.wait(30)
    others = [run(lambda f=f: commits.commit(f, 0, 7)) for f in ("file-b", "file-c", "file-d")]
    until(lambda: len(commits._queued) == 3, what="three commits queued behind the first")
    broker.release.set()
    for thread, _ in [(first, first_raised), *others]:
        thread.join(30)
        assert not thread.is_alive()
    assert first_raised == []
    assert all(raised == [] for _, raised in others)
    assert broker.requests[0] == [("file-a", 25)]
    assert sorted(broker.requests[1]) == [("file-b", 7), ("file-c", 7), ("file-d", 7)]
    assert commits.requests == 2


def test_a_partitions_error_reaches_only_its_own_caller() -> None:
    broker = Broker(refuse=frozenset({"gone"}), hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    first, _ = run(lambda: commits.commit("file-a", 0, 1))
    assert broker.entered.wait(30)
    good, good_raised = run(lambda: commits.commit("file-b", 0, 9))
    bad, bad_raised = run(lambda: commits.commit("gone", 0, 9))
    until(lambda: len(commits._queued) == 2, what="two commits queued")
    broker.release.set()
    for thread in (first, good, bad):
        thread.join(30)
    assert good_raised == []
    (error,) = bad_raised
    assert isinstance(error, KafkaException)
    assert error.args[0].code() == KafkaError.UNKNOWN_TOPIC_OR_PART


def test_a_request_refused_whole_is_asked_again_partition_by_partition() -> None:
    """librdkafka raises one partition's error for the whole request."""
    calls: list[list[str]] = []

    def send(partitions: list[TopicPartition]) -> list[Answer]:
        calls.append([tp.topic for tp in partitions])
        if any(tp.topic == "gone" for tp in partitions):
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        return [Answer(tp.topic, tp.partition, tp.offset) for tp in partitions]

    commits = GroupCommit(send)  # type: ignore[arg-type]
    waiters = [_Waiter(TopicPartition(t, 0, 5)) for t in ("file-a", "gone", "file-b")]
    errors = commits._send_batch(waiters)
    assert list(errors) == [1]  # only "gone"'s caller
    assert calls[0] == ["file-a", "gone", "file-b"]
    assert sorted(map(tuple, calls[1:])) == [("file-a",), ("file-b",), ("gone",)]
    assert commits.requests == 4


def test_a_failed_request_fails_its_callers_and_the_next_commit_goes_on() -> None:
    attempts = iter([RuntimeError("client closed"), None])

    def send(partitions: list[TopicPartition]) -> list[Answer]:
        failure = next(attempts)
        if failure is not None:
            raise failure
        return [Answer(tp.topic, tp.partition, tp.offset) for tp in partitions]

    commits = GroupCommit(send)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="client closed"):
        commits.commit("file-a", 0, 3)
    commits.commit("file-a", 0, 3)  # not stuck behind the failed one


def test_the_highest_offset_of_a_partition_asked_twice_is_sent() -> None:
    broker = Broker()
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    waiters = [_Waiter(TopicPartition("file-a", 0, offset)) for offset in (10, 30, 20)]
    assert commits._send_batch(waiters) == {}
    assert broker.requests == [[("file-a", 30)]]


@pytest.mark.integration
def test_concurrent_commits_of_many_files_land_in_the_group(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"gc-{uuid.uuid4().hex[:6]}."
    group = f"g-{uuid.uuid4().hex[:6]}"
    files = [f"file-{number}" for number in range(12)]
    ensure_topics(config, {f"{prefix}{file}": 1 for file in files})
    queue = CommandQueue(config, group_id=group, topic_for=lambda file: f"{prefix}{file}")
    try:
        for round_ in range(1, 4):
            threads = [run(lambda f=f, r=round_: queue.commit(f, 10 * r)) for f in files]
            for thread, raised in threads:
                thread.join(60)
                assert raised == []
    finally:
        queue.close()
    reader = Consumer({**config, "group.id": group, "enable.auto.commit": False})
    try:
        committed = reader.committed(
            [TopicPartition(f"{prefix}{file}", 0) for file in files], timeout=30
        )
    finally:
        reader.close()
    assert {tp.topic.removeprefix(prefix): tp.offset for tp in committed} == dict.fromkeys(
        files, 30
    )
