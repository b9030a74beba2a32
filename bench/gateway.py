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
  ``--window`` seconds and their slope (flat, or growing?), server CPU per poll per window,
  the drivers' own CPU. The profiles are created in one transaction, their hashes computed
  once per distinct password (``--passwords``, at ``--kdf-n``: the gateway's 2**14 unless
  told). Each profile polls once first, unmeasured but reported (``first_polls``): one real
  scrypt check each; the measured polls must then cost none (``measured_scrypt_checks``,
  from the gateway's metrics). ``--database-url`` (PostgreSQL) runs it on a new database
  there, dropped afterwards. The gateway imports what it does by default, every file's
  imports completed at set-up (steady state: the next due after the run); ``--imports-off``
  configures none (the runs before the twenty-seventh session). ``--gateway-processes N``
  runs N gateway processes on the port (all their CPU counted; the unmeasured first polls
  go on in whole rounds until one costs no password check, since each process checks a
  password once for itself).

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
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from _databases import drop_database, fresh_database
from _procs import cpu_seconds, descendants
from _stats import TimedTransport, percentile  # bench/ is the script's folder: first on sys.path
from _wc_driver import drive, schedule
from pydantic import SecretStr
from sqlalchemy import insert
from sqlalchemy.pool import NullPool

from connectors.kafka import RecordProducer, ensure_topics
from connectors.qbwc import NewProfile, create_profile
from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, SandboxWebConnector
from connectors.store import ImportWatermark, Profile, Store, upgrade
from core.contracts import AvroCodec
from core.processes import child_process
from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import child_env, free_port, prepare_topics, use_broker, wait_healthy

Users = tuple[str, str]  # (username, password)


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


def gateway_counters(base: str) -> dict[str, float]:
    """The gateway's scrypt check count and CPU seconds so far (its /metrics)."""
    names = {
        "qbsync_gateway_password_checks_total": "checks",
        "qbsync_gateway_password_check_cpu_seconds_total": "cpu_s",
    }
    with urllib.request.urlopen(f"{base}/metrics", timeout=10) as response:
        text = response.read().decode()
    found = dict.fromkeys(names.values(), 0.0)
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in names:
            found[names[name]] = float(value)
    return found


def database_sessions(url: str) -> int | None:
    """Connections ever opened to ``url``'s database (PostgreSQL's counter; None for
    SQLite): a pool smaller than the gateway's threads opens and closes them per call."""
    if not url.startswith("postgresql"):
        return None
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(make_url(url), poolclass=NullPool)
    with engine.connect() as connection:
        value = connection.execute(
            text("SELECT sessions FROM pg_stat_database WHERE datname = current_database()")
        ).scalar_one()
    engine.dispose()
    return int(value)


def slope_per_minute(points: list[tuple[float, float]]) -> float:
    """The least-squares slope of ``(seconds, value)`` points, per minute (0 for < 2)."""
    if len(points) < 2:
        return 0.0
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if not spread:
        return 0.0
    return 60 * sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


class CpuSampler(threading.Thread):
    """Processes' CPU seconds read every ``every`` seconds from wall-clock ``start_at``."""

    def __init__(self, pids: list[int], start_at: float, every: float, windows: int) -> None:
        super().__init__(daemon=True)
        self._pids, self._start_at, self._every, self._windows = pids, start_at, every, windows
        self.samples: list[float] = []

    def run(self) -> None:

        for index in range(self._windows + 1):
            time.sleep(max(0.0, self._start_at + index * self._every - time.time()))
            self.samples.append(cpu_seconds(self._pids))


def scale_round(
    base: str,
    users: list[tuple[str, str]],
    args: argparse.Namespace,
    gateway_pids: list[int],
    database_url: str,
) -> dict[str, object]:

    url = f"{base}/qbwc"
    # Every profile's driver, the same split for the whole rounds and the measured polls.
    shares = [users[i :: args.drivers] for i in range(args.drivers)]
    with ProcessPoolExecutor(args.drivers) as pool:
        todo = users
        warm_started = time.perf_counter()
        warm_cpu = cpu_seconds(gateway_pids)
        for _ in range(50):  # first polls: one scrypt each; "busy" ones come back
            left = [todo[i :: args.drivers] for i in range(args.drivers)]
            start_at = time.time() + 0.3
            # A few at a time per driver: about as many as the gateway's scrypt slots can
            # take within their wait, as Web Connectors' first polls spread over time.
            firsts = [pool.submit(drive, url, part, start_at, 4) for part in left if part]
            let_in: dict[str, str] = {}
            for first in firsts:
                let_in |= first.result().authenticate
            todo = [u for u in todo if let_in.get(u[0]) != "none"]
            if not todo:
                break
        assert not todo, f"{len(todo)} profiles never let in"
        # Several gateway processes each check a password once for themselves, and the
        # kernel hands each new connection to any of them: whole rounds until one costs
        # no check (every profile known where it landed; the rest pay in the measured
        # polls, reported as measured_scrypt_checks).
        rounds = 0
        while len(gateway_pids) > 1 and rounds < 40:
            rounds += 1
            checks = gateway_counters(base)["checks"]
            start_at = time.time() + 0.3
            for done in [pool.submit(drive, url, share, start_at, 16) for share in shares]:
                done.result()
            if gateway_counters(base)["checks"] == checks:
                break
        warm_s = time.perf_counter() - warm_started
        warm_cpu = cpu_seconds(gateway_pids) - warm_cpu
        after_warm = gateway_counters(base)
        connections = database_sessions(database_url)
        start_at = time.time() + 1.0
        windows_n = max(1, int(args.duration // args.window))
        sampler = CpuSampler(gateway_pids, start_at, args.window, windows_n)
        sampler.start()
        cpu = cpu_seconds(gateway_pids)
        futures = [
            pool.submit(schedule, url, share, start_at, args.duration, args.every)
            for share in shares
        ]
        outcomes = [future.result() for future in futures]
        cpu = cpu_seconds(gateway_pids) - cpu
        sampler.join(timeout=args.window + 5)
        measured = gateway_counters(base)
        if connections is not None:
            connections = (database_sessions(database_url) or 0) - connections - 1
    timeline = sorted(t for _, part in outcomes for t in part)
    polls = sum(report.sessions for report, _ in outcomes)
    answers = [a for report, _ in outcomes for a in report.authenticate.values()]
    windows = []
    for index in range(windows_n):
        start = index * args.window
        inside = [s for at, _, s in timeline if start <= at < start + args.window]
        # A poll is three calls; its CPU is the gateway's CPU in the window over its polls.
        window_polls = max(1, len(inside) // 3)
        cpu_ms = None
        if len(sampler.samples) > index + 1:
            cpu_ms = (sampler.samples[index + 1] - sampler.samples[index]) * 1000
        windows.append(
            {
                "from_s": round(start, 1),
                "calls": len(inside),
                "p50_ms": round(percentile(inside, 0.5) * 1000, 2),
                "p99_ms": round(percentile(inside, 0.99) * 1000, 2),
                "cpu_ms_per_poll": None if cpu_ms is None else round(cpu_ms / window_polls, 3),
            }
        )
    latencies = [s for _, _, s in timeline]
    auth = [s for _, op, s in timeline if op == "authenticate"]
    driver_cpu = sum(r.cpu_s for r, _ in outcomes)
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
        "server_cpu_share_of_a_core": round(cpu / args.duration, 3),
        "driver_cpu_ms_per_call": round(driver_cpu * 1000 / max(1, len(timeline)), 3),
        "driver_cpu_share_of_a_core": round(driver_cpu / args.duration, 3),
        "p99_slope_ms_per_min": round(
            slope_per_minute([(w["from_s"], w["p99_ms"]) for w in windows]), 2
        ),
        "cpu_per_poll_slope_ms_per_min": round(
            slope_per_minute(
                [(w["from_s"], w["cpu_ms_per_poll"]) for w in windows if w["cpu_ms_per_poll"]]
            ),
            3,
        ),
        "first_polls": {
            "seconds": round(warm_s, 1),
            "whole_rounds": rounds,
            "gateway_cpu_s": round(warm_cpu, 1),
            "scrypt_checks": int(after_warm["checks"]),
            "scrypt_cpu_s": round(after_warm["cpu_s"], 2),
        },
        "measured_scrypt_checks": int(measured["checks"] - after_warm["checks"]),
        "measured_database_connections_opened": connections,
        "measured_scrypt_cpu_s": round(measured["cpu_s"] - after_warm["cpu_s"], 3),
        "windows": windows,
    }


def new_profiles(count: int, distinct: int, kdf_n: int) -> tuple[list[Profile], list[Users]]:
    """``count`` profiles with ``distinct`` passwords among them, each password's scrypt hash
    (at ``kdf_n``, the gateway's default 2**14 unless told) computed once: the gateway still
    runs one real scrypt check per profile (its credential cache is per user name)."""
    from connectors.qbwc import generate_password, hash_password

    passwords = [generate_password() for _ in range(max(1, min(distinct, count)))]
    with ProcessPoolExecutor(2) as pool:
        hashes = list(pool.map(partial(hash_password, n=kdf_n), passwords))
    now = datetime.now(UTC)
    profiles: list[Profile] = []
    users: list[Users] = []
    for index in range(count):
        profile_id = uuid.uuid4().hex
        username = f"scale-{index}-{profile_id[:6]}"
        profiles.append(
            Profile(
                id=profile_id,
                name=username,
                username=username,
                password_hash=hashes[index % len(hashes)],
                owner_id=f"{{{uuid.uuid4()}}}",
                file_id=f"{{{uuid.uuid4()}}}",
                company_file="",
                enabled=True,
                created_at=now,
            )
        )
        users.append((username, passwords[index % len(passwords)]))
    return profiles, users


def imports_done(store: Store, profile_ids: list[str], entities: tuple[str, ...]) -> None:
    """Every file's imports completed just now, as in steady state (the next ones due an
    import interval later), in one transaction: the polls measured are idle ones."""
    if not entities:
        return
    now = datetime.now(UTC)
    rows = [
        {"profile_id": p, "entity": e, "completed_at": now, "records": 0}
        for p in profile_ids
        for e in entities
    ]
    with store.engine.begin() as connection:
        connection.execute(insert(ImportWatermark), rows)


def scale(
    settings: Settings, store: Store, args: argparse.Namespace, work: Path, broker: BrokerInfo
) -> None:
    started = time.perf_counter()
    profiles, users = new_profiles(args.profiles, args.passwords, args.kdf_n)
    store.add_profiles(profiles)  # one transaction
    imports_done(store, [p.id for p in profiles], settings.gateway.import_entities)
    created_s = time.perf_counter() - started
    env = child_env(settings)
    with child_process("gateway", ["gateway"], env=env, log_dir=work / "logs") as gateway:
        base = f"http://127.0.0.1:{settings.gateway.port}"
        wait_healthy(gateway, f"{base}/healthz")
        # With --gateway-processes above 1 the process started is their supervisor, which
        # starts every one before any answers: all are measured.
        pids = [gateway.process.pid, *descendants(gateway.process.pid)]
        assert len(pids) == (1 + args.gateway_processes if args.gateway_processes > 1 else 1)
        result = scale_round(base, users, args, pids, settings.database_url)
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
                "gateway_processes": args.gateway_processes,
                "drivers": args.drivers,
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "setup": {
                    "imports": list(settings.gateway.import_entities),
                    "profiles_created_s": round(created_s, 1),
                    "distinct_passwords": min(args.passwords, args.profiles),
                    "kdf_n": args.kdf_n,
                },
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
    parser.add_argument(
        "--passwords", type=int, default=50, help="distinct passwords (hashed once each)"
    )
    parser.add_argument("--kdf-n", type=int, default=2**14, help="scrypt n of the hashes")
    parser.add_argument("--database-url", default="")
    parser.add_argument("--gateway-processes", type=int, default=1, help="QBSYNC_GATEWAY_PROCESSES")
    parser.add_argument(
        "--imports-off",
        action="store_true",
        help="--profiles without imports (default: the gateway's default list, each done)",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
        work = Path(tmp)
        settings = Settings(data_dir=work)
        use_broker(settings, broker)
        settings.topics.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        settings.gateway.port = free_port()
        settings.gateway.threads = args.threads
        settings.gateway.processes = args.gateway_processes
        # Command throughput and idle polling, as before imports existed (an import is a
        # first-session cost per profile, measured apart). --profiles keeps the default
        # imports, each file's done at set-up (--imports-off: none, as before).
        if not args.profiles or args.imports_off:
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
