"""A worker's cold start over many company files and a backlog: one JSON object on stdout
(progress on stderr).

Set-up, on one broker (see qbsync.brokers) and a fresh SQLite store: ``--files`` profiles
(one tenant each) whose command topics exist and already hold data, as in production (each
written once, then ``--settle-s`` seconds); then a backlog of ``--events`` customer UPSERTED
events on ``events``, spread round-robin over the files. Then, one after the other over the
same backlog, each in a consumer group of its own:

- ``bare``: a plain confluent-kafka loop in this process (no framework, no translation):
  joins its group, consumes the backlog in batches of 500 and produces each event to its
  file's command topic (idempotent, ``acks=all``), delivery reports awaited per batch;
- ``worker``: ``qbsync worker`` started as a child process (imports, ``prepare_topics``,
  Faust's start, the group join, learning the command topics, then translating).

For each: seconds from its start until the first command was on a command topic, until every
file had one (``every_file_s``), until the whole backlog had gone through (``all_s``), and
events/s from the first command to the last. A pass is cut after ``--pass-s`` seconds
(``complete`` false; ``all_s`` and the rate are then those of the commands that arrived);
a worker whose pass is cut is asked what it is doing first (``diagnosis``: its ``/readyz``,
its message counters and its threads' stacks).
``--py-spy PATH`` records the worker (raw collapsed stacks, ``--py-spy-s`` seconds from its
start) for the profile of its start.

    python bench/cold_start.py [--files 5000] [--events 100000] [--settle-s 0] [--pass-s 900]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec
from transform import (
    bench_settings,
    create_files,
    customer_events,
    exit_on_sigterm,
    progress,
    publish,
    running_worker,
)

from connectors.kafka import TopicSpec, ensure_topics
from connectors.store import Store, upgrade
from core.contracts import EventPublisher
from core.processes import ChildProcess
from core.settings import Settings
from qbsync.brokers import running_broker
from qbsync.runtime import prepare_topics

CREATE_CHUNK = 500  # topics per CreateTopics request
# ListOffsets answers while a broker still settles thousands of new topics' leaders (or,
# on a loaded machine, has not yet applied their creation to the metadata it answers from:
# seen once after all 5,000 had been written to).
SETTLING = {
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._NOENT,  # the admin client's "No leaders found" for the same state
}


def producer_config(settings: Settings) -> dict[str, Any]:
    """librdkafka producer options as the worker's own producer's."""
    return {**settings.kafka.client_config(), "acks": "all", "enable.idempotence": True}


def write_once(settings: Settings, names: Sequence[str]) -> float:
    """One record on partition 0 of every topic (what production's topics hold already)."""
    started = time.perf_counter()
    producer = Producer({**producer_config(settings), "linger.ms": 5})
    for name in names:
        producer.produce(name, b"set-up", b"set-up", 0)
        producer.poll(0)
    if producer.flush(600):
        raise RuntimeError("set-up records not acknowledged")
    return time.perf_counter() - started


def end_offsets(settings: Settings, names: Sequence[str]) -> dict[str, int]:
    """Each single-partition topic's end offset: one ListOffsets request, asked again for
    the topics a broker still settling their leaders could not answer yet."""
    # A slow read, as on a loaded machine (tests/bench: a pass starts only after it).
    time.sleep(float(os.environ.get("BENCH_COLD_OFFSETS_DELAY_S", "0")))
    admin = AdminClient(settings.kafka.client_config())
    found: dict[str, int] = {}
    for _attempt in range(30):  # a broker still settling thousands of new topics' leaders
        wanted = [name for name in names if name not in found]
        if not wanted:
            break
        futures = admin.list_offsets(
            {TopicPartition(name, 0): OffsetSpec.latest() for name in wanted}, request_timeout=120
        )
        for tp, future in futures.items():
            try:
                found[tp.topic] = future.result().offset
            except KafkaException as exc:
                if not exc.args[0].retriable() and exc.args[0].code() not in SETTLING:
                    raise
        time.sleep(0.5 if len(found) < len(names) else 0)
    if len(found) < len(names):
        raise RuntimeError(f"no end offset for {len(names) - len(found)} topics")
    return found


class Arrivals:
    """Reads the command topics from given offsets: when the first record arrived, when
    every topic had one, and how many arrived (times from ``started``)."""

    def __init__(self, settings: Settings, offsets: dict[str, int]) -> None:
        self._consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"{settings.topics.prefix}-cold-arrivals",
                "enable.auto.commit": False,
                # Not every 20 ms over thousands of partitions: this reader would then be
                # a good part of the broker's load (times are to within ~0.3 s).
                "fetch.wait.max.ms": 250,
            }
        )
        self._consumer.assign([TopicPartition(name, 0, offset) for name, offset in offsets.items()])
        self._topics = len(offsets)
        self.count = 0
        self.seen: set[str] = set()
        self.first_s = self.every_file_s = self.last_s = -1.0

    def wait_for(
        self, target: int, started: float, timeout_s: float, alive: Callable[[], None]
    ) -> bool:
        deadline = time.monotonic() + timeout_s
        checked = 0.0
        while self.count < target:
            now = time.monotonic()
            if now > deadline:
                return False
            if now - checked > 1.0:
                alive()
                checked = now
            messages = self._consumer.consume(5000, timeout=0.1)
            at = time.perf_counter() - started
            for message in messages:
                if message.error() is not None:
                    continue
                self.count += 1
                self.seen.add(message.topic() or "")
            if messages and self.count:
                self.last_s = at
                if self.first_s < 0:
                    self.first_s = at
                if self.every_file_s < 0 and len(self.seen) == self._topics:
                    self.every_file_s = at
        return True

    def close(self) -> None:
        self._consumer.close()


