"""The worker's send rate as the number of per-file command topics grows: one JSON object on
stdout (progress on stderr).

For each count in ``--counts``, on one broker (see qbsync.brokers) and a fresh
SQLite store, topic prefix and worker group: that many profiles (company files), one tenant
each, their command topics created up front (in production they exist already, except a new
file's); then the real worker (``qbsync worker``, a child process):

- ``first_use``: one event per file. The first time the worker meets a command topic it
  learns every file's at once (one CreateTopics for the missing ones, one metadata request),
  once per worker process, so after every restart too; ``files_per_s`` is how fast the
  first command of each file goes out.
- ``steady``: ``--events`` customer UPSERTED events spread round-robin over the files, timed
  from the first publish until the last command was read back from the command topics.

    python bench/topics.py [--counts 10,1000,5000] [--events 5000]

Before the worker learned topics in bulk, first use of 1,000 topics took 55-80 s on 2 cores
and grew with the square of the count, so the default stopped at 1,000; it now takes about
3 s (16 s for 5,000), and the default includes 5,000 (docs/performance.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from transform import (
    OutputCounter,
    bench_settings,
    create_files,
    customer_events,
    exit_on_sigterm,
    progress,
    publish,
    running_worker,
)

from connectors.kafka import ensure_command_topics
from connectors.store import Store, upgrade
from core.contracts import EventPublisher
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import prepare_topics

CREATE_CHUNK = 500  # topics per CreateTopics request


def one_level(
    broker: BrokerInfo, work: Path, files_count: int, events: int, timeout_s: float
) -> dict[str, Any]:
    work.mkdir()
    settings = bench_settings(work, broker, f"topics{files_count}")
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    started = time.perf_counter()
    files = create_files(store, files_count, 1, logins=False)
    store.close()
    store_s = time.perf_counter() - started
    tenants = [file.tenants[0] for file in files]
    topics = {settings.topics.commands(file.profile_id): 1 for file in files}
    progress(f"{files_count} files: {store_s:.1f} s in the store; creating their topics")
    started = time.perf_counter()
    ids = [file.profile_id for file in files]
    for chunk in range(0, len(ids), CREATE_CHUNK):
        # As provisioning makes them: with the command topics' configs.
        ensure_command_topics(
            settings.kafka.client_config(),
            settings.topics,
            ids[chunk : chunk + CREATE_CHUNK],
            timeout=120,
        )
    create_s = time.perf_counter() - started
    publisher = EventPublisher(settings)
    first = customer_events(publisher, tenants, files_count, start=10**7)
    steady = customer_events(publisher, tenants, events)
    counter = OutputCounter(settings, topics)
    with running_worker(settings, work) as worker:

        def alive() -> None:
            if not worker.alive():
                raise RuntimeError(f"the worker exited:\n{worker.log_tail()}")

        # first use: the group joins (a few seconds, the same at every count) and every topic
        # is declared; one warm-up event first so the join is not counted as sending.
        progress(f"{files_count} files: worker starting")
        publish(publisher, first[:1])
        if not counter.wait_for(1, timeout_s=180, alive=alive):
            raise RuntimeError("the worker produced nothing in 180 s")
        progress(f"{files_count} files: first use of {files_count - 1} topics")
        started = time.perf_counter()
        publish(publisher, first[1:])
        first_done = counter.wait_for(files_count, timeout_s=timeout_s, alive=alive)
        first_s = time.perf_counter() - started
        progress(f"{files_count} files: first use took {first_s:.1f} s; {events} events")
        started = time.perf_counter()
        publish_s = publish(publisher, steady)
        steady_done = counter.wait_for(files_count + events, timeout_s=timeout_s, alive=alive)
        steady_s = time.perf_counter() - started
    counter.close()
    publisher.close()
    steady_outputs = counter.count - files_count
    progress(f"{files_count} files: {steady_outputs} commands in {steady_s:.1f} s")
    return {
        "files": files_count,
        "create_topics_s": round(create_s, 2),
        "first_use": {
            "topics": files_count - 1,
            "complete": first_done,
            "elapsed_s": round(first_s, 3),
            "files_per_s": round((files_count - 1) / first_s, 1),
        },
        "steady": {
            "events": events,
            "outputs": steady_outputs,
            "complete": steady_done,
            "publish_s": round(publish_s, 3),
            "elapsed_s": round(steady_s, 3),
            "events_per_s": round(steady_outputs / steady_s, 1),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--counts", default="10,1000,5000", help="command topics per round")
    parser.add_argument("--events", type=int, default=5000, help="steady events per round")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per phase, seconds")
    args = parser.parse_args()
    exit_on_sigterm()
    counts = [int(count) for count in args.counts.split(",")]
    if min(counts) < 2:
        parser.error("every count must be at least 2")

    with tempfile.TemporaryDirectory(prefix="bench-topics-") as tmp, running_broker() as broker:
        work = Path(tmp)
        os.chdir(work)  # Faust keeps its data directory in the working directory
        levels = [
            one_level(broker, work / str(count), count, args.events, args.timeout)
            for count in counts
        ]
        report = {
            "bench": "topics",
            "broker": {"kind": broker.kind, "version": broker.version},
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "database": "sqlite",
            "levels": levels,
        }
        sys.stdout.write(json.dumps(report) + "\n")
        os.chdir("/")


if __name__ == "__main__":
    main()
