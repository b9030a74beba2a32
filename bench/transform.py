"""Events -> commands through the real worker, next to a bare Faust pass-through and a plain
confluent-kafka loop: one JSON object on stdout (progress on stderr).

On one broker (see qbsync.brokers) and a SQLite store in a temporary directory
(``--database-url``: another store, e.g. PostgreSQL), ``--files`` profiles (company files)
serving ``--tenants-per-file`` tenants each; three processes in turn, each reading its own
copy of the same ``--events`` customer UPSERTED events:

- ``worker``: the real worker (``qbsync worker``, a child process started exactly as
  ``qbsync run`` starts it) turns them into commands on the files' command topics;
- ``passthrough``: a bare Faust agent (same broker options as the worker's app: raw
  serializers, ``acks=all``) that only forwards every event, key and value unchanged;
- ``librdkafka``: a plain confluent-kafka loop doing the same (consume 500, produce, wait
  for the deliveries, commit).

The events are published before each process starts (the publisher is never the limit), and
the outputs counted by consuming the output topics until all arrived. Rates run from the
first output to the last (start-up and the group join excluded, see ``first_output_s``);
``cpu_s`` is the process' CPU time (all threads, /proc) over the same span; the loop, done in
well under a second, times itself. ``ratio`` is worker / passthrough in events/s,
``cpu_ratio`` the worker's events per CPU-second over each peer's.

    python bench/transform.py [--events 20000] [--files 4] [--tenants-per-file 2]
        [--database-url URL]
    python bench/transform.py --workers 2 [--rounds 2] [--warm-up 4000] [--events ...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from _cpu_limit import CpuLimitError, cpu_limited, probe
from _databases import drop_database, fresh_database
from _procs import cpu_seconds, descendants, machine_busy_seconds
from confluent_kafka import Consumer, ConsumerGroupState, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from pydantic import SecretStr

from connectors.kafka import ensure_topics
from connectors.qbwc import create_profile, hash_password
from connectors.store import Profile, Store, Tenant, upgrade
from core.contracts import EventPublisher, PreparedEvent, customer_event, tenant_partition
from core.processes import ChildProcess, child_process, die_with_parent
from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import child_env, free_port, prepare_topics, use_broker

CUSTOMER_UPSERTED = "customer.upserted"


def exit_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C: children stopped, temporary files removed."""
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))


def progress(message: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {message}\n")
    sys.stderr.flush()


# -- set-up ------------------------------------------------------------------------------


def bench_settings(work: Path, broker: BrokerInfo, name: str) -> Settings:
    """Settings for one run: own data dir (so its own SQLite store, unless a database URL
    is given), topic prefix, worker group, free ports. One store for every run of a script
    made each run's worker create command topics for the earlier runs' files too (it
    learns every profile's topic at once), which misled a CI failure's reading."""
    run = uuid.uuid4().hex[:6]
    data_dir = work / f"{name}-{run}"
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir)
    use_broker(settings, broker)
    settings.topics.prefix = f"bench-{name}-{run}"
    settings.worker.app_id = f"bench-{name}-{run}"
    settings.worker.web_port = free_port()
    settings.gateway.port = free_port()
    # Commands only, comparable with the numbers taken before list imports existed (an
    # import is a once-per-interval cost per file, not per command).
    settings.gateway.imports = ""
    return settings


@dataclass(frozen=True)
class File:
    """A profile (company file) and the tenants it serves; ``password`` is empty when the
    profile was created without a usable password (no Web Connector will log in)."""

    profile_id: str
    username: str
    password: str
    tenants: tuple[str, ...]


