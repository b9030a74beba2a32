"""The whole pipeline, end to end: one JSON object on stdout (progress on stderr).

``--commands`` customer UPSERTED events (new customers) spread round-robin over ``--files``
company files (one profile and one tenant each), on one broker (see qbsync.brokers)
and a SQLite store: events -> the worker (``qbsync worker``) -> command topics -> the gateway
(``qbsync gateway``, a real process over HTTP) -> sandbox Web Connectors in this process
(``--sessions`` at a time, zero latency, no XSD validation) -> results -> the worker settles
(mapping, sync log, a SyncStatus event). Worker and gateway are started as ``qbsync run``
starts them (``qbsync.runtime.running_services``).

The clock starts when the events are published (the services are up, every Web Connector
has polled once, unmeasured: its one scrypt check, ``first_polls_s``); it stops when the
last SyncStatus event has been read. Reported: commands settled per second; the CPU
seconds of each process over that span (worker, gateway, broker, and this one: the Web
Connectors and their sandbox QuickBooks); when the last command reached its topic (the
worker's translate) and when the last result reached the results topic (the gateway); SOAP
round trips per command and their latency; requests per qbXML message; and the
exactly-once check: every published customer is in its company file, once (counted per
file by name), and every record there is mapped in the store.

As in production, each file's command topic is made when the file is provisioned (as
``qbsync profile create`` does), before the services start (``topics_age_s``: how long before
the events). ``--cold-topics``: none exist when the events come; the worker creates them when
it first meets them (the fallback), and their first writes moments later cost the broker.

``--queue-first``: the Web Connectors start only once every command is on its topic, so
``commands_queued_s`` is the worker's translate (and the topics' first writes) alone, without
the gateway and the Web Connectors sharing the cores.

``--warm-up N`` (default: as many as ``--commands``): before the clock, N other customers go
through the whole pipeline to the same files. The broker, started by this script, otherwise
compiles its hot paths during the measured run, as no broker in service does: cold, the
JVM's JIT compilers took 2.8-5.6 of the broker's 8-12 CPU-seconds of a 10,000-command run,
and a 2,000-command warm-up still left 2.2-5.6 (``broker_cpu_s_by_thread`` shows them).
Counts, calls and CPU are the measured round's only; the exactly-once check covers both.

    python bench/e2e.py [--commands 10000] [--files 100] [--sessions 16] [--warm-up N]
                        [--cold-topics]
                        [--queue-first]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _procs import cpu_seconds, descendants, thread_cpu
from _stats import TimedTransport, percentile
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient
from transform import (
    File,
    bench_settings,
    create_files,
    customer_events,
    end_offsets,
    exit_on_sigterm,
    progress,
    publish,
)

from connectors.kafka import ensure_command_topics
from connectors.sandbox import CompanyFile, SandboxWebConnector
from connectors.store import Store, upgrade
from core.contracts import AvroCodec, EventPublisher, PreparedEvent
from core.messages import SYNC_STATUS
from core.settings import Settings
from qbsync.brokers import running_broker
from qbsync.runtime import Services, prepare_topics, running_services

CALL_TIMEOUT_S = 300.0


@dataclass
class Tally:
    """What the Web Connectors did, summed over every session (guarded by ``lock``)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: int = 0
    idle_polls: int = 0  # sessions that found nothing to do ("none") or the file busy
    calls: Counter[str] = field(default_factory=Counter)
    messages: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    calls_timed: list[tuple[str, float]] = field(default_factory=list)

    @property
    def latencies(self) -> list[float]:
        return [seconds for _, seconds in self.calls_timed]

    def since(self, mark: Tally) -> Tally:
        """What was done after ``mark`` (a :meth:`copy` taken earlier): the measured round
        without the warm-up's sessions and calls."""
        with self.lock:
            calls = Counter(self.calls)
            calls.subtract(mark.calls)
            return Tally(
                sessions=self.sessions - mark.sessions,
                idle_polls=self.idle_polls - mark.idle_polls,
                calls=+calls,
                messages=self.messages - mark.messages,
                requests=self.requests - mark.requests,
                errors=self.errors[len(mark.errors) :],
                calls_timed=self.calls_timed[len(mark.calls_timed) :],
            )

    def copy(self) -> Tally:
        with self.lock:
            return Tally(
                sessions=self.sessions,
                idle_polls=self.idle_polls,
                calls=Counter(self.calls),
                messages=self.messages,
                requests=self.requests,
                errors=list(self.errors),
                calls_timed=list(self.calls_timed),
            )


