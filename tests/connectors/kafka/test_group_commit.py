"""connectors.kafka._group_commit on its own (a fake request; real threads): concurrent
commits share a request, each caller gets its own outcome, commits not waited for are made
by the committing thread (again after a failure) and flushed; then on the real broker."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from connectors.kafka import CommandQueue, ensure_topics
from connectors.kafka._group_commit import GroupCommit, _Handed
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import use_broker
from tests.support.threads import joined, started
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
        self.lock = threading.Lock()
        self.refuse = refuse
        self.entered = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()

    def __call__(self, partitions: list[TopicPartition]) -> list[Answer]:
        with self.lock:
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


def test_a_lone_commit_is_sent_at_once_as_its_own_request() -> None:
    broker = Broker()
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 25)
        commits.commit("file-a", 0, 50)
    finally:
        commits.close()
    assert broker.requests == [[("file-a", 25)], [("file-a", 50)]]
    assert commits.requests == 2


def test_commits_arriving_during_one_in_flight_share_the_next_request() -> None:
    broker = Broker(hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    first, first_raised = started(lambda: commits.commit("file-a", 0, 25))
    assert broker.entered.wait(30)
    others = [started(lambda f=f: commits.commit(f, 0, 7)) for f in ("file-b", "file-c", "file-d")]
    until(lambda: commits.waiting == 3, what="three commits queued behind the first")
    broker.release.set()
    joined(first, *(thread for thread, _ in others))
    commits.close()
    assert first_raised == []
    assert all(raised == [] for _, raised in others)
    assert broker.requests[0] == [("file-a", 25)]
    assert sorted(broker.requests[1]) == [("file-b", 7), ("file-c", 7), ("file-d", 7)]
    assert commits.requests == 2


def test_commits_nobody_waits_for_linger_until_someone_waits() -> None:
    """After a request, commits not waited for are held back for ``linger_s`` (one request
    for many batches of a session instead of one each); a caller that waits sends them at
    once, in one request with its own."""
    broker = Broker()
    commits = GroupCommit(broker, linger_s=600)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 25, wait=False)  # nothing sent for 600 s: goes at once
        until(lambda: commits._done.get(("file-a", 0)) == 1, what="the first commit made")
        commits.commit("file-a", 0, 50, wait=False)
        commits.commit("file-b", 0, 7, wait=False)
        until(lambda: commits.lingering, what="the thread holding the two back")
        assert commits.waiting == 2
        assert len(broker.requests) == 1
        commits.commit("file-c", 0, 3)  # waited for: sent now, with the two held back
    finally:
        commits.close()
    assert broker.requests[0] == [("file-a", 25)]
    assert sorted(broker.requests[1]) == [("file-a", 50), ("file-b", 7), ("file-c", 3)]
    assert len(broker.requests) == 2


def test_a_flush_sends_lingering_commits_at_once() -> None:
    broker = Broker()
    commits = GroupCommit(broker, linger_s=600)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 25, wait=False)
        until(lambda: commits._done.get(("file-a", 0)) == 1, what="the first commit made")
        commits.commit("file-a", 0, 50, wait=False)
        until(lambda: commits.lingering, what="the thread holding it back")
        commits.flush("file-a", 0)
        assert broker.requests == [[("file-a", 25)], [("file-a", 50)]]
    finally:
        commits.close()


def test_a_partitions_error_reaches_only_its_own_caller() -> None:
    broker = Broker(refuse=frozenset({"gone"}), hold=True)
    commits = GroupCommit(broker, retry_s=60)  # type: ignore[arg-type]
    first, _ = started(lambda: commits.commit("file-a", 0, 1))
    assert broker.entered.wait(30)
    good, good_raised = started(lambda: commits.commit("file-b", 0, 9))
    bad, bad_raised = started(lambda: commits.commit("gone", 0, 9))
    until(lambda: commits.waiting == 2, what="two commits queued")
    broker.release.set()
    joined(first, good, bad)
    commits.close()
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
    commits.close()
    batch = {(t, 0): _Handed(5, n) for n, t in enumerate(("file-a", "gone", "file-b"), start=1)}
    errors = commits._send_batch(batch)
    assert list(errors) == [("gone", 0)]  # only "gone"'s callers
    assert calls[0] == ["file-a", "gone", "file-b"]
    assert sorted(map(tuple, calls[1:])) == [("file-a",), ("file-b",), ("gone",)]
    assert commits.requests == 4


class Flaky:
    """A request that fails the first ``failures`` times, then commits what it is given."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[int] = []

    def __call__(self, partitions: list[TopicPartition]) -> list[Answer]:
        self.sent.append(len(partitions))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("broker away")
        return [Answer(tp.topic, tp.partition, tp.offset) for tp in partitions]


def test_a_failed_request_fails_its_callers_and_the_next_commit_goes_on() -> None:
    commits = GroupCommit(Flaky(failures=1), retry_s=60)  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError, match="broker away"):
            commits.commit("file-a", 0, 3)
        commits.commit("file-a", 0, 3)  # not stuck behind the failed one
    finally:
        commits.close()