def create_files(
    store: Store,
    count: int,
    tenants_per_file: int,
    *,
    logins: bool,
    label: str = "f",
    spread: int = 0,
) -> list[File]:
    """``count`` profiles with their tenants. With ``logins``, through ``create_profile`` (a
    real password, one scrypt hash each); without, with one shared unusable hash, since
    thousands of scrypt runs would dominate the set-up of a worker-only benchmark.
    ``spread`` > 1: tenant ids chosen so that as many land on each of that many partitions
    of ``events`` (:func:`balanced_tenant`)."""
    files = []
    shared_hash = "" if logins else hash_password(uuid.uuid4().hex)
    now = datetime.now(UTC)
    for index in range(count):
        tenants = tuple(
            balanced_tenant(f"{label}{index}-t{t}", index * tenants_per_file + t, spread)
            for t in range(tenants_per_file)
        )
        if logins:
            created = create_profile(store, name=f"{label}{index}", tenants=list(tenants))
            files.append(
                File(
                    created.profile.id,
                    created.profile.username,
                    created.password,
                    tenants,
                )
            )
            continue
        profile_id = uuid.uuid4().hex
        store.add_profile(
            Profile(
                id=profile_id,
                name=f"{label}{index}",
                username=f"bench-{profile_id[:12]}",
                password_hash=shared_hash,
                owner_id=f"{{{uuid.uuid4()}}}",
                file_id=f"{{{uuid.uuid4()}}}",
                company_file="",
                enabled=True,
                created_at=now,
            )
        )
        for tenant_id in tenants:
            store.add_tenant(
                Tenant(
                    id=tenant_id, name=tenant_id, profile_id=profile_id, settings={}, created_at=now
                )
            )
        files.append(File(profile_id, "", "", tenants))
    return files


def balanced_tenant(name: str, number: int, partitions: int) -> str:
    """``name``, or ``name`` with a suffix, such that the event publisher (Kafka's murmur2
    of the key, the tenant id: ``tenant_partition``) puts its events on partition
    ``number % partitions``: each partition of a scale run gets the same share of events
    whatever the counts and names (``events_per_partition`` in the report shows it)."""
    if partitions < 2:
        return name
    for suffix in range(10_000):
        candidate = f"{name}-{suffix}"
        if tenant_partition(candidate, partitions) == number % partitions:
            return candidate
    raise AssertionError("unreachable: murmur2 spreads over any small partition count")


def customer_events(
    publisher: EventPublisher, tenants: Sequence[str], count: int, *, start: int = 0
) -> list[PreparedEvent]:
    """``count`` validated, encoded customer UPSERTED events, round-robin over ``tenants``;
    each a new customer whose name is unique within its company file."""
    prepared = []
    for index in range(start, start + count):
        tenant = tenants[index % len(tenants)]
        # QuickBooks' 41 characters: a long run name in the tenant's id made "Bench <tenant>
        # <index>" too long past index 100,000, and every such event was dead-lettered.
        customer = {"company_name": f"Bench {index}", "phone": f"555-{index % 10000:04d}"}
        event = customer_event(tenant, f"C-{index}", customer, source_system="bench")
        prepared.append(publisher.prepare(CUSTOMER_UPSERTED, event))
    return prepared


def publish(publisher: EventPublisher, prepared: Sequence[PreparedEvent]) -> float:
    """Send everything, wait for the broker's acknowledgements; the seconds it took."""
    started = time.perf_counter()
    for event in prepared:
        publisher.send(event)
    publisher.flush(120)
    return time.perf_counter() - started


