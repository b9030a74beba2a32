"""Messages of the agents' topics handed to the agents a batch at a time.

Faust delivers every message on its own: the consumer's fetch loop waits on each message's
delivery (a task pair per message), the conductor decodes it into an event and queues it on
every subscribed stream, the stream tracks and acknowledges it. That path cost ~300 µs of
CPU per message (docs/performance.md), far more than the worker's own work. Here Faust
stays the host (the consumer group, assignment, offsets and commits, the parked table's
changelog and recovery, agents, web server), but the fetch loop appends the messages of the
agents' topics to a :class:`Feed` per topic, from which the agent takes a batch. Messages
of any other topic (a table's changelog) go Faust's own way.

The same promises as Faust's streams: a message is tracked (pending acknowledgement, so a
rebalance waits for it) when its agent takes it, and acknowledged by the agent once its
batch is carried out; offsets are committed by Faust up to the last acknowledged message,
periodically and when a rebalance begins (:meth:`FeedConsumer.on_partitions_revoked`).
A rebalance, and the end of the parked table's recovery, clear the feeds (Faust's flow
control); the fetch loop puts nothing in them while flow is suspended, and each cleared
partition is put back to its first forgotten offset (:meth:`Feed.clear`), so nothing
fetched is dropped; a partition that went elsewhere is read from its committed offset.
Records the client hands over that Faust would drop (flow stopped, partition not resumed
yet, generation changed) put their partition back the same way
(:meth:`FeedConsumer.getmany`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, cast

import faust
from aiokafka.errors import IllegalStateError  # type: ignore[import-untyped]
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

__all__ = ["Feed", "FeedConsumer", "WorkerApp", "ramp"]

log = logging.getLogger(__name__)


def ramp(size: int, *, first: int = 25) -> Iterator[int]:
    """An agent's batch sizes from its start: ``first``, doubling up to ``size``, then
    ``size`` for good. A worker starting over a backlog sends its first commands moments
    after it joins instead of after a whole batch's first writes to hundreds of company
    files' topics it has not met (docs/performance.md, "Many company files")."""
    current = max(1, min(first, size))
    while current < size:
        yield current
        current *= 2
    while True:
        yield size


class Feed:
    """The messages of one topic fetched for its agent and not yet taken. Above ``high``
    waiting messages a partition's fetching is paused (Faust's ``on_buffer_full``) until
    the agent has taken the feed below half of it; the resume wakes the fetch loop's wait
    (:meth:`FeedConsumer.on_buffer_drop`)."""

    def __init__(self, topic: str, app: faust.App, *, high: int) -> None:
        self.topic = topic
        self._app = app
        self._high = high
        self._messages: deque[Any] = deque()
        self._arrived = asyncio.Event()
        self._paused: set[TP] = set()

    def __len__(self) -> int:
        return len(self._messages)

    def put(self, message: Any) -> None:
        self._messages.append(message)
        if len(self._messages) < self._high:
            self._arrived.set()
            return
        # Faust's TP (the message's ``tp`` is the client's own TopicPartition).
        tp = TP(message.topic, message.partition)
        if tp not in self._paused:
            self._paused.add(tp)
            self._app.consumer.on_buffer_full(tp)
        self._arrived.set()

    def clear(self) -> None:
        """Forget what was fetched and not taken (Faust's flow control clears its queues on a
        rebalance, and as a table's recovery ends), and put each partition's position back
        to its first such message so that it is fetched again. Relying on Faust's seek to
        the committed offset was not enough: a partition with no committed offset yet is
        not sought at all, so what a restarted worker fetched while its table recovered was
        dropped and never read again (until the next restart). A partition that went to
        another worker is read there from its committed offset."""
        first: dict[TP, int] = {}
        for message in self._messages:
            first.setdefault(TP(message.topic, message.partition), message.offset)
        dropped = len(self._messages)
        self._messages.clear()
        self._arrived.clear()
        self._resume()
        if not first:
            return
        consumer = cast(FeedConsumer, self._app.consumer)
        kept = [tp for tp, offset in first.items() if consumer.rewind(tp, offset)]
        log.info(
            "fetched messages put back",
            extra={"topic": self.topic, "messages": dropped, "partitions": len(kept)},
        )

    def _resume(self) -> None:
        if self._paused:
            for tp in self._paused:
                self._app.consumer.on_buffer_drop(tp)
            self._paused.clear()

    async def take(self, size: int, within: float) -> list[Any]:
        """The next batch: waits for a first message, then up to ``within`` seconds for
        the batch to fill to ``size``."""
        messages = self._messages
        while not messages:
            self._arrived.clear()
            await self._arrived.wait()
        if len(messages) < size:
            deadline = asyncio.get_running_loop().time() + within
            while len(messages) < size:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    break
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
        count = min(size, len(messages))
        taken = [messages.popleft() for _ in range(count)]
        if len(messages) <= self._high // 2:
            self._resume()
        return taken


