"""Gateway throughput and latency over real HTTP, printed as one JSON object.

A real gateway process (waitress + spyne) on the test broker (see qbsync.brokers)
and a store; sandbox Web Connectors in this process, each with its own profile and company
file, run whole sessions concurrently:

- ``sessions``: at 1, 16 and 64 concurrent Web Connectors, each draining a queue of
  ``--commands`` customer adds: SOAP calls per second and p50/p99 call latency;
- ``idle``: profiles with nothing to do polling (serverVersion, clientVersion, authenticate ->
  "none") as fast as ``--idle-concurrency`` clients can: polls per second, p99, and how many
  profiles polling once a minute that rate serves.

- ``--profiles N`` (instead of the above): N distinct profiles, each polling once every
  ``--every`` seconds (idle updates spread evenly over the period, a new connection each, as
  QBWC makes them) for ``--duration`` seconds, from ``--drivers`` asyncio processes: p99 per
  ``--window`` seconds (flat, or growing?), server CPU per poll, the drivers' own CPU. Each
  profile polls once first, unmeasured (its password's one scrypt check). The profiles'
  hashes use scrypt n=2**10 instead of 2**14 so that creating 5,000 fits the run; polls hit
  the credential cache either way. ``--database-url`` (PostgreSQL) runs it on a new database
  there, dropped afterwards.

    python bench/gateway.py [--commands 50] [--concurrency 1,16,64] [--idle-seconds 15]
    python bench/gateway.py --profiles 5000 [--every 60] [--duration 60] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from _stats import TimedTransport, percentile  # bench/ is the script's folder: first on sys.path
from _wc_driver import schedule
from pydantic import SecretStr

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbwc import NewProfile, create_profile
from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, SandboxWebConnector
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.processes import child_process
from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import child_env, free_port, prepare_topics, use_broker, wait_healthy


def enqueue(settings: Settings, codec: AvroCodec, profile: NewProfile, count: int) -> None:
    topic = settings.topics.commands(profile.profile.id)
    ensure_topics(settings.kafka.client_config(), {topic: 1})
    records = []
    for index in range(count):
        name = f"Bench {profile.profile.id[:6]} {index}"
        command = {
            "command_id": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "tenant_id": profile.profile.name,
            "profile_id": profile.profile.id,
            "entity": "customer",
            "entity_id": name,
            "action": "ADD",
            "request_xml": build_request("customer", "Add", {"Name": name}),
            "created_at": datetime.now(UTC),
        }
        records.append((topic, None, codec.encode("com.qbsync.pipeline.Command", command)))
    producer = RecordProducer(settings.kafka.client_config())
    producer.send_all(records)
    producer.close()


def sessions_round(
    url: str,
    settings: Settings,
    codec: AvroCodec,
    profiles: list[NewProfile],
    commands: int,
    work: Path,
) -> dict[str, object]:
    for profile in profiles:
        enqueue(settings, codec, profile, commands)
    calls: list[tuple[str, float]] = []
    lock = threading.Lock()

    def drain(profile: NewProfile) -> int:
        company = CompanyFile(work / f"{profile.profile.id}.db")
        connector = SandboxWebConnector(
            TimedTransport(url, calls, lock),
            username=profile.profile.username,
            password=profile.password,
            company=company,
        )
        settled = 0
        for _ in range(1000):
            report = connector.run_once()
            settled += report.requests
            if report.authenticate == "none":
                break
        connector.close()
        records = len(company.customers())
        company.close()
        return records

    started = time.perf_counter()
    with ThreadPoolExecutor(len(profiles)) as pool:
        landed = list(pool.map(drain, profiles))
    elapsed = time.perf_counter() - started
    latencies = [seconds for _, seconds in calls]
    return {
        "concurrent_sessions": len(profiles),
        "commands": commands * len(profiles),
        "records_landed": sum(landed),
        "soap_calls": len(calls),
        "elapsed_s": round(elapsed, 3),
        "calls_per_s": round(len(calls) / elapsed, 1),
        "commands_per_s": round(sum(landed) / elapsed, 1),
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "p99_ms_by_operation": {
            op: round(percentile([s for o, s in calls if o == op], 0.99) * 1000, 2)
            for op in sorted({o for o, _ in calls})
        },
    }


def idle_round(
    url: str, profiles: list[NewProfile], seconds: float, concurrency: int, work: Path
) -> dict[str, object]:
    calls: list[tuple[str, float]] = []
    lock = threading.Lock()
    polls = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    def poll_loop() -> int:
        done = 0
        company = CompanyFile(work / f"idle-{uuid.uuid4().hex}.db")
        while time.perf_counter() < deadline:
            profile = profiles[next(counter) % len(profiles)]
            connector = SandboxWebConnector(
                TimedTransport(url, calls, lock),
                username=profile.profile.username,
                password=profile.password,
                company=company,
            )
            report = connector.run_once()
            connector.close()
            assert report.authenticate == "none", report
            done += 1
        company.close()
        return done

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        polls = sum(pool.map(lambda _: poll_loop(), range(concurrency)))
    elapsed = time.perf_counter() - started
    auth = [s for o, s in calls if o == "authenticate"]
    rate = polls / elapsed
    return {
        "profiles": len(profiles),
        "client_concurrency": concurrency,
        "polls": polls,
        "polls_per_s": round(rate, 1),
        "poll_p99_ms": round(
            percentile([s for o, s in calls if o != "authenticate"] + auth, 0.99) * 1000, 2
        ),
        "authenticate_p50_ms": round(percentile(auth, 0.5) * 1000, 2),
        "authenticate_p99_ms": round(percentile(auth, 0.99) * 1000, 2),
        "idle_profiles_polling_once_a_minute": int(rate * 60),
    }


def scale_round(
    url: str,
    users: list[tuple[str, str]],
    args: argparse.Namespace,
    gateway_pid: int,
) -> dict[str, object]:
    from concurrent.futures import ProcessPoolExecutor

    from gateway_peer import cpu_seconds, warm

    with ProcessPoolExecutor(args.drivers) as pool:
        todo = users
        for _ in range(50):  # first polls: one scrypt each, bounded per process ("busy")
            answers: dict[str, str] = {}
            for first in range(0, len(todo), 100):  # 100 at once: within the listen backlog
                answers |= warm(pool, url, todo[first : first + 100], args.drivers)
            todo = [u for u in todo if answers.get(u[0]) != "none"]
            if not todo:
                break
        assert not todo, f"{len(todo)} profiles never let in"
        shares = [users[i :: args.drivers] for i in range(args.drivers)]
        start_at = time.time() + 1.0
        cpu = cpu_seconds([gateway_pid])
        futures = [
            pool.submit(schedule, url, share, start_at, args.duration, args.every)
            for share in shares
        ]
        outcomes = [future.result() for future in futures]
        cpu = cpu_seconds([gateway_pid]) - cpu
    timeline = sorted(t for _, part in outcomes for t in part)
    polls = sum(report.sessions for report, _ in outcomes)
    answers = [a for report, _ in outcomes for a in report.authenticate.values()]
    windows = []
    for start in range(0, int(args.duration), int(args.window)):
        inside = [s for at, _, s in timeline if start <= at < start + args.window]
        windows.append(
            {
                "from_s": start,
                "calls": len(inside),
                "p50_ms": round(percentile(inside, 0.5) * 1000, 2),
                "p99_ms": round(percentile(inside, 0.99) * 1000, 2),
            }
        )
    latencies = [s for _, _, s in timeline]
    auth = [s for _, op, s in timeline if op == "authenticate"]
    return {
        "profiles": len(users),
        "every_s": args.every,
        "duration_s": args.duration,
        "polls": polls,
        "polls_per_s": round(polls / args.duration, 1),
        "all_none": all(a == "none" for a in answers),
        "errors": sum(report.errors for report, _ in outcomes),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "authenticate_p99_ms": round(percentile(auth, 0.99) * 1000, 2),
        "server_cpu_ms_per_poll": round(cpu * 1000 / max(1, polls), 3),
        "driver_cpu_ms_per_call": round(
            sum(r.cpu_s for r, _ in outcomes) * 1000 / max(1, len(timeline)), 3
        ),
        "windows": windows,
    }


def fresh_database(url: str) -> str:
    """A new, empty database beside the one ``url`` names (PostgreSQL); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"qbsync_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, admin_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    engine = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def scale(
    settings: Settings, store: Store, args: argparse.Namespace, work: Path, broker: BrokerInfo
) -> None:
    from connectors.qbwc import generate_password, hash_password
    from connectors.store import Profile

    users = []
    now = datetime.now(UTC)
    for index in range(args.profiles):
        password = generate_password()
        profile_id = uuid.uuid4().hex
        username = f"scale-{index}-{profile_id[:6]}"
        store.add_profile(
            Profile(
                id=profile_id,
                name=username,
                username=username,
                password_hash=hash_password(password, n=2**10),
                owner_id=f"{{{uuid.uuid4()}}}",
                file_id=f"{{{uuid.uuid4()}}}",
                company_file="",
                enabled=True,
                created_at=now,
            )
        )
        users.append((username, password))
    env = child_env(settings)
    with child_process("gateway", ["gateway"], env=env, log_dir=work / "logs") as gateway:
        base = f"http://127.0.0.1:{settings.gateway.port}"
        wait_healthy(gateway, f"{base}/healthz")
        result = scale_round(f"{base}/qbwc", users, args, gateway.process.pid)
    store.close()
    if args.database_url:
        drop_database(settings.database_url, args.database_url)
    print(
        json.dumps(
            {
                "bench": "gateway",
                "mode": "profiles",
                "broker": {"kind": broker.kind, "version": broker.version},
                "database": settings.database_url.split(":", 1)[0],
                "wsgi_server": f"waitress, {args.threads} threads",
                "drivers": args.drivers,
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "scale": result,
            }
        )
    )