class OutputCounter:
    """Counts the records on a set of single- or multi-partition topics, from their start
    (each run's topics are its own, made empty).

    ``by="offsets"`` (the default): by the topics' end offsets, one ``ListOffsets`` request
    for every partition each 50 ms (nothing here writes transactionally, so an offset is a
    record); ``by="consume"``: by reading every record, as this counter did until the
    sixteenth session: a client reading every output the worker writes, on the same two
    cores, that the measured processes paid for in broker and CPU time."""

    def __init__(
        self,
        settings: Settings,
        topics: dict[str, int],
        by: Literal["offsets", "consume"] = "offsets",
    ) -> None:
        self._partitions = [
            TopicPartition(topic, partition, 0)
            for topic, partitions in topics.items()
            for partition in range(partitions)
        ]
        self._consumer: Consumer | None = None
        self._admin: AdminClient | None = None
        if by == "consume":
            self._consumer = Consumer(
                {
                    **settings.kafka.client_config(),
                    "group.id": f"bench-count-{uuid.uuid4().hex}",
                    "enable.auto.commit": False,
                    "auto.offset.reset": "earliest",
                    "fetch.wait.max.ms": 20,
                }
            )
            self._consumer.assign(self._partitions)
        else:
            # A topic made during the run (the worker makes a file's topic on first use)
            # is otherwise taken for unknown until the next metadata refresh (5 minutes).
            self._admin = AdminClient(
                {**settings.kafka.client_config(), "topic.metadata.refresh.interval.ms": 500}
            )
        self._pause = threading.Event()  # never set: a pause between offset requests
        self.count = 0
        self.per_topic: dict[str, int] = {}

    def wait_for(
        self, target: int, *, timeout_s: float, alive: Callable[[], None] | None = None
    ) -> bool:
        """Count until ``target`` records have been counted in all; False on timeout."""
        deadline = time.monotonic() + timeout_s
        last_check = 0.0
        while self.count < target:
            now = time.monotonic()
            if now > deadline:
                return False
            if alive is not None and now - last_check > 1.0:
                alive()
                last_check = now
            if self._consumer is not None:
                self._consume()
            else:
                self._ends()
                if self.count < target:
                    self._pause.wait(0.05)
        return True

    def _consume(self) -> None:
        assert self._consumer is not None
        for message in self._consumer.consume(5000, timeout=0.2):
            if message.error() is None:
                self.count += 1
                topic = message.topic() or ""
                self.per_topic[topic] = self.per_topic.get(topic, 0) + 1

    def _ends(self) -> None:
        assert self._admin is not None
        per_topic: dict[str, int] = {}
        for (topic, _), end in end_offsets(self._admin, self._partitions).items():
            per_topic[topic] = per_topic.get(topic, 0) + end
        self.per_topic = per_topic
        self.count = sum(per_topic.values())

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()


# -- the two processes -------------------------------------------------------------------


@contextmanager
def running_worker(settings: Settings, work: Path) -> Iterator[ChildProcess]:
    """``qbsync worker`` as a child process, as ``qbsync run`` and the tests start it."""
    with child_process("worker", ["worker"], env=child_env(settings), log_dir=work / "logs") as w:
        yield w