def figures(arrivals: Arrivals, events: int, complete: bool) -> dict[str, Any]:
    span = arrivals.last_s - arrivals.first_s
    return {
        "complete": complete,
        "commands": arrivals.count,
        "first_command_s": round(arrivals.first_s, 2),
        "every_file_s": round(arrivals.every_file_s, 2),
        "files_reached": len(arrivals.seen),
        "all_s": round(arrivals.last_s, 2),
        "events_per_s": round((arrivals.count - 1) / span, 1) if span > 0 else 0.0,
        "events": events,
    }


def bare_loop(settings: Settings, topic_of: dict[bytes, str], events: int, stop_at: float) -> None:
    """The peer without a framework: consume the backlog in a group of its own, produce each
    event to its file's command topic, await the batch's deliveries, commit."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"{settings.topics.prefix}-cold-bare",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({**producer_config(settings), "linger.ms": 5})
    consumer.subscribe([settings.topics.events])
    done = 0
    while done < events and time.monotonic() < stop_at:
        messages = consumer.consume(500, timeout=0.2)
        for message in messages:
            if message.error() is None:
                producer.produce(topic_of[message.key() or b""], message.value(), message.key(), 0)
                done += 1
        if messages:
            if producer.flush(60):
                raise RuntimeError("deliveries not acknowledged")
            consumer.commit(asynchronous=True)
    consumer.close()


def record_stacks(pid: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    """``py-spy record`` of the worker's start (``--py-spy``), raw collapsed stacks."""
    return subprocess.Popen(
        [
            str(Path(sys.executable).with_name("py-spy")),
            *("record", "--pid", str(pid), "--duration", str(args.py_spy_s), "--rate", "50"),
            *("--format", "raw", "--output", args.py_spy, "--nonblocking"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def diagnosis(settings: Settings, pid: int) -> dict[str, Any]:
    """What a worker whose pass was cut says of itself: its readiness verdict, its
    message counters, and its threads' stacks (``py-spy dump``, no locals: they may hold
    secrets; when py-spy is installed beside this interpreter)."""
    base = f"http://127.0.0.1:{settings.worker.web_port}"
    found: dict[str, Any] = {}
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=10) as answer:
            found["readyz"] = answer.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:  # 503: not ready, with its reason
        found["readyz"] = exc.read().decode(errors="replace")
    except OSError as exc:
        found["readyz"] = f"unanswered: {exc}"
    try:
        with urllib.request.urlopen(f"{base}/metrics", timeout=10) as answer:
            text = answer.read().decode(errors="replace")
        found["metrics"] = [
            line
            for line in text.splitlines()
            if line.startswith(("qbsync_worker_messages", "qbsync_worker_send", "qbsync_dead"))
        ]
    except OSError as exc:
        found["metrics"] = [f"unanswered: {exc}"]
    spy = Path(sys.executable).with_name("py-spy")
    if spy.exists():
        dumped = subprocess.run(
            [str(spy), "dump", "--pid", str(pid)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        found["stacks"] = (dumped.stdout + dumped.stderr)[:12000]
    return found


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    with running_broker() as broker:
        settings = bench_settings(work, broker, "cold")
        upgrade(settings.database_url)
        prepare_topics(settings)
        store = Store(settings.database_url)
        started = time.perf_counter()
        files = create_files(store, args.files, 1, logins=False)
        store.close()
        store_s = time.perf_counter() - started
        names = [settings.topics.commands(file.profile_id) for file in files]
        progress(f"{args.files} files in the store in {store_s:.1f} s; creating their topics")
        started = time.perf_counter()
        # As provisioning makes them (connectors.kafka.command_topic_spec): with their
        # configs, so the worker's start finds nothing to reconcile.
        spec = TopicSpec(1, settings.topics.replication_factor, settings.topics.command_config())
        for chunk in range(0, len(names), CREATE_CHUNK):
            ensure_topics(
                settings.kafka.client_config(),
                dict.fromkeys(names[chunk : chunk + CREATE_CHUNK], spec),
                timeout=300,
            )
        create_s = time.perf_counter() - started
        progress(f"topics created in {create_s:.1f} s; writing one record to each")
        write_s = write_once(settings, names)
        progress(f"written in {write_s:.1f} s; settling {args.settle_s} s")
        time.sleep(args.settle_s)
        publisher = EventPublisher(settings)
        tenants = [file.tenants[0] for file in files]
        backlog = customer_events(publisher, tenants, args.events)
        publish_s = publish(publisher, backlog)
        publisher.close()
        progress(f"{args.events} events published in {publish_s:.1f} s; the bare loop")
        topic_of = {file.tenants[0].encode(): name for file, name in zip(files, names, strict=True)}

        def measured(name: str, start: Callable[[float], Callable[[], None]]) -> dict[str, Any]:
            arrivals = Arrivals(settings, end_offsets(settings, names))
            started = time.perf_counter()
            alive = start(started)
            complete = arrivals.wait_for(args.events, started, args.pass_s, alive)
            arrivals.close()
            result = figures(arrivals, args.events, complete)
            progress(f"{name}: {json.dumps(result)}")
            return result

        def start_bare(_started: float) -> Callable[[], None]:
            import threading

            stop_at = time.monotonic() + args.pass_s
            thread = threading.Thread(
                target=bare_loop, args=(settings, topic_of, args.events, stop_at), daemon=True
            )
            thread.start()
            return lambda: None

        bare = measured("bare", start_bare)
        with contextlib.ExitStack() as stack:
            started_worker: list[ChildProcess] = []

            def start_worker(_started: float) -> Callable[[], None]:
                # Started only once the command topics' end offsets are read (in
                # ``measured``): started before, a worker quicker than that read had its
                # first commands taken for what the topics held already, and its pass
                # never completed (two CI runs; the test delays the read to show it).
                worker = stack.enter_context(running_worker(settings, work))
                started_worker.append(worker)
                if args.py_spy:
                    stack.callback(record_stacks(worker.process.pid, args).wait, args.py_spy_s + 60)

                def alive() -> None:
                    if not worker.alive():
                        raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")

                return alive

            worker_report = measured("worker", start_worker)
            (worker,) = started_worker
            if not worker_report["complete"]:
                worker_report["diagnosis"] = diagnosis(settings, worker.process.pid)
                progress(f"worker's pass cut: {json.dumps(worker_report['diagnosis'])}")
            if args.worker_log:
                Path(args.worker_log).write_text(worker.log_path.read_text(errors="replace"))
        return {
            "bench": "cold_start",
            "broker": {"kind": broker.kind, "version": broker.version},
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": "sqlite",
            "files": args.files,
            "events": args.events,
            "setup": {
                "store_s": round(store_s, 2),
                "create_topics_s": round(create_s, 2),
                "write_once_s": round(write_s, 2),
                "settle_s": args.settle_s,
                "publish_s": round(publish_s, 2),
            },
            "bare": {**bare, "producers": 1},
            "worker": {**worker_report, "producers": settings.worker.producers},
            "ratio": {
                key: round(worker_report[key] / bare[key], 2) if bare[key] > 0 else None
                for key in ("first_command_s", "every_file_s", "all_s")
            },
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--settle-s", type=float, default=0.0, help="after the set-up writes")
    parser.add_argument(
        "--pass-s",
        type=float,
        default=900.0,
        help="each pass measured at most this long: the figures are then those of what"
        " arrived (complete false)",
    )
    parser.add_argument("--py-spy", default="", help="record the worker's start to this file")
    parser.add_argument("--py-spy-s", type=int, default=40, help="seconds recorded")
    parser.add_argument("--worker-log", default="", help="copy the worker's log to this file")
    args = parser.parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        os.chdir(tmp)
        report = run(args, Path(tmp))
        os.chdir("/")
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
