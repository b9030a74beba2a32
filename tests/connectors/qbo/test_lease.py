"""A per-company drain lease: two sender processes never drain one QBO company at once
(store on SQLite and PostgreSQL; senders on real Kafka against the QBO sandbox over HTTP)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

from connectors.kafka import CommandQueue
from connectors.qbo import SENDER_GROUP, QboEntityRequest, QboOperation, create_qbo_runtime
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.qbo import (
    add_qbo_profile,
    connect,
    enqueue_commands,
    qbo_command,
    qbo_settings,
    qbo_world,
    read_topic,
)
from tests.support.waiting import until

REALM = "7770001111"
MINUTE = timedelta(minutes=1)


def test_a_drain_lease_is_held_by_one_sender_at_a_time(database_url: str) -> None:
    with qbo_world(database_url) as world:
        profile_id = add_qbo_profile(world.store, "Online Co")
        connections = world.connections
        assert connections.claim_drain(profile_id, "sender-a", MINUTE)
        assert not connections.claim_drain(profile_id, "sender-b", MINUTE)
        assert connections.claim_drain(profile_id, "sender-a", MINUTE)  # renewed
        connections.release_drain(profile_id, "sender-b")  # not b's to give back
        assert not connections.claim_drain(profile_id, "sender-b", MINUTE)
        connections.release_drain(profile_id, "sender-a")
        assert connections.claim_drain(profile_id, "sender-b", MINUTE)
        # A lease that lapsed (its process died) is taken over.
        assert connections.claim_drain(profile_id, "sender-b", -MINUTE)
        assert connections.claim_drain(profile_id, "sender-c", MINUTE)
        assert not connections.claim_drain(profile_id, "sender-b", MINUTE)


def customer(name: str) -> QboEntityRequest:
    return QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": name})


def test_two_senders_never_drain_one_company_at_once(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    prepare_topics(settings)
    codec = AvroCodec()
    with qbo_world(settings.database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, REALM)
        qbo_settings(settings, world.sandbox, world.url, world.key)
        settings.qbo.batch_size = 3
        first = create_qbo_runtime(settings, world.store)
        second = create_qbo_runtime(settings, world.store)
        queue = CommandQueue(
            settings.kafka.client_config(),
            group_id=SENDER_GROUP,
            topic_for=settings.topics.commands,
            consumers=1,
        )
        closed = False
        try:
            names = [f"Leased {n:02d}" for n in range(24)]
            enqueue_commands(
                settings,
                codec,
                profile_id,
                [qbo_command(profile_id, "customer", f"c-{n}", customer(n)) for n in names],
            )
            until(lambda: queue.pending(profile_id) == len(names), what="commands queued")

            # While the first sender holds the company, the second sends nothing.
            assert first.connections.claim_drain(profile_id, first.owner, MINUTE)
            assert second.drain_all() == {}
            assert queue.pending(profile_id) == len(names)
            assert world.sandbox.company(REALM).all("Customer") == []
            first.connections.release_drain(profile_id, first.owner)

            # Both drain at once, over and over, until the company is empty.
            failures: list[BaseException] = []

            def sender(runtime_drain: Callable[[], object]) -> None:
                try:
                    until(
                        lambda: queue.pending(profile_id) == 0,
                        step=runtime_drain,
                        what="drained",
                        timeout=60,
                    )
                except BaseException as exc:  # reported by the test thread
                    failures.append(exc)

            threads = [
                threading.Thread(target=sender, args=(r.drain_all,)) for r in (first, second)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert failures == []

            results = read_topic(
                settings, codec, settings.topics.results, settings.topics.results_partitions, 24
            )
            # One result per command: no command was sent by both senders.
            assert sorted(r["entity_id"] for r in results) == sorted(f"c-{n}" for n in names)
            in_qbo = [c["DisplayName"] for c in world.sandbox.company(REALM).all("Customer")]
            assert sorted(in_qbo) == names

            # The lease is kept between drains, and given back when a sender closes.
            assert not world.connections.claim_drain(profile_id, "a-third-sender", MINUTE)
            first.close()
            second.close()
            closed = True
            assert world.connections.claim_drain(profile_id, "a-third-sender", MINUTE)
        finally:
            queue.close()
            if not closed:
                first.close()
                second.close()