_ANY: Any = object()  # rewind's ``within`` not given: whatever the client's assignment


class FeedConsumer(aiokafka_driver.Consumer):
    """Faust's aiokafka consumer whose fetch loop puts the messages of fed topics in their
    :class:`Feed` (one call, no task per message); any other topic goes Faust's way. The
    loop is Faust's own (``Consumer._drain_messages``); what it does with each batch of
    records is :meth:`_drain_batch`; the batch is Faust's ``getmany``, rewritten so that
    no record it leaves out is skipped (:meth:`getmany`).

    **Put back since the batch was fetched.** Faust's ``getmany`` hands the loop a batch of
    records already fetched; the loop goes through it yielding to the event loop now and
    then, and a whole rebalance can run in those yields: flow stopped, the feeds cleared
    (each partition sought back to its first forgotten message), flow resumed. The batch's
    later messages of such a partition were fetched before that seek: put in the feed, one
    would run ahead of the forgotten ones and Faust would count the skipped range as a gap
    it may commit over (``_add_gap``), so they were never processed: two-worker runs lost
    ~200 events this way; held while flow is stopped, one moved the partition forward past
    them and the commit froze there. So every seek back (:meth:`rewind`) is recorded in
    :attr:`put_back` until the next batch, and the rest of the batch's messages of that
    partition are dropped: they are fetched again from there (:meth:`_stale`). The client
    drops what it had fetched past a seek; the batch in the loop's hands is beyond its
    reach.

    **A hole is fetched again before it is passed over.** Faust counts the offsets missing
    between two messages it reads as acknowledged (``_add_gap``: meant for compacted
    topics and transaction markers), so a commit passes over them. Our topics are never
    compacted; a lone missing offset is a transaction marker (an upstream app producing in
    transactions), but more than one missing from a fed topic is what a fetch dropped by
    mistake would leave, which Faust would commit over without a word (the losses above
    were of that kind). So such a hole is fetched again from its first offset once
    (:attr:`missing`); only when the next fetch starts past it all the same (records
    deleted, several transactions' markers in a row) is it passed over, logged with its
    offsets. The cost: one more fetch of that partition per such hole."""

    # How long the loop's wait for records of the active partitions lasts (Faust's 1 s)
    # before it asks again with the partitions active then (see on_buffer_drop).
    fetch_wait_s: ClassVar[float] = 1.0
    # Partition -> the offset it was sought back to since the loop took its current batch.
    put_back: dict[TP, int]
    # Partition -> the first offset of a hole it was fetched again from, until that fetch.
    missing: dict[TP, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.put_back = {}
        self.missing = {}

    def _new_consumer_thread(self) -> Any:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def rewind(self, tp: TP, offset: int, *, within: object = _ANY) -> bool:
        """Fetch ``tp`` again from ``offset`` (False: not assigned here any more). With
        ``within`` (the client's assignment some records were taken from), only while that
        assignment holds: a newer one starts ``tp`` from its committed offset, which no
        seek of records taken before it may move forward."""
        if not self._seek_soon(tp, offset, within):
            return False
        self._read_offset[tp] = offset
        self.put_back[tp] = min(offset, self.put_back.get(tp, offset))
        return True

    def _seek_soon(self, tp: TP, offset: int, within: object = _ANY) -> bool:
        """Seek ``tp`` in the client's own thread, as its next step (False: not assigned
        here). A seek sets futures of that thread's loop and drops the records the client
        holds for ``tp``: from the event loop's thread, as Faust's ``seek`` does, it raced
        the client's own fetch handling and woke nothing."""
        thread = self._thread
        try:
            client = thread._ensure_consumer()
            if tp not in client.assignment():
                return False
        except ConsumerNotStarted:  # the worker is stopping
            return False

        def seek() -> None:
            if within is not _ANY and _assignment_of(client) is not within:
                return  # rebalanced since: the new assignment reads from committed offsets
            # Revoked meanwhile: read from its committed offset.
            with contextlib.suppress(IllegalStateError):
                client.seek(tp, offset)

        thread.thread_loop.call_soon_threadsafe(seek)
        return True

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        """Commit what the agents have acknowledged, then Faust's revocation. Faust forgets
        a revoked partition's acknowledgements before it waits for the agents and commits
        (``Consumer.on_partitions_revoked``), and the client starts every partition of the
        new assignment afresh, from its committed offset (``earliest`` when there is none):
        so every rebalance used to read again, and send again, everything since the last
        periodic commit, whichever worker got the partition; on a new group all of it (a
        two-worker bench run sent 64 commands for 60 events). Committed here, while the
        partitions are still assigned, only what is still in an agent's hands at that
        moment is read again (``tests/streams/test_offsets.py``). Committing is Faust's
        own (only offsets whose messages and all before them were acknowledged, after the
        producer is flushed); a failure leaves it at-least-once, as before."""
        try:
            await self.commit()
        except Exception as exc:  # the revocation must go on whatever happened here
            log.warning(
                "commit before the rebalance failed",
                extra={"partitions": len(revoked), "error": type(exc).__name__},
            )
        for tp in revoked:
            self.missing.pop(tp, None)
        await super().on_partitions_revoked(revoked)

    def on_buffer_drop(self, tp: TP) -> None:
        """Faust's resume of ``tp`` (its feed was taken below half), and a wake-up of the
        fetch waiting in the client's thread. That fetch asks only for the partitions
        active when it began: the records of ``tp`` fetched meanwhile wait in the client,
        which fetches no more of ``tp`` until they are taken, and nothing wakes the
        waiting fetch but new records of a partition it asked for, or its timeout
        (:attr:`fetch_wait_s`). So each resume left the agent with nothing to do for up
        to a second: 0.2-0.9 s gaps, several a run, in a worker's per-stage timings
        (docs/performance.md); ``tests/streams/test_offsets.py`` makes the wait an hour."""
        super().on_buffer_drop(tp)
        self._wake_fetch()

    def resume_partitions(self, tps: Any) -> None:
        """Faust's resume (its recovery resumes the stream partitions after a rebalance),
        and a wake-up of the waiting fetch, for the same reason as :meth:`on_buffer_drop`:
        the fetch reads the active partitions live (:class:`_Asked`) but looks again only
        when woken, so a rebalance's resumed partitions waited up to a second."""
        super().resume_partitions(tps)
        self._wake_fetch()

    def _wake_fetch(self) -> None:
        """Wake the loop's wait for records in the client's thread (whose futures those
        are), so that it looks again with the partitions active now."""
        thread = self._thread
        try:
            fetcher = thread._ensure_consumer()._fetcher
        except ConsumerNotStarted:
            return
        waiters = getattr(fetcher, "_fetch_waiters", None)
        if waiters is None:  # another aiokafka: the timeout ends the wait, as before
            return

        def wake() -> None:
            for waiter in list(waiters):
                if not waiter.done():
                    waiter.set_result(None)

        thread.thread_loop.call_soon_threadsafe(wake)

    def _stale(self, tp: TP, offset: int, early: set[TP]) -> bool:
        """Whether the batch's message of ``tp`` at ``offset`` was fetched before ``tp`` was
        put back (then it is dropped: it comes again from there).

        Put back while the loop went through the batch: every later message of the batch
        is stale. Put back before the batch's first message came (``early``: typically
        while the loop waited for flow to resume), the batch may have been fetched after
        the seek: it then starts exactly where the partition was put back, and is kept.
        Otherwise it is dropped, and the partition sought back once more, in case the
        batch was fetched after the seek all the same (the offset put back gone by
        retention), which moved the position past it; the next batch is kept whatever it
        holds, so this cannot loop."""
        back = self.put_back[tp]
        if tp not in early:
            return True
        early.discard(tp)
        if offset == back:
            del self.put_back[tp]
            return False
        self.rewind(tp, back)
        return True

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Any]]:
        """Faust's ``getmany`` (the fetched records, round-robin over partitions), except
        that a record the client handed over is never dropped with its partition left
        past it. The client moves a partition's position as it hands records over; Faust
        then drops those of a batch that returns while flow is stopped, that of a
        partition it has not resumed (its recovery resumes the stream partitions after the
        flow), and the rest once the generation changes, and seeks back only partitions
        with a committed offset. A new group has none, so a worker that had just joined
        skipped its first events for good: a two-worker ``bench/transform.py`` run lost 4
        of 8 warm-up events in 2 of 10 runs (docs/performance.md, "Known gaps"). Here
        each partition with records not passed on is put back to the first of them, if the
        client's assignment they came from still holds (:meth:`rewind`); the rest of its
        batch is not passed on either, so its order holds."""
        records, active_partitions = await self._wait_next_records(timeout)
        generation_id = self.app.consumer_generation_id
        if records is None or self.should_stop:
            return
        passed: dict[TP, int] = {}  # per partition, how many of its records went on
        held: set[TP] = set()  # partitions whose remaining records are put back
        reason = "flow stopped"
        if self.flow_active:
            to_message = self._to_message
            buffered = self._buffered_partitions
            for tp, record in self.scheduler.iterate(records):
                if not self.flow_active:
                    reason = "flow stopped"
                    break
                if self.app.consumer_generation_id != generation_id:
                    reason = "rebalanced"
                    break
                if tp in held:
                    continue
                if active_partitions is None or tp in active_partitions or tp in buffered:
                    passed[tp] = passed.get(tp, 0) + 1
                    self.app.monitor.track_tp_end_offset(tp, self.highwater(tp))
                    yield tp, to_message(tp, record)
                else:
                    held.add(tp)
                    reason = "partition not active"
        self._put_back_held(records, passed, reason)

    def _put_back_held(
        self, records: Mapping[Any, list[Any]], passed: Mapping[TP, int], reason: str
    ) -> None:
        """Put each partition with records of ``records`` not ``passed`` on back to the first
        of them (or to where it was put back already, if earlier)."""
        within = getattr(records, "assignment", _ANY)
        held = 0
        partitions = 0
        for tp, batch in records.items():
            count = passed.get(tp, 0)
            if count >= len(batch):
                continue
            first = batch[count].offset
            key = TP(tp.topic, tp.partition)
            if self.rewind(key, min(first, self.put_back.get(key, first)), within=within):
                held += len(batch) - count
                partitions += 1
        if held:
            log.info(
                "fetched records put back",
                extra={"reason": reason, "records": held, "partitions": partitions},
            )

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - Faust's loop
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                ait = self.getmany(timeout=self.fetch_wait_s)
                # Before the batch is fetched: a seek from here on may have come after it.
                self.put_back.clear()
                await self.sleep(0)
                if self.should_stop:
                    continue
                await self._drain_batch(ait)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise

    async def _drain_batch(self, ait: Any) -> None:
        """One batch of fetched records: each message to its feed (or Faust's way), none of
        a partition :attr:`put_back` since the batch was fetched."""
        feeds: dict[str, Feed] = getattr(self.app, "feeds", {})
        flow_control = self.app.flow_control
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        put_back = self.put_back
        early: set[TP] | None = None  # put back before the batch's first message came
        since_yield = 0
        async for tp, message in ait:
            if early is None:
                early = set(put_back)
            since_yield += 1
            if since_yield > 100:
                await asyncio.sleep(0)
                since_yield = 0
            if commit_every is not None and self._n_acked >= commit_every:
                self._n_acked = 0
                await self.commit()
            if tp in put_back and self._stale(tp, message.offset, early):
                continue
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is not None and offset < r_offset:
                continue
            feed = feeds.get(tp.topic)
            if tp in self.missing:
                r_offset = await self._hole_checked(tp, offset, r_offset)
            gap = offset - (r_offset or 0)
            if gap > 2 and r_offset is not None and feed is not None:  # not just a marker
                self._hole(tp, r_offset + 1, offset)
                continue
            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                await self._add_gap(tp, r_offset + 1, offset)
                if tp in put_back and self._stale(tp, offset, early):  # put back meanwhile
                    continue
            if feed is None:
                await self.wait_first(self.callback(message), self.suspend_flow.wait())
            elif flow_control.is_active():
                feed.put(message)
            else:
                # Flow stopped (a rebalance began): fetched again from here, or by the
                # partition's new owner from its committed offset.
                self.rewind(tp, offset)
                continue
            set_read_offset(tp, offset)

    def _hole(self, tp: TP, first: int, offset: int) -> None:
        """Offsets ``first`` .. ``offset - 1`` of fed ``tp`` were not in the batch: fetch
        them again (the rest of the batch's messages of ``tp`` are stale)."""
        if self.rewind(tp, first):
            self.missing[tp] = first
            log.info(
                "offsets missing from a fetch, fetched again",
                extra={
                    "topic": tp.topic,
                    "partition": tp.partition,
                    "first": first,
                    "last": offset - 1,
                },
            )

    async def _hole_checked(self, tp: TP, offset: int, r_offset: int | None) -> int | None:
        """The first message of ``tp`` since its hole was fetched again: the read offset
        the gap check goes on from. The hole's first offset came: a fetch had skipped
        records (logged as a warning: nothing is lost, but it should not happen). It
        starts past it: the hole is not in the log, passed over (Faust's gap, which the
        commit counts as done)."""
        first = self.missing.pop(tp)
        if r_offset != first:  # sought elsewhere since (a rebalance's put-back)
            return r_offset
        where = {"topic": tp.topic, "partition": tp.partition, "first": first}
        if offset == first:
            log.warning("offsets a fetch had skipped came when fetched again", extra=where)
            return r_offset
        log.info("offsets not in the log passed over", extra={**where, "last": offset - 1})
        await self._add_gap(tp, first, offset - 1)
        return offset - 1