class Forwarder:
    """The bare Faust pass-through as a child process (this file, ``--forward``)."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path) -> None:
        self.process = process
        self.log_path = log_path

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace").splitlines()[-20:]
            raise RuntimeError("the pass-through exited:\n" + "\n".join(tail))


@contextmanager
def running_forwarder(
    settings: Settings, work: Path, source: str, sink: str, mode: str = "--forward"
) -> Iterator[Forwarder]:
    log_path = work / "logs" / f"peer{mode}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        **child_env(settings),
        "BENCH_FORWARD_SOURCE": source,
        "BENCH_FORWARD_SINK": sink,
        "BENCH_FORWARD_PARTITIONS": str(settings.topics.events_partitions),
        "BENCH_LOOP_REPORT": str(work / "loop.json"),
    }
    with log_path.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), mode],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )
    try:
        yield Forwarder(process, log_path)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def forward_main() -> None:
    """The pass-through's process: a Faust app with the worker's broker options and one agent
    that sends every event on, unchanged."""
    import faust

    settings = Settings()
    source = os.environ["BENCH_FORWARD_SOURCE"]
    sink = os.environ["BENCH_FORWARD_SINK"]
    partitions = int(os.environ["BENCH_FORWARD_PARTITIONS"])
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka.bootstrap_servers.split(",")]
    app = faust.App(
        settings.worker.app_id,
        broker=brokers,
        store="memory://",
        value_serializer="raw",
        key_serializer="raw",
        web_enabled=False,
        topic_replication_factor=1,
        topic_allow_declare=True,
        autodiscover=False,
        producer_acks=-1,
        broker_session_timeout=settings.worker.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.worker.session_timeout_s / 3),
    )
    events = app.topic(source, partitions=partitions)
    out = app.topic(sink, partitions=partitions)

    @app.agent(events)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            await out.send(key=event.message.key, value=event.message.value)

    faust.Worker(app, loglevel="WARNING", quiet=True).execute_from_commandline()


# -- the plain librdkafka loop -----------------------------------------------------------


def loop_main() -> None:
    """The peer without a framework: one confluent-kafka consumer and producer, batches of
    500 consumed, produced, delivery reports awaited, offsets committed (at-least-once)."""
    from confluent_kafka import Producer

    settings = Settings()
    source = os.environ["BENCH_FORWARD_SOURCE"]
    sink = os.environ["BENCH_FORWARD_SINK"]
    client = settings.kafka.client_config()
    consumer = Consumer(
        {
            **client,
            "group.id": settings.worker.app_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({**client, "acks": "all", "enable.idempotence": True, "linger.ms": 5})
    consumer.subscribe([source])
    stop = False

    def on_term(_signum: int, _frame: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    # Its own clock: it is done before a reader outside could sample its CPU time twice.
    count, first, last = 0, (0.0, 0.0), (0.0, 0.0)
    while not stop:
        messages = consumer.consume(500, timeout=0.2)
        if messages and not count:
            first = (time.perf_counter(), time.process_time())
        for message in messages:
            if message.error() is None:
                producer.produce(sink, value=message.value(), key=message.key())
                count += 1
        if messages:
            if producer.flush(30):
                raise RuntimeError("deliveries not acknowledged")
            consumer.commit(asynchronous=True)
            last = (time.perf_counter(), time.process_time())
    report = {"events": count, "wall_s": last[0] - first[0], "cpu_s": last[1] - first[1]}
    Path(os.environ["BENCH_LOOP_REPORT"]).write_text(json.dumps(report))
    consumer.close()


# -- a measured pass ----------------------------------------------------------------------


def measure(
    name: str,
    events: Sequence[PreparedEvent],
    publisher: EventPublisher,
    counter: OutputCounter,
    start: Callable[[], AbstractContextManager[tuple[int | list[int], Callable[[], None]]]],
    *,
    timeout_s: float,
    joined: Callable[[], bool] | None = None,
    others: dict[str, list[int]] | None = None,
    warm_up: Sequence[PreparedEvent] = (),
) -> dict[str, Any]:
    """Pre-publish ``events``, then start the consumer process(es). Rates are taken from the
    first output to the last (start-up excluded; ``first_output_s`` shows it), CPU from
    /proc over the same span (summed over the processes).

    With ``joined`` (the scale runs), the processes start first and ``events`` are
    published once ``joined`` says every one of them holds its partitions: pre-published,
    the first worker to join read both partitions alone until the second had joined
    (~27,000 of 100,000 events, taken unevenly from the two), so the two-worker span began
    with one partition's worker holding more of the rest than the other and ended with one
    worker idle: 1.47-1.61x in runs where that happened, 1.92x in one where the second
    joined at once. Published after the join, each worker starts with its own partition's
    half. The publisher writes several times as fast as the workers read (``publish_s``),
    so it is not what limits them.

    ``warm_up`` (the scale runs): events published and turned into outputs once the group
    has joined, before the measured ones are published. Each worker recovers its table
    partition and starts its agents in its own time after the join: without it, one of
    two workers began its first batch 0.9 s after the other in a 5 s span, and a span
    that starts with one worker and ends with the other measures their start-up, not
    their rate; each agent's first batches are small (``streams._feed.ramp``) too."""
    if joined is None:
        publish_s = publish(publisher, events)
        progress(f"{name}: {len(events)} events published in {publish_s:.1f} s; starting")
    started = time.perf_counter()
    with start() as (pid, alive):
        pids = pid if isinstance(pid, list) else [pid]
        if joined is not None:
            _wait_joined(name, joined, alive)
            if warm_up:
                publish(publisher, warm_up)
                if not counter.wait_for(len(warm_up), timeout_s=180, alive=alive):
                    raise RuntimeError(
                        f"{name}: {counter.count} of the warm-up's {len(warm_up)} outputs"
                        f" arrived in 180 s ({counter.per_topic})"
                    )
                progress(f"{name}: {len(warm_up)} warm-up events turned into outputs")
            publish_s = publish(publisher, events)
            progress(f"{name}: the group holds every partition; {len(events)} events published")
        base = len(warm_up)
        if not counter.wait_for(base + 1, timeout_s=180, alive=alive):
            raise RuntimeError(f"{name}: no output within 180 s")
        first_at, first_count = time.perf_counter(), counter.count
        first_cpu = cpu_seconds(pids)
        others_first = _others_cpu(others)
        arrived = counter.wait_for(base + len(events), timeout_s=timeout_s, alive=alive)
        last_at, last_cpu = time.perf_counter(), cpu_seconds(pids)
        others_cpu = {
            name: round(seconds - others_first[name], 2)
            for name, seconds in _others_cpu(others).items()
        }
    outputs = counter.count - base
    span_s = last_at - first_at
    cpu_s = last_cpu - first_cpu
    measured = counter.count - first_count
    progress(f"{name}: {outputs} outputs, {measured} in {span_s:.1f} s, {cpu_s:.1f} CPU-s")
    return {
        "events": len(events),
        "warm_up_events": base,
        "outputs": outputs,
        "complete": arrived,
        "publish_s": round(publish_s, 3),
        "first_output_s": round(first_at - started, 2),
        "measured_outputs": measured,
        "elapsed_s": round(span_s, 3),
        "cpu_s": round(cpu_s, 3),
        "events_per_s": round(measured / span_s, 1) if span_s > 0 else 0.0,
        "events_per_cpu_s": round(measured / cpu_s, 1) if cpu_s > 0 else 0.0,
        # Over the same span: the broker's CPU (when this script started it), this
        # process's own (the counter, the publisher's idle client), and the whole
        # machine's (every core, the database server included).
        **({} if others is None else {"other_cpu_s": others_cpu}),
    }


