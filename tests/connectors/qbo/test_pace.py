"""A company whose minute is full yields its sender thread (real Kafka, the QBO sandbox
over HTTP with the same limits as the client): with one thread, a realm at its limit does
not hold up another realm's commands; its own are sent later, each once, never throttled."""

from __future__ import annotations

from connectors.qbo import QboEntityRequest, QboOperation, RealmLimits, create_qbo_runtime
from connectors.qbo_sandbox import QboSandbox
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
)
from tests.support.waiting import until

BUSY, QUIET = "8880001111", "8880002222"
PER_WINDOW, WINDOW_S = 2, 3.0


def customer(name: str) -> QboEntityRequest:
    return QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": name})


def test_a_realm_at_its_limit_yields_the_thread_to_another_realm(
    broker: BrokerInfo, settings: Settings
) -> None:
    use_broker(settings, broker)
    prepare_topics(settings)
    codec = AvroCodec()
    sandbox = QboSandbox(per_minute=PER_WINDOW, window_s=WINDOW_S)
    with qbo_world(settings.database_url, sandbox=sandbox) as world:
        profiles = {}
        for realm in (BUSY, QUIET):
            sandbox.add_company(realm)
            profiles[realm] = add_qbo_profile(world.store, f"Co {realm}", tenants=(f"t-{realm}",))
            connect(world, profiles[realm], realm)
        qbo_settings(settings, sandbox, world.url, world.key)
        settings.qbo.sender_threads = 1
        settings.qbo.batch_creates = False  # one request per command: the 500 a minute bind
        limits = RealmLimits(per_minute=PER_WINDOW, window_s=WINDOW_S, margin_s=WINDOW_S / 60)
        runtime = create_qbo_runtime(settings, world.store, limits=limits)
        try:
            for realm, count in ((BUSY, 5), (QUIET, 1)):
                profile = profiles[realm]
                enqueue_commands(
                    settings,
                    codec,
                    profile,
                    [
                        qbo_command(
                            profile,
                            "customer",
                            f"c-{n}",
                            customer(f"{realm} {n}"),
                            tenant_id=f"t-{realm}",
                        )
                        for n in range(count)
                    ],
                )
            # The busy realm sends its window's worth and yields: the quiet one is drained
            # in the same pass, by the same (only) thread.
            first = until(
                lambda: (r := runtime.drain_all()) and sum(x.sent for x in r.values()) and r,
                timeout=60,
                what="a pass that sent something",
            )
            assert first[profiles[BUSY]].sent == PER_WINDOW
            assert first[profiles[BUSY]].stopped is None
            assert first[profiles[QUIET]].sent == 1
            assert len(sandbox.company(QUIET).all("Customer")) == 1

            def busy_done() -> bool:
                runtime.drain_all()
                return len(sandbox.company(BUSY).all("Customer")) >= 5

            until(busy_done, timeout=60, what="the busy realm's other commands")
            for _ in range(3):
                runtime.drain_all()
            names = sorted(c["DisplayName"] for c in sandbox.company(BUSY).all("Customer"))
            assert names == [f"{BUSY} {n}" for n in range(5)]  # each once, in QBO
            assert not [entry for entry in sandbox.requests if entry[3] == 429]
        finally:
            runtime.close()