# How long the broker may hold a fetch that finds nothing new (Faust fixes it at 1,500 ms).
# The client sends one fetch at a time to a broker, so a partition sought back (a hole
# fetched again, a rebalance's put-back) waited for the fetch in flight: 1.5 s per hole
# when caught up (tests/streams/test_offsets.py, ~1.5 s between the two log lines of each
# hole). An idle worker asks ten times a second instead of about once: nothing to a broker.
FETCH_MAX_WAIT_MS = 100


class _Drained(dict[Any, list[Any]]):
    """Records the client handed over, by partition, with the client's assignment they were
    taken from (each rebalance makes a new one, whose partitions start afresh from their
    committed offsets): a put-back applies only while that assignment holds."""

    assignment: object | None = None


class _Asked:
    """Faust's set of active partitions as the client's fetch reads it while it waits:
    live, so a partition resumed meanwhile is in it once the resume wakes the wait
    (:meth:`FeedConsumer.on_buffer_drop`), but never empty. Faust's rebalance changes its
    set in place, and the client reads an empty set as "every partition": it handed over
    the records of partitions Faust had not resumed yet (which Faust dropped:
    :meth:`FeedConsumer.getmany`)."""

    __slots__ = ("_live",)

    def __init__(self, live: set[TP]) -> None:
        self._live = live

    def __bool__(self) -> bool:
        return True

    def __contains__(self, tp: object) -> bool:
        return tp in self._live

    def __iter__(self) -> Iterator[TP]:
        return iter(list(self._live))  # one step under the GIL: the set may change

    def __len__(self) -> int:
        return len(self._live)