class WebConnectors:
    """``sessions`` threads taking files in turn, each running one whole Web Connector
    session (``run_once``) per turn. A file leaves the rotation once all its customers are in
    its company file; an idle answer ("none", "busy") makes
    that thread wait ``idle_pause`` before its next turn, like QBWC's schedule."""

    def __init__(
        self,
        url: str,
        files: list[File],
        companies: dict[str, CompanyFile],
        expected: dict[str, int],
        sessions: int,
        idle_pause: float,
    ) -> None:
        self.tally = Tally()
        self._url = url
        self._expected = expected
        self._queue: deque[SandboxWebConnector] = deque()
        self._files: dict[int, str] = {}
        for file in files:
            connector = SandboxWebConnector(
                TimedTransport(
                    url, self.tally.calls_timed, self.tally.lock, timeout=CALL_TIMEOUT_S
                ),
                username=file.username,
                password=file.password,
                company=companies[file.profile_id],
                noop_pause=idle_pause,
            )
            self._files[id(connector)] = file.profile_id
            self._queue.append(connector)
        self._all = list(self._queue)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._idle_pause = idle_pause
        self._threads = [
            threading.Thread(target=self._run, name=f"qbwc-{n}", daemon=True)
            for n in range(sessions)
        ]

    def first_polls(self, threads: int) -> float:
        """Every file polls once ("none": nothing queued yet), ``threads`` at a time; the
        seconds it took. Before the clock, as Web Connectors were polling before the events
        came: a file's first login is one scrypt check (its password), later ones hit the
        gateway's credential cache, so at 100 files the run would otherwise start with
        ~100 scrypt checks (bounded to 2 at once per process) ahead of the first batch."""
        started = time.perf_counter()

        def once(connector: SandboxWebConnector) -> str:
            for _ in range(100):  # "busy": every scrypt slot was taken; QBWC comes back
                answer = connector.run_once().authenticate
                if answer != "busy":
                    break
            connector.close()
            return answer

        with ThreadPoolExecutor(threads) as pool:
            answers = list(pool.map(once, self._all))
        if set(answers) != {"none"}:
            raise RuntimeError(f"first polls answered {Counter(answers)}, not only none")
        return time.perf_counter() - started

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)
        for connector in self._all:
            connector.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                if not self._queue:
                    return
                connector = self._queue.popleft()
            profile_id = self._files[id(connector)]
            try:
                report = connector.run_once()
            except Exception as exc:  # reported in the JSON, never swallowed
                with self.tally.lock:
                    self.tally.errors.append(f"{type(exc).__name__}: {exc}")
                report = None
            # Between scheduled updates QBWC holds no connection: a hundred idle keep-alive
            # connections would reach waitress' connection limit (100) and stall the rest.
            connector.close()
            done = False
            with self.tally.lock:
                self.tally.sessions += 1
                if report is not None:
                    self.tally.calls.update(report.calls)
                    self.tally.messages += report.messages
                    self.tally.requests += report.requests
                    self.tally.errors.extend(report.errors)
            if report is not None:
                # Done once every command is in the company file (requests also count the
                # gateway's own queries, such as list imports, so they are no measure).
                landed = sum(
                    1 for c in connector.company.customers() if c["FullName"].startswith("Bench ")
                )
                done = landed >= self._expected[profile_id]
            with self._lock:
                if not done:
                    self._queue.append(connector)
            if report is None or report.authenticate in ("none", "busy"):
                with self.tally.lock:
                    self.tally.idle_polls += 1
                self._stop.wait(self._idle_pause)