def _wait_joined(name: str, joined: Callable[[], bool], alive: Callable[[], None]) -> None:
    """Until the group is stable with every process holding its partitions (asked of the
    broker every 0.2 s; the processes checked alive meanwhile)."""
    deadline = time.perf_counter() + 180
    pause = threading.Event()  # never set: the interval between two questions
    while not joined():
        alive()
        if time.perf_counter() > deadline:
            raise RuntimeError(f"{name}: the group did not settle within 180 s")
        pause.wait(0.2)


def _others_cpu(others: dict[str, list[int]] | None) -> dict[str, float]:
    """CPU seconds so far of each named group of processes, and of this one (``bench``)."""
    if others is None:
        return {}
    times = os.times()
    found = {name: cpu_seconds(pids) for name, pids in others.items()}
    return {**found, "bench": times.user + times.system, "machine": machine_busy_seconds()}


def prepare_run(
    args: argparse.Namespace, work: Path, broker: BrokerInfo, name: str, partitions: int = 0
) -> tuple[Settings, list[File], list[str], dict[str, int]]:
    """One run's settings, store, files and their tenants, and command topics (created)."""
    settings = bench_settings(work, broker, name)
    if partitions:
        settings.topics.events_partitions = settings.topics.results_partitions = partitions
    if args.database_url:
        # A database of the run's own (dropped by ``main``): see bench/_databases.py.
        own = fresh_database(args.database_url)
        args.made_databases.append(own)
        settings.database.url = SecretStr(own)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    # Tenant ids of their own: a shared database keeps earlier runs' tenants.
    label = f"{settings.topics.prefix}-f"
    files = create_files(
        store, args.files, args.tenants_per_file, logins=False, label=label, spread=partitions
    )
    store.close()
    tenants = [tenant for file in files for tenant in file.tenants]
    command_topics = {settings.topics.commands(file.profile_id): 1 for file in files}
    ensure_topics(settings.kafka.client_config(), command_topics)
    return settings, files, tenants, command_topics


@contextmanager
def work_dir(keep_logs: Path | None) -> Iterator[Path]:
    """The run's temporary directory; with ``--keep-logs DIR`` its processes' logs are
    copied to DIR at the end, however the run ended (a stalled run's most of all)."""
    with tempfile.TemporaryDirectory(prefix="bench-transform-") as tmp:
        work = Path(tmp)
        try:
            yield work
        finally:
            if keep_logs is not None and (work / "logs").is_dir():
                shutil.copytree(work / "logs", keep_logs, dirs_exist_ok=True)