def test_the_newest_offset_handed_over_for_a_partition_is_sent() -> None:
    """Offsets handed over while a request is out: the partition's newest one goes in the
    next request (a file's offsets only grow; a topic made again starts low)."""
    broker = Broker(hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    commits.commit("file-a", 0, 10, wait=False)
    assert broker.entered.wait(30)
    commits.commit("file-a", 0, 30, wait=False)
    commits.commit("file-a", 0, 40, wait=False)
    broker.release.set()
    commits.flush("file-a", 0)
    commits.close()
    assert broker.requests == [[("file-a", 10)], [("file-a", 40)]]


def test_a_commit_not_waited_for_is_made_by_the_thread_and_flushed() -> None:
    broker = Broker(hold=True)
    told: list[tuple[str, int]] = []
    commits = GroupCommit(broker, committed=lambda t, _p, o: told.append((t, o)))  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 25, wait=False)  # returns with the request held
        assert broker.entered.wait(30)
        flushed, flush_raised = started(lambda: commits.flush("file-a", 0))
        assert flushed.is_alive()  # waits for the request out
        assert told == []
        broker.release.set()
        joined(flushed)
        assert flush_raised == []
        until(lambda: told == [("file-a", 25)], what="the committed offset told")
        commits.flush("file-b", 0)  # nothing handed over for it: returns at once
    finally:
        commits.close()
    assert broker.requests == [[("file-a", 25)]]


def test_a_failed_commit_not_waited_for_is_tried_again_until_it_is_made() -> None:
    send = Flaky(failures=2)
    commits = GroupCommit(send, retry_s=0.01)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 7, wait=False)
        until(lambda: len(send.sent) == 3, what="two failures, then the commit")
        commits.flush("file-a", 0)  # made: returns without raising
    finally:
        commits.close()
    assert send.failures == 0


def test_a_flush_tries_a_failed_commit_again_at_once() -> None:
    send = Flaky(failures=1)
    commits = GroupCommit(send, retry_s=600)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 7, wait=False)
        until(lambda: ("file-a", 0) in commits._retry, what="the first attempt failed")
        commits.flush("file-a", 0)  # not 600 s later: now
    finally:
        commits.close()
    assert send.sent == [1, 1]


def test_a_listener_that_raises_does_not_stop_the_commits() -> None:
    broker = Broker()

    def listener(_topic: str, _partition: int, _offset: int) -> None:
        raise RuntimeError("a broken listener")

    commits = GroupCommit(broker, committed=listener)  # type: ignore[arg-type]
    try:
        commits.commit("file-a", 0, 1)
        commits.commit("file-a", 0, 2)  # the thread still serves
    finally:
        commits.close()
    assert broker.requests == [[("file-a", 1)], [("file-a", 2)]]


def test_a_commit_waited_for_that_is_not_made_in_time_raises_and_is_still_made() -> None:
    """The broker does not answer within the caller's timeout: the caller hears so (a
    TimeoutError naming the topic), the request goes on, and once answered the offset is
    committed (a flush then returns)."""
    broker = Broker(hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    try:
        with pytest.raises(TimeoutError, match="file-a"):
            commits.commit("file-a", 0, 5, timeout=0.05)
        with pytest.raises(TimeoutError, match="file-a"):
            commits.flush("file-a", 0, timeout=0.05)
        broker.release.set()
        commits.flush("file-a", 0)
    finally:
        broker.release.set()
        commits.close()
    assert broker.requests == [[("file-a", 5)]]
    assert commits._done[("file-a", 0)] == 1


def test_closing_sends_what_was_handed_over() -> None:
    broker = Broker(hold=True)
    commits = GroupCommit(broker)  # type: ignore[arg-type]
    commits.commit("file-a", 0, 1, wait=False)
    assert broker.entered.wait(30)
    commits.commit("file-b", 0, 2, wait=False)
    closing, _ = started(commits.close)
    broker.release.set()
    joined(closing)
    assert broker.requests == [[("file-a", 1)], [("file-b", 2)]]
    with pytest.raises(RuntimeError, match="closed"):
        commits.commit("file-c", 0, 3)


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
            threads = [started(lambda f=f, r=round_: queue.commit(f, 10 * r)) for f in files]
            for thread, raised in threads:
                thread.join(60)
                assert raised == []
        # Not waited for, then flushed: made all the same.
        for file in files[:6]:
            queue.commit(file, 40, wait=False)
        for file in files[:6]:
            queue.flush(file)
    finally:
        queue.close()
    reader = Consumer({**config, "group.id": group, "enable.auto.commit": False})
    try:
        committed = reader.committed(
            [TopicPartition(f"{prefix}{file}", 0) for file in files], timeout=30
        )
    finally:
        reader.close()
    assert {tp.topic.removeprefix(prefix): tp.offset for tp in committed} == {
        file: 40 if number < 6 else 30 for number, file in enumerate(files)
    }