class Observer:
    """When the last command was queued, when the gateway had posted the last result, and
    how many commands the worker has settled. Commands and results are counted by their
    topics' end offsets (no transactions, so an offset is a record), asked in one request
    for every partition; only the status topic is read (a status says SYNCED or not).
    Reading every command and result as well made this script the broker's largest
    client: ~1,000 fetches of 102 partitions in a 10,000-command run."""

    def __init__(self, settings: Settings, command_topics: list[str], *, cold: bool) -> None:
        self._codec = AvroCodec()
        config = settings.kafka.client_config()
        # Cold topics appear during the run: the admin client otherwise keeps calling one
        # it found unknown so until its next metadata refresh (five minutes).
        refresh = {"topic.metadata.refresh.interval.ms": 500} if cold else {}
        self._admin = AdminClient({**config, **refresh})
        self._commands = [TopicPartition(topic, 0) for topic in command_topics]
        self._results = [
            TopicPartition(settings.topics.results, p)
            for p in range(settings.topics.results_partitions)
        ]
        self._consumer = Consumer(
            {
                **config,
                "group.id": f"{settings.topics.prefix}-bench-observer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 50,
            }
        )
        self._consumer.assign(
            [
                TopicPartition(settings.topics.status, p, 0)
                for p in range(settings.topics.results_partitions)
            ]
        )
        self.commands = 0
        self.results = 0
        self.synced = 0
        self.failed = 0

    def poll(self, timeout: float) -> None:
        for message in self._consumer.consume(5000, timeout=timeout):
            if message.error() is not None:
                continue
            _, status = self._codec.decode(message.value() or b"", expected=SYNC_STATUS)
            if status["status"] == "SYNCED":
                self.synced += 1
            else:
                self.failed += 1
        ends = end_offsets(self._admin, [*self._commands, *self._results])
        self.commands = sum(ends.get((tp.topic, tp.partition), 0) for tp in self._commands)
        self.results = sum(ends.get((tp.topic, tp.partition), 0) for tp in self._results)

    def copy(self) -> Counts:
        return Counts(self.commands, self.results, self.synced, self.failed)

    def since(self, base: Counts) -> Counts:
        return Counts(
            self.commands - base.commands,
            self.results - base.results,
            self.synced - base.synced,
            self.failed - base.failed,
        )

    def close(self) -> None:
        self._consumer.close()


@dataclass(frozen=True)
class Counts:
    """What the observer had counted at one moment."""

    commands: int = 0
    results: int = 0
    synced: int = 0
    failed: int = 0