def scale_main(args: argparse.Namespace) -> None:
    """``--workers N``: one worker and N worker processes in one group, in turn, each run
    reading its own copy of the same events from an ``events`` topic of N partitions, as
    many on each (:func:`balanced_tenant`). Each run's events are published once the group
    is stable with every worker holding its partitions (:func:`group_joined`, see
    :func:`measure`): joins and rebalances are start-up, and every worker starts with its
    own share.

    ``--rounds R`` runs both R times in ABBA order (1, N, then N, 1, ...): one run's rate
    moved by a third from one run to the next on this shared machine (9,400-12,800 events/s
    for the same single worker in three runs), more than the effect measured, so a ratio
    of one run of each is noise as much as scaling. ``speedup`` is over the runs' sums (all
    outputs over all spans), ``speedups`` each round's own."""
    workers = args.workers
    with work_dir(args.keep_logs) as work, running_broker() as broker:
        os.chdir(work)
        broker_pids = descendants(os.getpid())  # before any worker starts: the broker's
        runs: list[dict[str, Any]] = []
        for round_ in range(args.rounds):
            order = (1, workers) if round_ % 2 == 0 else (workers, 1)
            for count in order:
                figures, settings = scale_run(args, work, broker, count, f"r{round_}", broker_pids)
                runs.append({"workers": count, "round": round_, **figures})
        one = _pooled([run for run in runs if run["workers"] == 1])
        many = _pooled([run for run in runs if run["workers"] == workers])
        speedups = []
        for round_ in range(args.rounds):
            pair = {run["workers"]: run for run in runs if run["round"] == round_}
            speedups.append(_ratio(pair[workers]["events_per_s"], pair[1]["events_per_s"]))
        report = {
            **report_head("transform-scale", broker, settings),
            "events_partitions": workers,
            "files": args.files,
            "tenants": args.files * args.tenants_per_file,
            "rounds": args.rounds,
            "worker_cpus": args.worker_cpus or None,
            "workers": {"1": one, str(workers): many},
            "speedup": _ratio(many["events_per_s"], one["events_per_s"]),
            "speedups": speedups,
            "cpu_ratio": _ratio(many["events_per_cpu_s"], one["events_per_cpu_s"]),
            "runs": runs,
        }
        print(json.dumps(report))


def scale_run(
    args: argparse.Namespace,
    work: Path,
    broker: BrokerInfo,
    count: int,
    tag: str,
    broker_pids: list[int],
) -> tuple[dict[str, Any], Settings]:
    """One run of ``count`` workers on topics of its own: :func:`measure`'s figures and
    the events each partition of ``events`` received (the warm-up's included)."""
    workers = args.workers
    settings, _files, tenants, command_topics = prepare_run(
        args, work, broker, f"scale{count}{tag}", workers
    )
    publisher = EventPublisher(settings)
    events = customer_events(publisher, tenants, args.events)
    # Warm-up customers come after the measured ones' numbers: names stay unique.
    warm = customer_events(publisher, tenants, args.warm_up, start=args.events)

    @contextmanager
    def group() -> Iterator[tuple[list[int], Callable[[], None]]]:
        with ExitStack() as stack:
            started = []
            for index in range(count):
                own = settings.model_copy(deep=True)
                own.worker.web_port = free_port()
                worker = stack.enter_context(
                    child_process(
                        f"worker-{count}{tag}-{index}",
                        ["worker"],
                        env=child_env(own),
                        log_dir=work / "logs",
                    )
                )
                if args.worker_cpus:
                    # Before the join: the warm-up and the measured span run limited.
                    stack.enter_context(
                        cpu_limited(worker.process.pid, args.worker_cpus, f"{count}{tag}{index}")
                    )
                started.append(worker)

            def alive() -> None:
                for worker in started:
                    if not worker.alive():
                        raise RuntimeError(f"a worker exited:\n{worker.log_tail(400)}")

            try:
                yield [worker.process.pid for worker in started], alive
            except RuntimeError as exc:  # a run that did not finish: what the workers said
                tails = "\n".join(f"--- {w.name}:\n{w.log_tail(4000)}" for w in started)
                raise RuntimeError(f"{exc}\n{tails}") from exc

    counter = OutputCounter(settings, command_topics, args.count_by)
    name = f"{count} worker" + ("s" if count > 1 else "") + f" ({tag})"
    try:
        figures = measure(
            name,
            events,
            publisher,
            counter,
            group,
            timeout_s=args.timeout,
            joined=group_joined(settings, count),
            others={"broker": broker_pids},
            warm_up=warm,
        )
        figures["events_per_partition"] = partition_ends(settings, settings.topics.events, workers)
    finally:
        counter.close()
        publisher.close()
    return figures, settings


