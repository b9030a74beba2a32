"""What the first write to many command topics costs, apart from the worker: one JSON object.

On one broker (see qbsync.brokers): ``--topics`` single-partition topics are created in one
``ensure_topics`` call; after ``--settle-s`` seconds, librdkafka producers configured as the
worker's (idempotent, ``acks=all``, ``linger.ms=5``) each write one record to every topic
(partition 0, as the worker's commands), one producer after the other, each flushing half the
topics, then the other half, then all of them again:

- ``first``: the first producer, writing partitions nobody wrote before;
- ``second``: a new producer (a new client, metadata unknown to it) over the same topics.

``first_half_s`` of ``first`` against ``second`` separates the cost of a topic's first-ever
write (the broker's) from a client learning topics it has not met (what a restarted worker
does with topics that already hold data).

    python bench/topic_writes.py [--topics 1000] [--settle-s 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from typing import Any

from confluent_kafka import Producer

from connectors.kafka import ensure_topics
from core.settings import Settings
from qbsync.brokers import running_broker
from qbsync.runtime import use_broker


def write_all(config: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """One new producer: half the topics, the other half, then all again; seconds each."""
    producer = Producer(config)
    half = len(names) // 2
    figures: dict[str, Any] = {}
    for label, part in (
        ("first_half", names[:half]),
        ("second_half", names[half:]),
        ("again", names),
    ):
        started = time.perf_counter()
        for name in part:
            producer.produce(name, b"x", b"k", 0)
        left = producer.flush(300)
        if left:
            raise RuntimeError(f"{left} records not acknowledged")
        figures[f"{label}_s"] = round(time.perf_counter() - started, 2)
        figures[f"{label}_topics"] = len(part)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--topics", type=int, default=1000, help="topics created and written")
    parser.add_argument("--settle-s", type=float, default=0.0, help="wait after creating them")
    args = parser.parse_args()
    with running_broker() as broker:
        settings = Settings()
        use_broker(settings, broker)
        client = settings.kafka.client_config()
        run = os.urandom(3).hex()
        names = [f"bench-writes-{run}.commands.{index:05d}" for index in range(args.topics)]
        started = time.perf_counter()
        ensure_topics(client, dict.fromkeys(names, 1), timeout=300)
        create_s = time.perf_counter() - started
        time.sleep(args.settle_s)
        config = {**client, "acks": "all", "enable.idempotence": True, "linger.ms": 5}
        report = {
            "bench": "topic_writes",
            "broker": {"kind": broker.kind, "version": broker.version},
            "cores": os.cpu_count(),
            "python": platform.python_version(),
            "topics": args.topics,
            "create_s": round(create_s, 2),
            "settle_s": args.settle_s,
            "first": write_all(config, names),
            "second": write_all(config, names),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
