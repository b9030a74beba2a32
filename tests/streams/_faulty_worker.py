"""``qbsync worker`` with one fault in its fetches, for ``tests/streams/test_offsets.py``:
``python _faulty_worker.py <fault> <events topic>``. Lines starting ``race:`` or
``fault:`` in the output say what happened.

``straddle``: the first fetch of events straddles a rebalance. Faust checks that flow is
active, then waits in the client's thread for records of the partitions it calls active
(``fetched_records``, up to a second). A rebalance that runs meanwhile changes that set
in place (Faust's revocation empties it; the client read an empty set as "every
partition" until the worker asked with ``streams._feed._Asked``): once the new assignment
is in place, the wait hands over the records of the new assignment's partitions, moving
their positions past them, whatever Faust then does with them. Here its first call that
would fetch events asks the group coordinator for a new join, waits until the new
assignment is in place, then waits for records as the interrupted fetch would, with the
set it was given.

``skip``: the first fetch that brings at least six events loses its third to fifth on the
way (their positions passed all the same), as a faulty fetch would: a hole the worker must
fetch again rather than commit over.

``paused`` and ``stopped``: the first fetch that brings events comes back while Faust
has their partition paused (``paused``: as between a rebalance's recovery resuming the
flow and resuming the stream partitions) or its flow stopped (``stopped``: as after a
revocation), and Faust resumes it a moment later (``fault: ... resumed``). The client has
moved the partition's position past those events: Faust dropped them, and a new group
has no committed offset to seek back to.

``slow_seek``: the seek after the first assignment (a step of Faust's table recovery)
answers after Faust's ``broker_request_timeout``, made short here.

``patient``: the fetch loop waits an hour, not a second, for records of the partitions
active when it began, so a partition resumed meanwhile (its feed taken below half) is read
again only if the resume wakes that wait."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from qbsync.cli import main


def say(line: str, *, prefix: str = "race") -> None:
    sys.stdout.write(f"{prefix}: {line}\n")
    sys.stdout.flush()


def straddle(events: str) -> None:
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


def skip(events: str) -> None:
    thread_class = aiokafka_driver.AIOKafkaConsumerThread
    original = thread_class._fetch_records
    done = False

    async def skipping(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal done
        records = await original(self, *args, **kwargs)
        for tp, batch in records.items():
            if not done and tp.topic == events and len(batch) >= 6:
                done = True
                lost = batch[2:5]
                del batch[2:5]
                first, last = lost[0].offset, lost[-1].offset
                say(f"{tp.topic}[{tp.partition}] {first}-{last} lost", prefix="fault")
        return records

    thread_class._fetch_records = skipping  # type: ignore[method-assign]


def held(events: str, how: str) -> None:
    thread_class = aiokafka_driver.AIOKafkaConsumerThread
    original = thread_class._fetch_records
    done = False

    async def holding(self: Any, consumer: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal done
        records = await original(self, consumer, *args, **kwargs)
        tps = [TP(tp.topic, tp.partition) for tp in records if tp.topic == events]
        if done or not tps:
            return records
        done = True
        faust_consumer = self.consumer  # Faust's, whose state lives in the event loop
        main = faust_consumer.loop

        def hold() -> None:
            if how == "paused":
                faust_consumer.pause_partitions(tps)
            else:
                faust_consumer.stop_flow()
            say(
                f"{events} {how} with {sum(len(b) for b in records.values())} records fetched",
                prefix="fault",
            )
            main.call_later(0.5, resume)

        def resume() -> None:
            if how == "paused":
                faust_consumer.resume_partitions(tps)
            else:
                faust_consumer.resume_flow()
            faust_consumer._wake_fetch()
            say(f"{events} resumed", prefix="fault")

        # In the event loop, and done before the records are handed back to it.
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_call(hold), main))
        return records

    thread_class._fetch_records = holding  # type: ignore[method-assign]


async def _call(function: Any) -> None:
    function()


def patient(events: str) -> None:
    from streams._feed import FeedConsumer

    FeedConsumer.fetch_wait_s = 3600.0
    say(f"fetches of {events} wait {FeedConsumer.fetch_wait_s:.0f} s", prefix="fault")


def slow_seek(events: str) -> None:
    """The recovery's seek to the committed offsets, after the first assignment, outlasts
    Faust's ``broker_request_timeout`` (made 12 s here, past the group's session timeout as
    aiokafka wants) once: as a broker slow to answer the committed offsets."""
    from streams._feed import FeedConsumer, WorkerApp

    original_init = WorkerApp.__init__

    def shorter(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **{**kwargs, "broker_request_timeout": 12.0})

    WorkerApp.__init__ = shorter  # type: ignore[method-assign]
    original_seek = FeedConsumer.perform_seek
    slowed = False

    async def slow(self: Any) -> Any:
        nonlocal slowed
        if not slowed:
            slowed = True
            say(f"the seek after the assignment ({events}) answers in 30 s", prefix="fault")
            await asyncio.sleep(30)
        return await original_seek(self)

    FeedConsumer.perform_seek = slow  # type: ignore[method-assign]


FAULTS = {
    "slow_seek": slow_seek,
    "straddle": straddle,
    "skip": skip,
    "paused": lambda events: held(events, "paused"),
    "stopped": lambda events: held(events, "stopped"),
    "patient": patient,
}


if __name__ == "__main__":
    FAULTS[sys.argv[1]](sys.argv[2])
    sys.argv = ["qbsync", "worker"]
    main()