def _pooled(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Runs of one worker count as one: all their outputs over all their spans."""
    measured = sum(run["measured_outputs"] for run in runs)
    span = sum(run["elapsed_s"] for run in runs)
    cpu = sum(run["cpu_s"] for run in runs)
    others: dict[str, float] = {}
    for run in runs:
        for name, seconds in run["other_cpu_s"].items():
            others[name] = round(others.get(name, 0.0) + seconds, 2)
    return {
        "runs": len(runs),
        "complete": all(run["complete"] for run in runs),
        "measured_outputs": measured,
        "elapsed_s": round(span, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(measured / span, 1) if span > 0 else 0.0,
        "events_per_cpu_s": round(measured / cpu, 1) if cpu > 0 else 0.0,
        "other_cpu_s": others,
    }


def end_offsets(
    admin: AdminClient, partitions: Sequence[TopicPartition]
) -> dict[tuple[str, int], int]:
    """Each partition's end offset, by ``(topic, partition)``, in one request: the records
    written so far (nothing here writes transactionally, so an offset is a record). A
    partition whose topic is not there yet is left out."""
    asked = admin.list_offsets(
        {TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in partitions},
        request_timeout=10,
    )
    ends: dict[tuple[str, int], int] = {}
    for tp, future in asked.items():
        try:
            ends[(tp.topic or "", tp.partition)] = future.result().offset
        except KafkaException:
            continue
    return ends


def partition_ends(settings: Settings, topic: str, partitions: int) -> list[int]:
    """The end offset of each of ``topic``'s partitions, in partition order."""
    ends = end_offsets(
        AdminClient(dict(settings.kafka.client_config())),
        [TopicPartition(topic, p) for p in range(partitions)],
    )
    return [ends[(topic, p)] for p in range(partitions)]


def group_joined(settings: Settings, count: int) -> Callable[[], bool]:
    """Whether the worker group is stable with ``count`` members, each holding a partition
    of ``events`` (after that, no rebalance moves work between them)."""
    admin = AdminClient(dict(settings.kafka.client_config()))
    events = settings.topics.events

    def joined() -> bool:
        (future,) = admin.describe_consumer_groups(
            [settings.worker.app_id], request_timeout=5
        ).values()
        try:
            group = future.result()
        except KafkaException:
            return False
        if group.state != ConsumerGroupState.STABLE or len(group.members) != count:
            return False
        return all(
            any(tp.topic == events for tp in member.assignment.topic_partitions)
            for member in group.members
        )

    return joined


def report_head(bench: str, broker: BrokerInfo, settings: Settings) -> dict[str, Any]:
    """What every report starts with: the bench, the broker, the machine, the store."""
    return {
        "bench": bench,
        "broker": {"kind": broker.kind, "version": broker.version},
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "database": settings.database_url.split(":", 1)[0].split("+", 1)[0],
    }


def _ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000, help="events per side")
    parser.add_argument("--files", type=int, default=4, help="profiles (company files)")
    parser.add_argument("--tenants-per-file", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0, help="per side, seconds")
    parser.add_argument(
        "--database-url",
        default="",
        help="the worker's store (e.g. a PostgreSQL URL); default: SQLite in a temporary dir",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="N > 1: one worker, then N in one group on N partitions of events (no peers)",
    )
    parser.add_argument(
        "--count-by",
        choices=("offsets", "consume"),
        default="offsets",
        help="how outputs are counted: the topics' end offsets, or reading every record",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="--workers N > 1: one worker and N workers this many times each, ABBA order",
    )
    parser.add_argument(
        "--warm-up",
        type=int,
        default=4000,
        help="--workers N > 1: events turned into outputs before each run's measured ones",
    )
    parser.add_argument(
        "--worker-cpus",
        type=float,
        default=0.0,
        metavar="CORES",
        help="--workers N > 1: limit every worker to CORES (a cgroup CPU quota, as a pod's"
        " CPU limit; needs root), so one and N workers get the same CPU each",
    )
    parser.add_argument("--forward", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--keep-logs",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy the workers' (and peers') logs to DIR at the end of the run",
    )
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keep_logs is not None:
        args.keep_logs = args.keep_logs.resolve()  # before the run changes directory
    if args.forward:
        forward_main()
        return
    if args.loop:
        loop_main()
        return
    if args.rounds < 1:
        parser.error(f"--rounds {args.rounds}: at least one round")
    if args.worker_cpus and args.workers < 2:
        parser.error("--worker-cpus applies to the scale runs: give --workers N (N > 1) too")
    if args.worker_cpus:
        try:
            probe(args.worker_cpus)
        except CpuLimitError as exc:
            parser.error(str(exc))
    exit_on_sigterm()
    args.made_databases = []
    try:
        if args.workers > 1:
            scale_main(args)
        else:
            compare_main(args)
    finally:
        for url in args.made_databases:
            drop_database(url, args.database_url)


