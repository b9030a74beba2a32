"""``qbsync worker`` whose first fetch of events straddles a rebalance: run by
``tests/streams/test_rebalance.py`` as the worker process.

Faust checks that flow is active, then waits in the client's thread for records of the
partitions it calls active (``fetched_records``, up to a second). A rebalance that runs
meanwhile empties that set (Faust's revocation), and the client reads an empty set as
"every partition": once the new assignment is in place, the wait hands over the records of
the new assignment's partitions, moving their positions past them, whatever Faust then
does with them (it drops a batch that comes back while flow is stopped, and seeks back only
partitions with a committed offset).

Here that fetch straddles a rebalance for certain: its first call that would fetch events
asks the group coordinator for a new join, waits until the new assignment is in place,
then waits for records as the interrupted fetch would, with the set it was given. Lines
starting ``race:`` in the output say what happened."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver

from qbsync.cli import main


def say(line: str) -> None:
    sys.stdout.write(f"race: {line}\n")
    sys.stdout.flush()


def install(events: str) -> None:
    thread_class = aiokafka_driver.AIOKafkaConsumerThread
    original = thread_class._fetch_records
    armed = False

    async def straddling(
        self: Any,
        consumer: Any,
        active_partitions: set[Any],
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Any:
        nonlocal armed
        if armed or not any(tp.topic == events for tp in active_partitions):
            return await original(self, consumer, active_partitions, timeout, max_records)
        armed = True
        fetcher = consumer._fetcher
        subscriptions = fetcher._subscriptions
        before = subscriptions.subscription.assignment
        consumer._coordinator.request_rejoin()
        say("rejoin requested")
        # As a fetch waiting through the rebalance: it looks again once the new assignment
        # is in place.
        while (
            subscriptions.subscription.assignment is before
            or subscriptions.reassignment_in_progress
        ):
            await asyncio.sleep(0.005)  # the coordinator's task, in this same loop
        say(f"new assignment in place, {len(active_partitions)} partitions called active")
        with subscriptions.fetch_context():
            records = await fetcher.fetched_records(active_partitions, timeout=30.0)
        for tp, batch in records.items():
            say(f"{tp.topic}[{tp.partition}] {batch[0].offset}-{batch[-1].offset} handed over")
        return records

    thread_class._fetch_records = straddling  # type: ignore[method-assign]


if __name__ == "__main__":
    install(sys.argv[1])
    sys.argv = ["qbsync", "worker"]
    main()
