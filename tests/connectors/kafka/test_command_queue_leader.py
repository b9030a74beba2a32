"""A company file's command topic read while the worker is creating it.

The gateway asks a file's queue how many commands wait on every ``authenticate``. A topic
the worker has just created is listed by the broker before its partition has a leader, and
for that moment every offset query answers NOT_LEADER_FOR_PARTITION. Unhandled, that became
the gateway's SOAP "Internal Error" during the first Web Connector sessions.
"""

from __future__ import annotations

import threading
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from connectors.kafka import CommandQueue, CommandTopicNotReady
from connectors.kafka import _command_queue as module
from qbsync.brokers import BrokerInfo
from tests.support.waiting import until


def test_a_queue_asked_while_its_topic_is_created_never_fails(broker: BrokerInfo) -> None:
    """Real broker: pollers ask ``pending`` and ``fetch`` of four files from before their
    topics exist, through the creation, until each file's command is counted. Before the
    fix, nearly every run met NOT_LEADER_FOR_PARTITION here (a stress of 80 creations saw
    it about 1,000 times)."""
    config = {"bootstrap.servers": broker.bootstrap_servers}
    prefix = f"leader-{uuid.uuid4().hex[:8]}."
    files = [f"file{i}" for i in range(4)]
    # One pooled client more than pollers: the pool hands a client to whichever thread asks
    # first, not in turn, so four pollers re-borrowing in a tight loop could otherwise keep
    # the test's own check below waiting for a client for good (seen on a fast machine).
    queue = CommandQueue(
        config,
        group_id="qbsync-gateway",
        topic_for=lambda p: prefix + p,
        consumers=len(files) + 1,
    )
    failures: list[str] = []
    asked = dict.fromkeys(files, 0)
    stop = threading.Event()

    def poll(profile_id: str) -> None:
        while not stop.is_set():
            try:
                queue.pending(profile_id)
                queue.fetch(profile_id, 25, 512 * 1024)
            except Exception as exc:  # the test's whole point: name what escaped
                code = exc.args[0].name() if isinstance(exc, KafkaException) else ""
                failures.append(f"{type(exc).__name__} {code}")
            asked[profile_id] += 1

    pollers = [threading.Thread(target=poll, args=(f,), daemon=True) for f in files]
    try:
        for poller in pollers:
            poller.start()
        admin = AdminClient(config)
        for future in admin.create_topics([NewTopic(prefix + f, 1, 1) for f in files]).values():
            future.result()
        producer = Producer(config)
        for f in files:
            producer.produce(prefix + f, value=f.encode(), partition=0)
        assert producer.flush(30) == 0
        until(
            lambda: all(queue.pending(f) == 1 for f in files),
            timeout=30,
            what="each file's command to be counted",
        )
    finally:
        stop.set()
        for poller in pollers:
            poller.join(30)
        queue.close()
    assert failures == []
    assert all(asked.values())
    assert [c.value for f in files for c in queue_fetch(config, prefix, f)] == [
        f.encode() for f in files
    ]


def queue_fetch(config: dict[str, str], prefix: str, profile_id: str) -> list[Any]:
    fresh = CommandQueue(config, group_id="qbsync-gateway", topic_for=lambda p: prefix + p)
    try:
        return fresh.fetch(profile_id, 25, 512 * 1024)
    finally:
        fresh.close()


class _Leaderless:
    """A consumer whose partition has no leader for the first ``misses`` offset queries."""

    def __init__(self, _config: dict[str, Any], misses: int) -> None:
        self.misses = misses
        self.asked = 0

    def get_watermark_offsets(
        self, _partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        self.asked += 1
        if self.asked <= self.misses:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return 0, 3

    def committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return [TopicPartition(p.topic, p.partition, 1) for p in partitions]

    def close(self) -> None:
        pass


def _queue(monkeypatch: pytest.MonkeyPatch, misses: int, wait: float) -> CommandQueue:
    monkeypatch.setattr(module, "Consumer", lambda config: _Leaderless(config, misses))
    return CommandQueue(
        {}, group_id="g", topic_for=lambda p: f"cmd.{p}", consumers=1, leader_wait=wait
    )


def test_a_leader_elected_while_waiting_gives_the_count(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queue(monkeypatch, misses=3, wait=30.0)
    # Committed offset 1, high watermark 3: two commands wait.
    assert queue.pending("p1") == 2


def test_a_partition_that_stays_leaderless_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    queue = _queue(monkeypatch, misses=10**6, wait=0.2)
    with pytest.raises(CommandTopicNotReady, match=r"'cmd\.p1'.*no leader.*NOT_LEADER"):
        queue.pending("p1")


class _Lagging(_Leaderless):
    """A consumer that does not know the topic yet (UNKNOWN_TOPIC_OR_PART) for the first
    ``misses`` queries, while the broker lists it (``exists``) or names it unknown."""

    def __init__(self, config: dict[str, Any], misses: int, exists: bool) -> None:
        super().__init__(config, misses)
        self.exists = exists
        self.listed = 0

    def get_watermark_offsets(
        self, _partition: TopicPartition, timeout: float, cached: bool
    ) -> tuple[int, int]:
        self.asked += 1
        if not self.exists or self.asked <= self.misses:
            raise KafkaException(KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART))
        return 0, 3

    def list_topics(self, topic: str, timeout: float) -> Any:
        self.listed += 1
        # What librdkafka answers: an unknown topic is listed too, with its error.
        error = None if self.exists else KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)
        return SimpleNamespace(topics={topic: SimpleNamespace(error=error, partitions={})})


@pytest.mark.parametrize("exists", [True, False])
def test_a_topic_this_client_does_not_know_yet_is_asked_about_once(
    monkeypatch: pytest.MonkeyPatch, exists: bool
) -> None:
    made: list[_Lagging] = []

    def consumer(config: dict[str, Any]) -> _Lagging:
        made.append(_Lagging(config, misses=2, exists=exists))
        return made[-1]

    monkeypatch.setattr(module, "Consumer", consumer)
    queue = CommandQueue({}, group_id="g", topic_for=lambda p: f"cmd.{p}", consumers=1)
    # Listed by the broker: waited for, then counted; unknown: nothing waits, at once.
    assert queue.pending("p1") == (2 if exists else 0)
    assert made[0].listed == 1
    assert made[0].asked == (3 if exists else 1)