def exactly_once(
    store: Store,
    files: list[File],
    companies: dict[str, CompanyFile],
    names_by_tenant: dict[str, set[str]],
) -> dict[str, Any]:
    """Every published customer in its file once; nothing else added; everything mapped."""
    landed = duplicates = missing = unexpected = unmapped = exact_files = 0
    for file in files:
        (tenant,) = file.tenants
        expected = names_by_tenant.get(tenant, set())
        records = [c for c in companies[file.profile_id].customers() if c["FullName"] in expected]
        others = [
            c
            for c in companies[file.profile_id].customers()
            if c["FullName"].startswith("Bench ") and c["FullName"] not in expected
        ]
        names = Counter(c["FullName"] for c in records)
        mapped = {m.qb_id for m in store.mappings(tenant)}
        file_duplicates = sum(n - 1 for n in names.values())
        file_missing = len(expected - set(names))
        landed += len(records)
        duplicates += file_duplicates
        missing += file_missing
        unexpected += len(others)
        unmapped += sum(1 for c in records if c["ListID"] not in mapped)
        if not (file_duplicates or file_missing or others):
            exact_files += 1
    return {
        "records_expected": sum(len(names) for names in names_by_tenant.values()),
        "records_landed": landed,
        "duplicates": duplicates,
        "missing": missing,
        "unexpected": unexpected,
        "unmapped": unmapped,
        "files_exact": exact_files,
        "exactly_once": not (duplicates or missing or unexpected or unmapped),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.work)
    with running_broker() as broker:
        settings = bench_settings(work, broker, "e2e")
        upgrade(settings.database_url)
        prepare_topics(settings)
        store = Store(settings.database_url)
        progress(f"creating {args.files} profiles (one scrypt hash each)")
        files = create_files(store, args.files, 1, logins=True)
        tenants = [file.tenants[0] for file in files]
        command_topics = [settings.topics.commands(file.profile_id) for file in files]
        provisioned = time.perf_counter()
        if not args.cold_topics:
            # As `qbsync profile create` provisions a file: its command topic with it.
            ensure_command_topics(
                settings.kafka.client_config(),
                settings.topics,
                [file.profile_id for file in files],
                timeout=120,
            )
        publisher = EventPublisher(settings)
        events = customer_events(publisher, tenants, args.commands)
        # The warm-up's customers come after the measured ones' numbers: names stay unique.
        warm_events = customer_events(publisher, tenants, args.warm_up, start=args.commands)
        names_by_tenant: dict[str, set[str]] = {}
        for event in [*events, *warm_events]:
            payload = event.record["customer"]
            names_by_tenant.setdefault(event.tenant_id, set()).add(payload["company_name"])
        expected = {
            file.profile_id: len(names_by_tenant.get(file.tenants[0], ())) for file in files
        }
        companies = {
            file.profile_id: CompanyFile(work / "companies" / f"{file.profile_id}.db")
            for file in files
        }
        observer = Observer(settings, command_topics, cold=args.cold_topics)
        broker_pids = descendants(os.getpid())  # before the services start: the broker's
        # Passed to the gateway by child_env (an environment variable set here was not:
        # child_env's value from these settings won, so until the thirty-first session the
        # gateway ran with the default 8 threads whatever --gateway-threads said).
        settings.gateway.threads = args.gateway_threads
        settings.gateway.processes = args.gateway_processes
        with running_services(settings, work / "logs") as services:
            connectors = WebConnectors(
                f"{services.url}/qbwc",
                files,
                companies,
                expected,
                args.sessions,
                args.idle_pause,
            )
            first_polls_s = connectors.first_polls(args.sessions)
            warm_up_s = warm_up(args, publisher, warm_events, connectors, observer, services)
            base = observer.copy()
            tally_mark = connectors.tally.copy()
            progress(f"services up; publishing {args.commands} events to {args.files} files")
            pids = {
                "worker": [services.worker.process.pid],
                # With several gateway processes, their supervisor and every one of them.
                "gateway": [
                    services.gateway.process.pid,
                    *descendants(services.gateway.process.pid),
                ],
                "broker": broker_pids,
            }
            # No broker pids: a broker this script did not start (not counted).
            cpu_before = {name: cpu_seconds(one) for name, one in pids.items()}
            bench_before = _own_cpu()
            broker_threads_before = _threads(broker_pids)
            started = time.perf_counter()
            topics_age_s = started - provisioned
            queue_only_s = None
            if args.queue_first:
                publish_s = publish(publisher, events)
                queue_only_s = wait_queued(observer, services, args.commands, args.timeout)
                progress(f"all commands queued in {queue_only_s:.1f} s; Web Connectors start")
                connectors.start()
            else:
                if warm_up_s is None:
                    connectors.start()
                publish_s = publish(publisher, events)
            queued_s, results_s, settled_s, complete = wait_settled(
                observer, services, args.commands, started, args.timeout, base
            )
            cpu = {name: cpu_seconds(one) - cpu_before[name] for name, one in pids.items() if one}
            cpu["bench"] = _own_cpu() - bench_before
            broker_threads = _threads(broker_pids, broker_threads_before)
            connectors.stop()
            measured = observer.since(base)
            progress(f"{measured.synced} settled in {settled_s:.1f} s")
            if not complete:
                progress(f"gateway log:\n{services.gateway.log_tail()}")
        observer.close()
        publisher.close()
        check = exactly_once(store, files, companies, names_by_tenant)
        mappings = len(store.mappings())
        store.close()
        for company in companies.values():
            company.close()
        tally = connectors.tally.since(tally_mark)
        calls = sum(tally.calls.values())
        return {
            "bench": "e2e",
            "broker": {"kind": broker.kind, "version": broker.version},
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": settings.database_url.split(":", 1)[0],
            "wsgi_server": f"waitress, {args.gateway_threads} threads",
            "gateway_processes": args.gateway_processes,
            "batch_size": settings.gateway.batch_size,
            "commands": args.commands,
            "files": args.files,
            "web_connector_sessions": args.sessions,
            "complete": complete,
            "settled": measured.synced,
            "failed": measured.failed,
            "mappings": mappings,
            "command_topics": "cold: made by the worker" if args.cold_topics else "provisioned",
            "topics_age_s": None if args.cold_topics else round(topics_age_s, 1),
            "first_polls_s": round(first_polls_s, 3),
            "warm_up": {
                "commands": 0 if warm_up_s is None else args.warm_up,
                "settled_s": None if warm_up_s is None else round(warm_up_s, 3),
            },
            "publish_s": round(publish_s, 3),
            "queue_first": args.queue_first,
            "commands_queued_s": round(queued_s, 3),
            "results_posted_s": round(results_s, 3),
            "elapsed_s": round(settled_s, 3),
            "commands_per_s": round(measured.synced / settled_s, 1),
            # CPU seconds of each process from publishing to the last settlement; "bench":
            # this process (the Web Connectors, their sandbox QuickBooks, the observer).
            "cpu_s": {name: round(seconds, 2) for name, seconds in cpu.items()},
            "cpu_ms_per_command": round(1000 * sum(cpu.values()) / max(1, args.commands), 3),
            "broker_cpu_s_by_thread": broker_threads,
            "soap_calls": calls,
            "soap_calls_by_operation": dict(sorted(tally.calls.items())),
            "soap_call_p50_ms": round(percentile(tally.latencies, 0.5) * 1000, 1),
            "soap_call_p99_ms": round(percentile(tally.latencies, 0.99) * 1000, 1),
            "soap_call_max_ms": round(max(tally.latencies, default=0.0) * 1000, 1),
            "soap_calls_over_30_s": sum(1 for seconds in tally.latencies if seconds > 30),
            "soap_calls_per_command": round(calls / max(1, measured.synced), 3),
            "qbxml_messages": tally.messages,
            "requests_per_message": round(tally.requests / max(1, tally.messages), 2),
            "qbwc_sessions": tally.sessions,
            "qbwc_idle_polls": tally.idle_polls,
            "qbwc_errors": len(tally.errors),
            "qbwc_first_errors": tally.errors[:3],
            **check,
        }


