"""qbsync's gateway side by side with a bare peer, in one run, printed as one JSON object.

The peer is the PyPI package qbwc-kit (pinned: ``PEER_VERSION``), installed by this script
with ``pip install --target`` into ``--peer-dir`` (default ``.cache/peer`` under the current
directory) and served by ``bench/_peer_server.py``: its ``QBWCService.dispatch`` as bare WSGI
on waitress, queues in memory. qbsync's gateway is the real ``qbsync gateway`` process
(waitress + spyne, the store, the broker). Both get the same number of waitress threads and
the same driver: ``bench/_wc_driver.py``, asyncio Web Connectors spread over ``--drivers``
processes, whose own CPU time is reported so that it can be seen not to be the bottleneck.

The workload per level (concurrent sessions, ``--levels``): every session drains its own
company file's queue of ``--commands`` customer adds, ``--per-message`` to a message. Levels
run in ABBA order (qbsync, peer, peer, qbsync) and each side's figures are the mean of its two
runs: calls/s, p50/p99 call latency, server CPU per call (qbsync's with the broker's beside
it). ``ratio`` is qbsync / peer (calls/s above 1 is qbsync ahead; CPU and p99 below 1 is).

Before the first level, each side drains its files once at the top level, unmeasured
(``--warm-rounds``, default 1): the broker is a JVM started by this script, and at the first
level measured cold it spent ~1 core compiling (10-13 ms of its CPU per call at one session,
against ~2 at 64), on the two cores the gateway and the driver share; a deployed broker is
long warm. The gateway's and the peer's Python caches warm the same way.

qbsync's store is SQLite in the run's folder unless ``--database-url`` names a PostgreSQL
server: the run then makes its own database there and drops it at the end (``_databases``).

    python bench/gateway_peer.py [--levels 1,16,64] [--commands 50] [--drivers 4]
                                 [--database-url postgresql+psycopg://user:pw@host/db]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from statistics import mean
from typing import Any

from _databases import drop_database, fresh_database
from _procs import cpu_seconds, descendants, thread_cpu
from _stats import percentile  # bench/ is the script's folder: first on sys.path
from _wc_driver import DriverReport, drive
from gateway import enqueue as enqueue_one
from pydantic import SecretStr

from connectors.qbwc import NewProfile, create_profile
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.processes import child_process
from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import child_env, free_port, prepare_topics, use_broker, wait_healthy

PEER = "qbwc-kit"
PEER_VERSION = "0.1.3"
BENCH = Path(__file__).resolve().parent


def install_peer(folder: Path) -> Path:
    """The pinned peer, installed once under ``folder`` (no dependencies: its core is the
    standard library only)."""
    target = folder / f"{PEER}-{PEER_VERSION}"
    if not (target / "qbwc_kit" / "__init__.py").exists():
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--no-deps",
                "--target",
                str(target),
                f"{PEER}=={PEER_VERSION}",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return target


def run_level(
    pool: ProcessPoolExecutor,
    drivers: int,
    url: str,
    users: list[tuple[str, str]],
    server: list[int],
    broker: list[int],
) -> dict[str, Any]:
    """All ``users`` run one session at once, spread over ``drivers`` processes."""
    shares = [users[i::drivers] for i in range(drivers) if users[i::drivers]]
    start_at = time.time() + 0.3
    server_cpu, broker_cpu = cpu_seconds(server), cpu_seconds(broker)
    threads = threads_cpu(server)
    reports: list[DriverReport] = [
        f.result() for f in [pool.submit(drive, url, share, start_at) for share in shares]
    ]
    server_cpu, broker_cpu = cpu_seconds(server) - server_cpu, cpu_seconds(broker) - broker_cpu
    threads = {
        name: seconds - threads.get(name, 0.0) for name, seconds in threads_cpu(server).items()
    }
    calls = [c for r in reports for c in r.calls]
    elapsed = max(r.ended for r in reports) - min(r.started for r in reports)
    latencies = [seconds for _, seconds in calls]
    return {
        "sessions": sum(r.sessions for r in reports),
        "requests_answered": sum(r.requests for r in reports),
        "soap_calls": len(calls),
        "calls_per_s": len(calls) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "server_cpu_ms_per_call": server_cpu * 1000 / len(calls),
        "broker_cpu_ms_per_call": broker_cpu * 1000 / len(calls),
        "driver_cpu_ms_per_call": sum(r.cpu_s for r in reports) * 1000 / len(calls),
        "server_cpu_ms_per_call_by_thread": {
            name: seconds * 1000 / len(calls) for name, seconds in sorted(threads.items())
        },
    }


def threads_cpu(pids: list[int]) -> dict[str, float]:
    """:func:`thread_cpu` summed over ``pids`` (the gateway's processes)."""
    kinds: dict[str, float] = {}
    for pid in pids:
        for name, seconds in thread_cpu(pid).items():
            kinds[name] = kinds.get(name, 0.0) + seconds
    return kinds


def warm_all(
    pool: ProcessPoolExecutor, url: str, users: list[tuple[str, str]], drivers: int, need: int
) -> None:
    """Poll until every user is let in (``authenticate`` answers "none": nothing to do)
    ``need`` rounds in a row. With several gateway processes each checks a password once
    for itself, and a poll reaches one of them at random: 8 rounds per process in a row
    leave a user unchecked by one of two with odds 2**-16."""
    streak = 0
    waiting = users
    for _ in range(100 * need):
        polled = warm(pool, url, users if need > 1 else waiting, drivers)
        waiting = [u for u in waiting if polled.get(u[0]) != "none"]
        if need == 1 and not waiting:
            return
        streak = streak + 1 if all(polled.get(u) == "none" for u, _ in users) else 0
        if streak >= need:
            return
    raise AssertionError(f"never let in: {[u for u, _ in waiting] or 'some, some rounds'}")


def warm(
    pool: ProcessPoolExecutor, url: str, users: list[tuple[str, str]], drivers: int
) -> dict[str, str]:
    """One poll by every user; what ``authenticate`` answered each."""
    shares = [users[i::drivers] for i in range(drivers) if users[i::drivers]]
    start_at = time.time() + 0.3
    answers: dict[str, str] = {}
    for future in [pool.submit(drive, url, share, start_at) for share in shares]:
        answers |= future.result().authenticate
    return answers


def averaged(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean of each figure over the runs, rounded; the runs' own calls/s beside it."""
    by_thread = "server_cpu_ms_per_call_by_thread"
    merged: dict[str, Any] = {
        key: round(mean(run[key] for run in runs), 2) for key in runs[0] if key != by_thread
    }
    merged["calls_per_s_runs"] = [round(run["calls_per_s"], 1) for run in runs]
    names = sorted({name for run in runs for name in run[by_thread]})
    merged[by_thread] = {
        name: round(mean(run[by_thread].get(name, 0.0) for run in runs), 2) for name in names
    }
    return merged


def ratio(ours: float, theirs: float) -> float | None:
    """``ours / theirs``; None when the peer's figure is 0 (below the clock's resolution:
    the kernel counts CPU in ticks of 1/SC_CLK_TCK s)."""
    return round(ours / theirs, 3) if theirs else None


def enqueue(settings: Settings, codec: AvroCodec, profiles: list[NewProfile], count: int) -> None:
    for profile in profiles:
        enqueue_one(settings, codec, profile, count)  # the same commands as bench/gateway.py


@contextmanager
def peer_server(args: argparse.Namespace, users: int, password: str) -> Iterator[tuple[str, int]]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(install_peer(args.peer_dir.resolve()))}
    process = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "_peer_server.py"),
            "--port",
            str(port),
            "--users",
            str(users),
            "--password",
            password,
            "--threads",
            str(args.threads),
            "--per-message",
            str(args.per_message),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the peer server did not start") from None
                time.sleep(0.05)  # waiting for a port to open, not synchronising work
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    # The gateway's work index (idle polls answered from memory) is what these runs measure:
    # on by default (1 s) in qbsync, off in the test suite's settings, so it is set here
    # unless the caller chose (QBSYNC_GATEWAY_WORK_INDEX_S=0 measures the broker-per-poll path).
    os.environ.setdefault("QBSYNC_GATEWAY_WORK_INDEX_S", "1")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="1,16,64", help="concurrent sessions per level")
    parser.add_argument("--commands", type=int, default=50, help="adds per company file")
    parser.add_argument("--per-message", type=int, default=25, help="adds per qbXML message")
    parser.add_argument("--drivers", type=int, default=4, help="driver processes")
    parser.add_argument("--threads", type=int, default=16, help="waitress threads, both sides")
    parser.add_argument(
        "--gateway-processes",
        type=int,
        default=1,
        help="qbsync gateway processes (QBSYNC_GATEWAY_PROCESSES), each with --threads",
    )
    parser.add_argument(
        "--gateway-threads",
        type=int,
        default=0,
        help="waitress threads of each qbsync gateway process (default: --threads); the peer"
        " keeps --threads",
    )
    parser.add_argument("--peer-dir", type=Path, default=Path(".cache/peer"))
    parser.add_argument(
        "--warm-rounds", type=int, default=1, help="unmeasured rounds at the top level, each side"
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server for qbsync's store: a new database beside the one named,"
        " dropped at the end (default: SQLite in the run's folder)",
    )
    args = parser.parse_args()
    levels = [int(level) for level in args.levels.split(",")]

    with tempfile.TemporaryDirectory() as tmp, running_broker() as broker:
        settings = Settings(data_dir=Path(tmp))
        use_broker(settings, broker)
        settings.topics.prefix = f"bench-{uuid.uuid4().hex[:6]}"
        settings.gateway.port = free_port()
        settings.gateway.threads = args.gateway_threads or args.threads
        settings.gateway.processes = args.gateway_processes
        settings.gateway.batch_size = args.per_message
        settings.gateway.imports = ""
        if args.database_url:
            settings.database.url = SecretStr(fresh_database(args.database_url))
        try:
            report = compare(args, settings, broker, levels)
        finally:
            if args.database_url:
                drop_database(settings.database_url, args.database_url)
    print(json.dumps(report))