def compare_main(args: argparse.Namespace) -> None:
    """The worker, the bare Faust pass-through and the plain loop, in one run."""

    with work_dir(args.keep_logs) as work, running_broker() as broker:
        os.chdir(work)  # Faust keeps its data directory in the working directory
        settings, files, tenants, command_topics = prepare_run(args, work, broker, "transform")
        publisher = EventPublisher(settings)
        events = customer_events(publisher, tenants, args.events)

        @contextmanager
        def worker_side() -> Iterator[tuple[int, Callable[[], None]]]:
            with running_worker(settings, work) as worker:

                def alive() -> None:
                    if not worker.alive():
                        raise RuntimeError(f"the worker exited:\n{worker.log_tail(400)}")

                yield worker.process.pid, alive

        counter = OutputCounter(settings, command_topics, args.count_by)
        real = measure("worker", events, publisher, counter, worker_side, timeout_s=args.timeout)
        counter.close()
        publisher.close()

        # The peers read their own copy of the same events from an events topic of their
        # own (same partition count) and write them to one topic.
        peers = {}
        for name, mode in (("passthrough", "--forward"), ("librdkafka", "--loop")):
            peer_settings = settings.model_copy(deep=True)
            peer_settings.topics.prefix = f"{settings.topics.prefix}-{name}"
            peer_settings.worker.app_id = f"{settings.worker.app_id}-{name}"
            source = peer_settings.topics.events
            sink = f"{peer_settings.topics.prefix}.out"
            partitions = settings.topics.events_partitions
            ensure_topics(settings.kafka.client_config(), {source: partitions, sink: partitions})
            publisher = EventPublisher(peer_settings)
            counter = OutputCounter(settings, {sink: partitions}, args.count_by)

            @contextmanager
            def peer_side(
                mode: str = mode,
                peer: Settings = peer_settings,
                source: str = source,
                sink: str = sink,
            ) -> Iterator[tuple[int, Callable[[], None]]]:
                with running_forwarder(peer, work, source, sink, mode) as forwarder:
                    yield forwarder.process.pid, forwarder.check_alive

            peers[name] = measure(
                name, events, publisher, counter, peer_side, timeout_s=args.timeout
            )
            counter.close()
            publisher.close()

        bare, loop = peers["passthrough"], peers["librdkafka"]
        # The loop's own account: from its first batch consumed to its last delivered.
        own = json.loads((work / "loop.json").read_text())
        loop["measured_outputs"] = own["events"]
        loop["elapsed_s"] = round(own["wall_s"], 3)
        loop["cpu_s"] = round(own["cpu_s"], 3)
        loop["events_per_s"] = round(own["events"] / own["wall_s"], 1) if own["wall_s"] else 0.0
        loop["events_per_cpu_s"] = round(own["events"] / own["cpu_s"], 1) if own["cpu_s"] else 0.0
        report = {
            **report_head("transform", broker, settings),
            "files": len(files),
            "tenants": len(tenants),
            "events_partitions": settings.topics.events_partitions,
            "batch_size": settings.worker.batch_size,
            "worker": real,
            "passthrough": bare,
            "librdkafka": loop,
            "ratio": _ratio(real["events_per_s"], bare["events_per_s"]),
            "cpu_ratio": {
                "passthrough": _ratio(real["events_per_cpu_s"], bare["events_per_cpu_s"]),
                "librdkafka": _ratio(real["events_per_cpu_s"], loop["events_per_cpu_s"]),
            },
        }
        sys.stdout.write(json.dumps(report) + "\n")
        os.chdir("/")


if __name__ == "__main__":
    main()