def _own_cpu() -> float:
    """User plus system CPU of this process (all its threads) so far."""
    times = os.times()
    return times.user + times.system


def _threads(pids: list[int], before: dict[str, float] | None = None) -> dict[str, float]:
    """CPU seconds by kind of thread of these processes (the JVM names its threads: the
    JIT's compilers, the garbage collector, Kafka's request handlers ...), less ``before``;
    the eight largest."""
    kinds: dict[str, float] = {}
    for pid in pids:
        for name, seconds in thread_cpu(pid).items():
            kinds[name] = kinds.get(name, 0.0) + seconds - (before or {}).get(name, 0.0)
    if before is None:
        return kinds
    largest = sorted(kinds.items(), key=lambda item: -item[1])[:8]
    return {name: round(seconds, 2) for name, seconds in largest}


def wait_queued(observer: Observer, services: Services, commands: int, timeout: float) -> float:
    """(``--queue-first``) Poll until every command is on its topic, no Web Connector
    running yet: the worker's translate alone. Seconds since the events were published."""
    started = time.perf_counter()
    while observer.commands < commands:
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"{observer.commands} of {commands} commands queued in time")
        services.check_alive()
        observer.poll(0.2)
    return time.perf_counter() - started


def wait_settled(
    observer: Observer,
    services: Services,
    commands: int,
    started: float,
    timeout: float,
    base: Counts | None = None,
) -> tuple[float, float, float, bool]:
    """Poll the topics until every command is settled: seconds until the last command was
    queued, the last result posted, the last command settled; and whether all were.
    ``base``: what was counted before these commands (the warm-up's)."""
    base = base or Counts()
    queued_s = results_s = -1.0
    deadline = started + timeout
    last_report = started
    while (now_counts := observer.since(base)).synced + now_counts.failed < commands:
        now = time.perf_counter()
        if now > deadline:
            return queued_s, results_s, now - started, False
        services.check_alive()
        observer.poll(0.2)
        counts = observer.since(base)
        if queued_s < 0 and counts.commands >= commands:
            queued_s = time.perf_counter() - started
        if results_s < 0 and counts.results >= commands:
            results_s = time.perf_counter() - started
        if now - last_report > 5:
            last_report = now
            progress(
                f"{counts.commands} commands queued, {counts.results} results,"
                f" {counts.synced} settled, {counts.failed} failed"
            )
    settled_s = time.perf_counter() - started
    # The last ones may have arrived in the same poll as the last settlement.
    return (
        settled_s if queued_s < 0 else queued_s,
        settled_s if results_s < 0 else results_s,
        settled_s,
        True,
    )