def compare(
    args: argparse.Namespace, settings: Settings, broker: BrokerInfo, levels: list[int]
) -> dict[str, Any]:
    """Both sides at every level, ABBA, after the warm-up; the report."""
    work = settings.data_dir
    top = max(levels)
    password = uuid.uuid4().hex
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    codec = AvroCodec()
    profiles = [create_profile(store, name=f"busy-{i}", tenants=[f"b-{i}"]) for i in range(top)]
    ours = [(p.profile.username, p.password) for p in profiles]
    broker_pids = descendants(os.getpid())
    env = child_env(settings)
    results: dict[str, list[dict[str, Any]]] = {}
    with (
        ProcessPoolExecutor(args.drivers) as pool,
        child_process("gateway", ["gateway"], env=env, log_dir=work / "logs") as gateway,
        peer_server(args, top, password) as (peer, peer_pid),
    ):
        wait_healthy(gateway, f"http://127.0.0.1:{settings.gateway.port}/healthz")
        # With --gateway-processes above 1 the process started is their supervisor, which
        # starts every one before any answers: all are measured.
        gateway_pids = [gateway.process.pid, *descendants(gateway.process.pid)]
        if settings.gateway.processes > 1:
            assert len(gateway_pids) == 1 + settings.gateway.processes, gateway_pids
        qbsync_url = f"http://127.0.0.1:{settings.gateway.port}/qbwc"
        theirs = [(f"peer-{i}", password) for i in range(top)]
        # Warm both, and qbsync's credential cache (one scrypt per profile, as in steady
        # state): every profile polls with nothing to do until it is let in ("busy" is
        # the gateway's bound on concurrent password checks; on a loaded machine 20 rounds
        # were not always enough: the warm-up is not measured, so it may take longer).
        processes = settings.gateway.processes
        warm_all(pool, qbsync_url, ours, args.drivers, 8 * processes if processes > 1 else 1)
        warm_all(pool, f"{peer}/qbwc", theirs, args.drivers, 1)

        # The gateway learns which files have work from a bulk refresh every
        # work_index_s (0: it asks the broker per poll): a level starts once that has
        # run, as in steady state, where commands wait for a file's next scheduled poll.
        index_s = getattr(settings.gateway, "work_index_s", 0.0)

        def ours_once(level: int) -> dict[str, Any]:
            enqueue(settings, codec, profiles[:level], args.commands)
            time.sleep(2 * index_s + 0.2 if index_s else 0)  # outside the measured calls
            run = run_level(
                pool,
                args.drivers,
                qbsync_url,
                ours[:level],
                gateway_pids,
                broker_pids,
            )
            assert run["requests_answered"] == level * args.commands, run
            return run

        def theirs_once(level: int) -> dict[str, Any]:
            fill = urllib.request.Request(f"{peer}/fill?count={args.commands}", method="POST")
            urllib.request.urlopen(fill, timeout=10).close()
            run = run_level(pool, args.drivers, f"{peer}/qbwc", theirs[:level], [peer_pid], [])
            assert run["requests_answered"] == level * args.commands, run
            return run

        sides: dict[str, Callable[[int], dict[str, Any]]] = {
            "qbsync": ours_once,
            "peer": theirs_once,
        }
        for _ in range(args.warm_rounds):  # not measured (see the module's doc)
            for side in ("qbsync", "peer"):
                sides[side](top)
        for level in levels:
            for side in ("qbsync", "peer", "peer", "qbsync"):  # ABBA
                results.setdefault(f"{side}:{level}", []).append(sides[side](level))
    store.close()
    report_levels = []
    for level in levels:
        qb, peer_avg = averaged(results[f"qbsync:{level}"]), averaged(results[f"peer:{level}"])
        qb_cpu = qb["server_cpu_ms_per_call"] + qb["broker_cpu_ms_per_call"]
        report_levels.append(
            {
                "sessions": level,
                "qbsync": qb,
                "peer": peer_avg,
                "ratio": {
                    "calls_per_s": ratio(qb["calls_per_s"], peer_avg["calls_per_s"]),
                    "p99": ratio(qb["p99_ms"], peer_avg["p99_ms"]),
                    "server_cpu_per_call_with_broker": ratio(
                        qb_cpu, peer_avg["server_cpu_ms_per_call"]
                    ),
                },
            }
        )
    return {
        "bench": "gateway_peer",
        "broker": {"kind": broker.kind, "version": broker.version},
        "database": settings.database_url.split(":", 1)[0],
        "peer": f"{PEER} {PEER_VERSION}",
        "wsgi_server": (
            f"waitress, {args.threads} threads (both)"
            if settings.gateway.threads == args.threads
            else f"waitress, {settings.gateway.threads} threads (qbsync), {args.threads} (peer)"
        ),
        "gateway_processes": args.gateway_processes,
        "drivers": args.drivers,
        "commands_per_file": args.commands,
        "per_message": args.per_message,
        "order": "ABBA per level, mean of two runs per side",
        "warm_rounds": args.warm_rounds,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "levels": report_levels,
    }


if __name__ == "__main__":
    main()
