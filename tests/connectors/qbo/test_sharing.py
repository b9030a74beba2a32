"""Sender processes share the QBO companies: with several ``qbsync qbo send`` processes on
real Kafka against the QBO sandbox over HTTP (store on SQLite and PostgreSQL), every company
is served by exactly one of them, the companies are spread evenly, and when one is killed
with SIGKILL the others take its companies over; every customer is written to QBO once."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from sqlalchemy import select

from connectors.qbo import QboEntityRequest, QboOperation, assign
from connectors.qbo_sandbox import QboSandbox
from connectors.store import QboCompanyRow, QboSenderRow
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.qbo import (
    QboWorld,
    add_qbo_profile,
    connect,
    enqueue_commands,
    oauth_app,
    qbo_command,
    qbo_world,
    read_topic,
)
from tests.support.waiting import until

COMPANIES = [f"c{n:02d}" for n in range(30)]


def test_every_company_has_one_member_and_none_more_than_its_share() -> None:
    for members in (["a"], ["a", "b"], ["a", "b", "c"], [f"m{n}" for n in range(7)]):
        chosen = assign(COMPANIES, members)
        assert sorted(chosen) == COMPANIES
        loads = collections.Counter(chosen.values())
        assert set(loads) == set(members)
        assert max(loads.values()) - min(loads.values()) <= 1, loads


def test_every_sender_computes_the_same_assignment() -> None:
    one = assign(COMPANIES, ["a", "b", "c"])
    assert assign(reversed(COMPANIES), ["c", "a", "b", "a"]) == one


def test_a_dead_members_companies_go_to_the_others() -> None:
    before = assign(COMPANIES, ["a", "b", "c"])
    after = assign(COMPANIES, ["a", "b"])
    assert set(after.values()) == {"a", "b"}
    moved = [c for c in COMPANIES if before[c] != after[c]]
    # c's ten move; a few more may, to even out the load (at most one share's worth).
    assert {c for c in COMPANIES if before[c] == "c"} <= set(moved)
    assert len(moved) <= 10 + 5


def test_no_members_no_assignment() -> None:
    assert assign(COMPANIES, []) == {}


def customer(name: str) -> QboEntityRequest:
    return QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": name})


def _env(settings: Settings, world: QboWorld, database_url: str, log_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    app = oauth_app(world.sandbox, world.url)
    env.update(
        QBSYNC_DATA_DIR=str(log_dir),
        QBSYNC_DATABASE_URL=database_url,
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=settings.kafka.bootstrap_servers,
        QBSYNC_TOPIC_PREFIX=settings.topics.prefix,
        QBSYNC_QBO_API_BASE_URL=world.url,
        QBSYNC_QBO_AUTHORIZE_URL=app.authorize_url,
        QBSYNC_QBO_TOKEN_URL=app.token_url,
        QBSYNC_QBO_REVOKE_URL=app.revoke_url,
        QBSYNC_QBO_CLIENT_ID=app.client_id,
        QBSYNC_QBO_CLIENT_SECRET=app.client_secret.get_secret_value(),
        QBSYNC_QBO_REDIRECT_URI=app.redirect_uri,
        QBSYNC_QBO_TOKEN_KEYS=world.key.get_secret_value(),
        QBSYNC_QBO_READ_ENTITIES="",
        QBSYNC_QBO_RETRY_BASE_S="0.05",
        QBSYNC_QBO_BATCH_SIZE="2",
        QBSYNC_QBO_SENDER_THREADS="2",
        # A killed sender's heartbeat and leases lapse after this; the others then take over.
        QBSYNC_QBO_DRAIN_LEASE_S="4",
    )
    return env


@contextmanager
def _senders(
    env: dict[str, str], log_dir: Path, count: int
) -> Iterator[list[subprocess.Popen[bytes]]]:
    with ExitStack() as stack:
        processes: list[subprocess.Popen[bytes]] = []
        for number in range(count):
            output = stack.enter_context((log_dir / f"sender-{number}.out").open("ab"))
            processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", "qbsync", "qbo", "send", "--idle-s", "0.2"],
                    env=env,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        try:
            yield processes
        finally:
            for process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(60)


def _owners(world: QboWorld) -> dict[str, str | None]:
    with world.store.engine.connect() as connection:
        rows = connection.execute(select(QboCompanyRow.profile_id, QboCompanyRow.drain_owner))
        return {str(profile): owner for profile, owner in rows.all()}


def _roster(world: QboWorld) -> list[str]:
    with world.store.engine.connect() as connection:
        return list(connection.execute(select(QboSenderRow.owner)).scalars())


def _pid(owner: str | None) -> int | None:
    return None if owner is None else int(owner.rsplit("-", 2)[1])


def test_sender_processes_share_the_companies_and_take_over_a_killed_ones(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    use_broker(settings, broker)
    prepare_topics(settings)
    codec = AvroCodec()
    sandbox = QboSandbox()
    realms = [f"77700{n:05d}" for n in range(6)]
    with qbo_world(database_url, sandbox=sandbox) as world:
        profiles: dict[str, str] = {}
        for number, realm in enumerate(realms):
            sandbox.add_company(realm)
            profiles[realm] = add_qbo_profile(
                world.store, f"Online {number}", tenants=(f"t-{number}",)
            )
            connect(world, profiles[realm], realm)
        expected: dict[str, list[str]] = {realm: [] for realm in realms}
        command_ids: set[str] = set()

        def publish(round_: int) -> None:
            for number, realm in enumerate(realms):
                names = [f"Co{number} round {round_} #{n}" for n in range(4)]
                commands = [
                    qbo_command(
                        profiles[realm],
                        "customer",
                        f"{realm}-{name}",
                        customer(name),
                        tenant_id=f"t-{number}",
                    )
                    for name in names
                ]
                command_ids.update(str(c["command_id"]) for c in commands)
                enqueue_commands(settings, codec, profiles[realm], commands)
                expected[realm] += names

        def written() -> bool:
            return all(
                sorted(c["DisplayName"] for c in sandbox.company(realm).all("Customer"))
                == sorted(names)
                for realm, names in expected.items()
            )

        publish(1)
        env = _env(settings, world, database_url, tmp_path)
        with _senders(env, tmp_path, 3) as processes:
            pids = {p.pid for p in processes}

            def spread(alive: set[int], share: int) -> bool:
                for process in processes:
                    assert process.pid not in alive or process.poll() is None, process.pid
                held = collections.Counter(_pid(o) for o in _owners(world).values())
                return held == dict.fromkeys(alive, share)

            until(written, timeout=120, what="the first round written to QBO")
            # Every company held by exactly one sender, two each.
            until(lambda: spread(pids, 2), timeout=60, what="the companies spread 2/2/2")
            assert {_pid(o) for o in _roster(world)} == pids

            publish(2)
            victim = processes[0]
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(30)
            survivors = pids - {victim.pid}
            until(written, timeout=120, what="the second round written, the victim's too")
            until(lambda: spread(survivors, 3), timeout=60, what="the survivors hold 3 each")
            publish(3)
            until(written, timeout=120, what="the third round written")
        for process in processes[1:]:
            assert process.returncode == 0, (tmp_path / "sender-1.out").read_text()

        results = read_topic(
            settings,
            codec,
            settings.topics.results,
            settings.topics.results_partitions,
            len(command_ids),
        )
        # Every command has its result, and each says OK: a second write of a customer
        # would have been refused as a duplicate name (6240).
        assert {str(r["command_id"]) for r in results} == command_ids
        assert {(r["status_code"], r["status_message"]) for r in results} == {(0, "OK")}
        for realm, names in expected.items():
            assert len(sandbox.company(realm).all("Customer")) == len(names) == 12
        # The survivors left the roster when they stopped; the victim's heartbeat lapsed.
        assert {_pid(o) for o in _roster(world)} <= {victim.pid}