def warm_up(
    args: argparse.Namespace,
    publisher: EventPublisher,
    events: list[PreparedEvent],
    connectors: WebConnectors,
    observer: Observer,
    services: Services,
) -> float | None:
    """The unmeasured first round (``--warm-up`` commands through the whole pipeline, to
    the same files): a broker just started spends its first seconds of traffic compiling
    (the JVM's JIT: ~2.8 of the broker's 8 CPU-seconds in a cold 10,000-command run), as
    no broker in service does. The Web Connectors keep running into the measured round.
    None: no warm-up (``--warm-up 0``; ``--queue-first`` implies it, its Web Connectors
    must wait for the measured commands)."""
    if not events:
        return None
    started = time.perf_counter()
    progress(f"warm-up: {len(events)} commands")
    connectors.start()
    publish(publisher, events)
    *_, settled_s, complete = wait_settled(observer, services, len(events), started, args.timeout)
    if not complete:
        raise RuntimeError(f"the warm-up's {len(events)} commands did not settle in time")
    return settled_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=10000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=16, help="concurrent Web Connectors")
    parser.add_argument("--gateway-threads", type=int, default=16)
    parser.add_argument("--gateway-processes", type=int, default=1, help="QBSYNC_GATEWAY_PROCESSES")
    parser.add_argument("--idle-pause", type=float, default=0.2, help="seconds")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds")
    parser.add_argument(
        "--warm-up",
        type=int,
        default=None,
        help="commands through the whole pipeline before the measured ones"
        " (default: as many as --commands; 0: none)",
    )
    parser.add_argument(
        "--queue-first",
        action="store_true",
        help="Web Connectors start once every command is queued (the translate alone)",
    )
    parser.add_argument(
        "--cold-topics",
        action="store_true",
        help="no command topics before the events: the worker creates them on first use",
    )
    args = parser.parse_args()
    if args.warm_up is None:
        args.warm_up = args.commands
    if args.queue_first:
        args.warm_up = 0  # its Web Connectors must not run before the measured commands
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        args.work = tmp
        os.chdir(tmp)  # Faust keeps its data directory in the working directory
        report = run(args)
        os.chdir("/")
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
