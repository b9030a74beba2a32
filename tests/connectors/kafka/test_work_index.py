"""The in-memory work index on the real broker: what a refresh reads in bulk, what the queue's
own commits change at once, and when it admits not knowing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from connectors.kafka import CommandQueue, RecordProducer, WorkIndex, ensure_topics
from connectors.qbwc import create_profile
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, connector, enqueue, results, serving
from tests.support.waiting import until

pytestmark = pytest.mark.integration


def _produce(config: dict[str, str], topic: str, count: int) -> None:
    ensure_topics(config, {topic: 1})
    producer = RecordProducer(config)
    producer.send_all([(topic, None, f"command {i}".encode()) for i in range(count)])
    producer.close()


def test_a_refresh_reads_every_command_topic_and_commits_count_at_once(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"idx-{uuid.uuid4().hex[:6]}."
    group = f"g-{uuid.uuid4().hex[:6]}"
    _produce(config, f"{prefix}busy", 3)
    _produce(config, f"{prefix}quiet", 0)
    _produce(config, f"other-{uuid.uuid4().hex[:6]}", 2)  # another prefix: not a command topic
    index = WorkIndex(config, group_id=group, topic_prefix=prefix)
    queue = CommandQueue(
        config, group_id=group, topic_for=lambda file: f"{prefix}{file}", index=index
    )
    try:
        assert index.pending(f"{prefix}busy") is None  # never refreshed: does not know
        index.refresh()
        assert index.pending(f"{prefix}busy") == 3
        assert index.pending(f"{prefix}quiet") == 0
        assert index.pending(f"{prefix}never-created") == 0
        assert queue.pending("busy") == 3  # answered from the index
        # The queue's own commit is known at once, before any refresh...
        queue.commit("busy", 2)
        assert queue.pending("busy") == 1
        # ...and a refresh reads the same from the broker (the group's committed offset).
        index.refresh()
        assert index.pending(f"{prefix}busy") == 1
        # A command written after the refresh is seen by the next one.
        _produce(config, f"{prefix}quiet", 2)
        assert index.pending(f"{prefix}quiet") == 0
        index.refresh()
        assert index.pending(f"{prefix}quiet") == 2
        assert [c.value for c in queue.fetch("quiet", 10, 1 << 20)] == [b"command 0", b"command 1"]
    finally:
        queue.close()
        index.close()


def test_a_stale_index_admits_it_and_the_queue_asks_the_broker(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    config = settings.kafka.client_config()
    prefix = f"idx-{uuid.uuid4().hex[:6]}."
    group = f"g-{uuid.uuid4().hex[:6]}"
    now = [1000.0]
    index = WorkIndex(
        config, group_id=group, topic_prefix=prefix, max_age_s=30, clock=lambda: now[0]
    )
    queue = CommandQueue(
        config, group_id=group, topic_for=lambda file: f"{prefix}{file}", index=index
    )
    try:
        index.refresh()
        _produce(config, f"{prefix}a", 4)
        assert queue.pending("a") == 0  # fresh, but written after the refresh
        now[0] += 31  # refreshes have failed (or stopped) for longer than max_age_s
        assert index.pending(f"{prefix}a") is None
        assert queue.pending("a") == 4  # from the broker itself
    finally:
        queue.close()
        index.close()


def test_the_gateway_serves_work_the_running_index_has_seen(
    broker: BrokerInfo, settings: Settings, tmp_path: Path
) -> None:
    """With the index on (as by default), a file's commands are found by a poll once the
    background refresh has seen them, settle exactly once, and the file is idle after."""
    use_broker(settings, broker)
    settings.gateway.work_index_s = 0.2
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Indexed Co", tenants=["t-1"])
    with serving(settings) as url:
        served = Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
        wc = connector(served, tmp_path)
        assert wc.run_once().authenticate == "none"
        enqueue(served, "Ada", "Grace")
        worked = until(
            lambda: (report := wc.run_once()).requests and report,
            timeout=30,
            what="a poll that finds the two commands",
        )
        assert worked.requests == 2
        assert worked.last_progress == 100
        assert sorted(c["FullName"] for c in wc.company.customers()) == ["Ada", "Grace"]
        assert len(results(served, 2)) == 2
        # Settled: the next poll is idle at once (the queue told the index of its commit).
        assert wc.run_once().authenticate == "none"
        wc.close()
    store.close()