def main() -> None:
    # The gateway's work index (idle polls answered from memory) is what these runs measure;
    # it is off by default in qbsync (a latency trade), so it is switched on here unless the
    # caller chose (QBSYNC_GATEWAY_WORK_INDEX_S=0 measures the broker-per-poll path).
    os.environ.setdefault("QBSYNC_GATEWAY_WORK_INDEX_S", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=50, help="commands per session")
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--idle-profiles", type=int, default=100)
    parser.add_argument("--idle-seconds", type=float, default=15.0)
    parser.add_argument("--idle-concurrency", type=int, default=16)
    parser.add_argument("--threads", type=int, default=16, help="gateway worker threads")
    parser.add_argument("--profiles", type=int, default=0, help="idle profiles at scale")
    parser.add_argument("--every", type=float, default=60.0, help="seconds between polls")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--drivers", type=int, default=2)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
        work = Path(tmp)
        settings = Settings(data_dir=work)
        use_broker(settings, broker)
        settings.topics.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        settings.gateway.port = free_port()
        settings.gateway.threads = args.threads
        # Command throughput and idle polling, as before imports existed (an import is a
        # first-session cost per profile, measured apart).
        settings.gateway.imports = ""
        if args.database_url:
            settings.database.url = SecretStr(fresh_database(args.database_url))
        upgrade(settings.database_url)
        prepare_topics(settings)
        store = Store(settings.database_url)
        codec = AvroCodec()
        if args.profiles:
            scale(settings, store, args, work, broker)
            return
        busy = [
            create_profile(store, name=f"busy-{i}", tenants=[f"busy-{i}"])
            for i in range(max(levels))
        ]
        idle = [
            create_profile(store, name=f"idle-{i}", tenants=[f"idle-{i}"])
            for i in range(args.idle_profiles)
        ]
        env = child_env(settings)
        with child_process("gateway", ["gateway"], env=env, log_dir=work / "logs") as gateway:
            base = f"http://127.0.0.1:{settings.gateway.port}"
            wait_healthy(gateway, f"{base}/healthz")
            url = f"{base}/qbwc"
            sessions = []
            for level in levels:
                (work / str(level)).mkdir()
                sessions.append(
                    sessions_round(
                        url, settings, codec, busy[:level], args.commands, work / str(level)
                    )
                )
            idle_result = idle_round(url, idle, args.idle_seconds, args.idle_concurrency, work)
        store.close()
        print(
            json.dumps(
                {
                    "bench": "gateway",
                    "broker": {"kind": broker.kind, "version": broker.version},
                    "database": settings.database_url.split(":", 1)[0],
                    "wsgi_server": f"waitress, {args.threads} threads",
                    "cores": os.cpu_count(),
                    "python": platform.python_version(),
                    "sessions": sessions,
                    "idle": idle_result,
                }
            )
        )


if __name__ == "__main__":
    main()