def _assignment_of(client: Any) -> object | None:
    """The client's current assignment (aiokafka's ``Assignment``; a new object each
    rebalance), None when it has none."""
    subscription = client._subscription.subscription
    return None if subscription is None else subscription.assignment


class _ConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        client = super()._create_worker_consumer(transport)
        client._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the client starts
        return client

    async def _fetch_records(
        self,
        consumer: Any,
        active_partitions: Any,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> Mapping[Any, list[Any]]:
        """Faust's fetch, asking the client for :class:`_Asked` partitions rather than
        Faust's set itself. The records come back with the assignment they were taken
        from."""
        if not active_partitions:
            return {}
        asked: Any = _Asked(active_partitions)
        records = _Drained(await super()._fetch_records(consumer, asked, timeout, max_records))
        records.assignment = _assignment_of(consumer)
        return records


class _Transport(aiokafka_driver.Transport):
    Consumer: ClassVar[type[Any]] = FeedConsumer


class WorkerApp(faust.App):
    """Faust's app whose consumer feeds the topics in :attr:`feeds` to their agents in
    batches (:class:`FeedConsumer`)."""

    feeds: dict[str, Feed]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.feeds = {}

    def feed(self, topic: str, *, high: int) -> Feed:
        """The feed of ``topic`` (cleared by Faust's flow control on a rebalance)."""
        feed = self.feeds[topic] = Feed(topic, self, high=high)
        self.flow_control.manage_queue(cast(Any, feed))
        return feed

    def _new_transport(self) -> Any:
        return _Transport(self.conf.broker_consumer, self)
