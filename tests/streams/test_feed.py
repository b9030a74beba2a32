"""The feed's promise when Faust's flow control clears it (a rebalance, the end of a table's
recovery): every fetched message it forgets is fetched again, from the first forgotten
offset of each partition. The CI failure this pins: a restarted worker fetched an event
while its parked table recovered, the feed was cleared, and the partition (no committed
offset yet) was never sought back, so the event waited for the next restart.

Unit tests of the feed's own logic, with a stand-in for Faust's consumer (the seek itself
is the Kafka client's; tests/streams/test_worker.py runs the real thing). The fetch loop's
handling of one batch (``FeedConsumer._drain_batch``) runs here too, on a stand-in whose
batch of fetched records lets a rebalance happen between two of its messages, as the
event loop lets one happen while the fetch loop yields."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from faust.exceptions import ConsumerNotStarted
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.transport.utils import DefaultSchedulingStrategy
from faust.types import TP

from streams._feed import Feed, FeedConsumer, _ConsumerThread, ramp


@dataclass
class Message:
    topic: str
    partition: int
    offset: int


@dataclass
class Consumer:
    assigned: set[TP]
    rewound: list[tuple[TP, int]] = field(default_factory=list)
    paused: list[TP] = field(default_factory=list)

    def rewind(self, tp: TP, offset: int) -> bool:
        if tp not in self.assigned:
            return False
        self.rewound.append((tp, offset))
        return True

    def on_buffer_full(self, tp: TP) -> None:
        self.paused.append(tp)

    def on_buffer_drop(self, tp: TP) -> None:
        self.paused.remove(tp)


@dataclass
class App:
    consumer: Consumer


def feed_of(consumer: Consumer, *, high: int = 100) -> Feed:
    return Feed("events", App(consumer), high=high)  # type: ignore[arg-type]


def test_clearing_puts_each_partition_back_to_its_first_untaken_message() -> None:
    consumer = Consumer(assigned={TP("events", 0), TP("events", 1)})
    feed = feed_of(consumer)
    for partition, offset in [(0, 7), (1, 3), (0, 8), (1, 4), (0, 9)]:
        feed.put(Message("events", partition, offset))

    feed.clear()

    assert len(feed) == 0
    assert sorted(consumer.rewound) == [(TP("events", 0), 7), (TP("events", 1), 3)]


def test_taken_messages_are_not_fetched_again() -> None:
    consumer = Consumer(assigned={TP("events", 0)})
    feed = feed_of(consumer)
    for offset in range(5):
        feed.put(Message("events", 0, offset))

    taken = asyncio.run(feed.take(2, 0.01))
    feed.clear()

    assert [m.offset for m in taken] == [0, 1]
    assert consumer.rewound == [(TP("events", 0), 2)]


def test_a_partition_that_went_elsewhere_is_left_to_its_new_owner() -> None:
    consumer = Consumer(assigned={TP("events", 1)})
    feed = feed_of(consumer)
    feed.put(Message("events", 0, 5))
    feed.put(Message("events", 1, 6))

    feed.clear()

    assert consumer.rewound == [(TP("events", 1), 6)]


def test_an_empty_feed_seeks_nothing_and_a_paused_partition_resumes() -> None:
    consumer = Consumer(assigned={TP("events", 0)})
    feed = feed_of(consumer, high=2)
    feed.put(Message("events", 0, 0))
    feed.put(Message("events", 0, 1))  # at ``high``: the partition's fetching pauses
    assert consumer.paused == [TP("events", 0)]

    feed.clear()
    assert consumer.paused == []
    assert consumer.rewound == [(TP("events", 0), 0)]

    consumer.rewound.clear()
    feed.clear()
    assert consumer.rewound == []


def test_an_agents_batches_start_small_and_grow_to_the_batch_size() -> None:
    sizes = ramp(500)
    assert [next(sizes) for _ in range(8)] == [25, 50, 100, 200, 400, 500, 500, 500]
    small = ramp(10)
    assert [next(small) for _ in range(3)] == [10, 10, 10]
    assert [next(ramp(1)) for _ in range(2)] == [1, 1]


# -- the fetch loop's batch ------------------------------------------------------------

P0, P1 = TP("events", 0), TP("events", 1)


class Flow:
    def __init__(self) -> None:
        self.active = True

    def is_active(self) -> bool:
        return self.active


class Seeks:
    """The Kafka client's seek, recorded."""

    def __init__(self) -> None:
        self.done: list[tuple[TP, int]] = []

    def seek(self, tp: TP, offset: int) -> None:
        self.done.append((tp, offset))


class Topics:
    def acks_enabled_for(self, topic: str) -> bool:
        return True


class Loop:
    """Faust's consumer as far as the fetch loop's batch handling reads it, with
    FeedConsumer's own methods."""

    rewind: Any = FeedConsumer.rewind
    _stale: Any = FeedConsumer._stale
    _drain_batch: Any = FeedConsumer._drain_batch
    _hole: Any = FeedConsumer._hole
    _hole_checked: Any = FeedConsumer._hole_checked

    def __init__(self) -> None:
        self.flow_control = Flow()
        self.topics = Topics()
        self.feeds: dict[str, Feed] = {}
        self.app = self
        self.consumer = self
        self._thread = Seeks()
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self._commit_every = None
        self._n_acked = 0
        self.put_back: dict[TP, int] = {}
        self.missing: dict[TP, int] = {}
        self.gaps: list[tuple[TP, int, int]] = []
        self.feed = self.feeds["events"] = Feed("events", self, high=10_000)  # type: ignore[arg-type]

    async def _add_gap(self, tp: TP, offset_from: int, offset_to: int) -> None:
        self.gaps.append((tp, offset_from, offset_to))

    def _seek_soon(self, tp: TP, offset: int, within: object = None) -> bool:
        self._thread.seek(tp, offset)
        return True

    def on_buffer_full(self, tp: TP) -> None: ...

    def on_buffer_drop(self, tp: TP) -> None: ...

    def rebalance_begins(self) -> None:
        self.flow_control.active = False
        self.feed.clear()

    def rebalance_ends(self) -> None:
        self.flow_control.active = True

    def drain(self, batch: Iterable[Message], between: dict[int, Callable[[], object]]) -> None:
        """The fetch loop's handling of ``batch``; ``between[i]`` runs before its i-th
        message is handed over (while the loop yields)."""

        async def records() -> AsyncIterator[tuple[TP, Message]]:
            for i, message in enumerate(batch):
                if i in between:
                    between[i]()
                yield TP(message.topic, message.partition), message

        self.put_back.clear()  # the loop's start of a batch
        asyncio.run(self._drain_batch(records()))

    def fed(self) -> list[tuple[int, int]]:
        return [(m.partition, m.offset) for m in self.feed._messages]


def batch(partition: int, offsets: Iterable[int]) -> list[Message]:
    return [Message("events", partition, offset) for offset in offsets]


def test_a_rebalance_run_whole_inside_a_batch_loses_none_of_its_messages() -> None:
    # The loss two workers showed (~200 events): the loop yields mid-batch, a rebalance
    # stops flow, clears the feed (partition 0 sought back to 0) and resumes flow, all in
    # that yield; the batch's later messages were fetched before that seek. Put in the
    # feed, 101 ran ahead of 0..100 and Faust counted 1..101 as a gap it commits over.
    loop = Loop()

    def rebalance() -> None:
        loop.rebalance_begins()
        loop.rebalance_ends()

    loop.drain(batch(0, range(300)), {101: rebalance})

    assert loop.gaps == []
    assert loop.fed() == []  # 101.. come again, after 0..100
    assert loop._thread.done[-1] == (P0, 0)
    assert loop._read_offset[P0] == 0

    # The next batch, fetched from where the partition was sought back to, goes through.
    loop.drain(batch(0, range(300)), {})
    assert loop.fed() == [(0, offset) for offset in range(300)]
    assert loop.gaps == []


def test_a_message_held_after_the_clear_never_moves_its_partition_forward() -> None:
    # The stall: flow stopped and the feed cleared (0 sought back to 0) while the loop
    # yielded; the batch's next message, held, sought the partition to 101, past 0..100,
    # which were then never read again and the commit froze at 0.
    loop = Loop()
    loop.drain(batch(0, range(300)), {101: loop.rebalance_begins})

    assert all(offset == 0 for tp, offset in loop._thread.done)
    assert loop._read_offset[P0] == 0
    assert loop.fed() == []


def test_flow_stopped_a_partition_not_in_the_feed_comes_again_from_its_first_held_message() -> None:
    loop = Loop()
    # Partition 1's messages were all taken by the agent before the rebalance began, so
    # the clear puts back only partition 0; partition 1 is held from 3.
    messages = [*batch(1, range(3)), *batch(0, range(5)), *batch(1, range(3, 6))]

    def taken_then_rebalance() -> None:
        loop.feed._messages = type(loop.feed._messages)(
            m for m in loop.feed._messages if m.partition == 0
        )
        loop.rebalance_begins()

    loop.drain(messages, {5: taken_then_rebalance})

    assert loop._thread.done == [(P0, 0), (P1, 3)]
    assert loop._read_offset[P1] == 3
    assert loop.fed() == []


def test_a_batch_fetched_after_the_seek_back_is_kept() -> None:
    # Put back while the loop waited for its next batch (a rebalance: flow stopped, the
    # feed cleared, flow resumed); the batch, fetched after the seek, starts where the
    # partition was put back: it goes through at once (no second fetch of it).
    loop = Loop()
    loop.drain(batch(0, range(5, 10)), {0: lambda: loop.rewind(P0, 5)})

    assert loop.fed() == [(0, offset) for offset in range(5, 10)]
    assert loop._thread.done == [(P0, 5)]
    assert loop.gaps == []


def test_a_batch_fetched_before_an_earlier_seek_back_comes_again_from_there() -> None:
    # Put back before the batch's first message came, but the batch was fetched before
    # that (it starts past the offset put back): dropped, and the partition sought there
    # once more, in case the batch moved its position (it is the same offset: harmless).
    loop = Loop()
    loop.drain(batch(0, range(9, 14)), {0: lambda: loop.rewind(P0, 5)})

    assert loop.fed() == []
    assert loop._thread.done == [(P0, 5), (P0, 5)]
    assert loop.gaps == []
    # The next batch is kept whatever it starts at (the offsets put back may be gone by
    # retention): no loop of seeks.
    loop.drain(batch(0, range(7, 10)), {})
    assert loop.fed() == [(0, offset) for offset in range(7, 10)]


def test_without_a_rebalance_every_message_is_fed_in_order() -> None:
    loop = Loop()
    loop.drain([*batch(0, range(150)), *batch(1, range(40))], {})

    assert loop.fed() == [(0, o) for o in range(150)] + [(1, o) for o in range(40)]
    assert loop._thread.done == []
    assert loop._read_offset[P0] == 149
    assert loop._read_offset[P1] == 39
    assert loop.gaps == []


# -- holes: offsets missing between two messages of a fed partition ------------------------


def test_a_hole_is_fetched_again_before_anything_after_it_is_fed() -> None:
    # Faust would count 3..9 as acknowledged and commit over them: what a fetch dropped by
    # mistake would leave. Fetched again from 3; partition 1 goes on.
    loop = Loop()
    loop.drain([*batch(0, [0, 1, 2, 10, 11]), *batch(1, range(4))], {})

    assert loop.fed() == [(0, 0), (0, 1), (0, 2)] + [(1, o) for o in range(4)]
    assert loop._thread.done == [(P0, 3)]
    assert loop.missing == {P0: 3}
    assert loop.gaps == []

    # The fetch from 3 brings the hole: nothing passed over.
    loop.drain(batch(0, range(3, 12)), {})
    assert loop.fed() == [(0, o) for o in range(3)] + [(1, o) for o in range(4)] + [
        (0, o) for o in range(3, 12)
    ]
    assert loop.gaps == []
    assert loop.missing == {}


def test_a_hole_still_there_when_fetched_again_is_passed_over_once() -> None:
    # Not in the log (records deleted, several transactions' markers in a row): the next
    # fetch starts past it all the same; passed over, with no second seek.
    loop = Loop()
    loop.drain(batch(0, [0, 1, 2, 10]), {})
    loop.drain(batch(0, [10, 11, 12]), {})

    assert loop.fed() == [(0, o) for o in (0, 1, 2, 10, 11, 12)]
    assert loop._thread.done == [(P0, 3)]
    assert loop.gaps == [(P0, 3, 9)]
    assert loop.missing == {}
    assert loop._read_offset[P0] == 12


def test_a_lone_missing_offset_is_a_transaction_marker_passed_over_at_once() -> None:
    loop = Loop()
    loop.drain(batch(0, [0, 1, 2, 4, 5]), {})

    assert loop.fed() == [(0, o) for o in (0, 1, 2, 4, 5)]
    assert loop._thread.done == []
    assert loop.gaps == [(P0, 3, 4)]


def test_a_hole_right_after_the_first_offset_is_checked_too() -> None:
    # Faust adds no gap after offset 0 (its read offset is then falsy), so a commit froze
    # at 1 behind such a hole; it is fetched again, then passed over with its gap.
    loop = Loop()
    loop.drain(batch(0, [0, 5, 6]), {})
    loop.drain(batch(0, [5, 6]), {})

    assert loop.fed() == [(0, o) for o in (0, 5, 6)]
    assert loop._thread.done == [(P0, 1)]
    assert loop.gaps == [(P0, 1, 4)]


# -- seeks back run in the client's thread -------------------------------------------------


class Client:
    """The Kafka client as a seek back reaches it: its assignment (and aiokafka's object
    for it, a new one each rebalance), its seeks."""

    def __init__(self, assigned: set[TP]) -> None:
        self.assigned = assigned
        self.seeks: list[tuple[TP, int]] = []
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=object()))

    def rebalance(self) -> None:
        self._subscription.subscription.assignment = object()

    def assignment(self) -> set[TP]:
        return self.assigned

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


class ClientThread:
    """Faust's thread around the client: its loop's thread-safe call, recorded."""

    def __init__(self, client: Client | None) -> None:
        self.client = client
        self.thread_loop = self
        self.scheduled: list[Callable[[], object]] = []

    def _ensure_consumer(self) -> Client:
        if self.client is None:
            raise ConsumerNotStarted("stopping")
        return self.client

    def call_soon_threadsafe(self, callback: Callable[[], object]) -> None:
        self.scheduled.append(callback)


class Seeker:
    _seek_soon: Any = FeedConsumer._seek_soon

    def __init__(self, thread: ClientThread) -> None:
        self._thread = thread


def test_a_seek_back_runs_in_the_clients_thread_not_the_callers() -> None:
    client = Client({P0})
    thread = ClientThread(client)

    assert Seeker(thread)._seek_soon(P0, 7) is True
    assert client.seeks == []  # not from the event loop's thread
    (seek,) = thread.scheduled
    seek()
    assert client.seeks == [(P0, 7)]


def test_a_seek_of_records_taken_before_a_rebalance_is_not_made_after_it() -> None:
    # Records taken from one assignment of the client: put back while it holds, and not
    # once a rebalance made a new one, whose partitions start from their committed offsets
    # (a seek then could only move a partition past records nobody acknowledged).
    client = Client({P0})
    thread = ClientThread(client)
    taken_from = client._subscription.subscription.assignment

    assert Seeker(thread)._seek_soon(P0, 7, taken_from) is True
    assert Seeker(thread)._seek_soon(P0, 9, taken_from) is True
    first, second = thread.scheduled
    first()
    assert client.seeks == [(P0, 7)]
    client.rebalance()
    second()
    assert client.seeks == [(P0, 7)]


def test_a_partition_not_assigned_or_a_stopping_client_is_not_sought() -> None:
    thread = ClientThread(Client({P1}))
    assert Seeker(thread)._seek_soon(P0, 7) is False
    assert thread.scheduled == []
    stopping = ClientThread(None)
    assert Seeker(stopping)._seek_soon(P0, 7) is False
    assert stopping.scheduled == []


# -- a resume wakes the fetch loop's wait ---------------------------------------------------


class Fetcher:
    """The client's fetcher as the loop's wait leaves it: the futures its waits hold."""

    def __init__(self, waiters: set[asyncio.Future[None]] | None) -> None:
        if waiters is not None:
            self._fetch_waiters = waiters


class Waker:
    _wake_fetch: Any = FeedConsumer._wake_fetch

    def __init__(self, thread: ClientThread) -> None:
        self._thread = thread


def test_a_resume_wakes_the_waiting_fetch_in_the_clients_thread() -> None:
    loop = asyncio.new_event_loop()
    try:
        waiting, woken = loop.create_future(), loop.create_future()
        woken.set_result(None)  # a wait that ended meanwhile is left alone
        client = Client({P0})
        client._fetcher = Fetcher({waiting, woken})  # type: ignore[attr-defined]
        thread = ClientThread(client)

        Waker(thread)._wake_fetch()
        assert not waiting.done()  # not from the event loop's thread
        (wake,) = thread.scheduled
        wake()
        assert waiting.done()
        assert waiting.result() is None
    finally:
        loop.close()


def test_faust_resuming_partitions_wakes_the_waiting_fetch() -> None:
    # After a rebalance Faust's recovery resumes the stream partitions; the waiting fetch
    # reads the active set live but looks again only when woken (else up to a second).
    woken: list[str] = []
    consumer: Any = FeedConsumer.__new__(FeedConsumer)  # Faust's state only, no service
    consumer._active_partitions = set()
    consumer._paused_partitions = {P0, P1}
    consumer._wake_fetch = lambda: woken.append("fetch")

    consumer.resume_partitions({P0})

    assert consumer._active_partitions == {P0}
    assert consumer._paused_partitions == {P1}
    assert woken == ["fetch"]


def test_a_stopping_client_or_another_fetcher_is_not_woken() -> None:
    stopping = ClientThread(None)
    Waker(stopping)._wake_fetch()
    assert stopping.scheduled == []
    client = Client({P0})
    client._fetcher = Fetcher(None)  # type: ignore[attr-defined]
    other = ClientThread(client)
    Waker(other)._wake_fetch()
    assert other.scheduled == []


# -- records Faust's getmany would drop are put back ----------------------------------------


class Drained(dict[TP, list[Message]]):
    """The client's records of one fetch, with the assignment they were taken from."""

    assignment: object = None


class Getter:
    """Faust's consumer as ``FeedConsumer.getmany`` reads it: one fetch's records, the
    partitions active, flow, the generation; seeks recorded."""

    getmany: Any = FeedConsumer.getmany
    _put_back_held: Any = FeedConsumer._put_back_held
    rewind: Any = FeedConsumer.rewind

    def __init__(self, records: Drained, active: set[TP]) -> None:
        self._records = records
        self._active = active
        self.flow_active = True
        self.should_stop = False
        self.app = SimpleNamespace(
            consumer_generation_id=1,
            monitor=SimpleNamespace(track_tp_end_offset=lambda tp, highwater: None),
        )
        self.scheduler = cast(Any, DefaultSchedulingStrategy)()  # abstract to mypy only
        self._buffered_partitions: set[TP] = set()
        self.put_back: dict[TP, int] = {}
        self._read_offset: defaultdict[TP, int | None] = defaultdict(lambda: None)
        self.seeks: list[tuple[TP, int, object]] = []

    async def _wait_next_records(self, timeout: float) -> tuple[Drained, set[TP]]:
        return self._records, self._active

    def _to_message(self, tp: TP, record: Message) -> Message:
        return record

    def highwater(self, tp: TP) -> int:
        return 0

    def _seek_soon(self, tp: TP, offset: int, within: object) -> bool:
        self.seeks.append((tp, offset, within))
        return True

    def passed(self, between: dict[int, Callable[[], object]] | None = None) -> list[Any]:
        """What ``getmany`` passes on; ``between[i]`` runs after the i-th record passed."""

        async def run() -> list[Any]:
            got = []
            async for tp, message in self.getmany(timeout=1.0):
                got.append((tp.partition, message.offset))
                if between and len(got) in between:
                    between[len(got)]()
            return got

        return asyncio.run(run())


def drained(*batches: list[Message]) -> Drained:
    records = Drained()
    for messages in batches:
        records[TP(messages[0].topic, messages[0].partition)] = messages
    records.assignment = object()
    return records


def test_records_of_a_partition_not_resumed_yet_are_put_back_not_dropped() -> None:
    # The loss of a worker that had just joined: the client handed over the records of a
    # partition Faust's recovery had not resumed yet; Faust dropped them, leaving the
    # partition's position past them, and a new group has no committed offset to go back to.
    records = drained(batch(0, range(5, 8)), batch(1, range(3)))
    getter = Getter(records, active={P1})

    assert sorted(getter.passed()) == [(1, 0), (1, 1), (1, 2)]
    assert getter.seeks == [(P0, 5, records.assignment)]
    assert getter._read_offset[P0] == 5
    assert getter.put_back == {P0: 5}


def test_a_batch_returning_with_flow_stopped_is_put_back_whole() -> None:
    records = drained(batch(0, range(4)), batch(1, range(10, 12)))
    getter = Getter(records, active={P0, P1})
    getter.flow_active = False

    assert getter.passed() == []
    assert sorted(getter.seeks) == [(P0, 0, records.assignment), (P1, 10, records.assignment)]


@pytest.mark.parametrize("change", ["flow", "generation"])
def test_records_after_the_flow_stops_or_the_generation_changes_are_put_back(change: str) -> None:
    records = drained(batch(0, range(4)), batch(1, range(10, 14)))
    getter = Getter(records, active={P0, P1})

    def stop() -> None:
        if change == "flow":
            getter.flow_active = False
        else:
            getter.app.consumer_generation_id = 2

    # Round-robin: (0, 0), (1, 10), (0, 1), then the change.
    assert getter.passed({3: stop}) == [(0, 0), (1, 10), (0, 1)]
    assert sorted(getter.seeks) == [(P0, 2, records.assignment), (P1, 11, records.assignment)]


def test_a_held_partition_passes_none_of_its_later_records_and_keeps_an_earlier_put_back() -> None:
    records = drained(batch(0, range(20, 24)))
    getter = Getter(records, active=set())
    getter.put_back[P0] = 12  # put back already (a feed's clear) while this batch was fetched

    def resumed() -> None:
        getter._active.add(P0)

    assert getter.passed({1: resumed}) == []
    assert getter.seeks == [(P0, 12, records.assignment)]


def test_a_fetch_asks_for_the_active_partitions_live_but_never_for_every_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[bool, bool, bool]] = []
    client = Client({P0})
    taken_from = client._subscription.subscription.assignment
    active = {P0}

    async def fetch_records(
        self: Any, consumer: Any, partitions: Any, timeout: Any = None, max_records: Any = None
    ) -> dict[TP, list[Message]]:
        # As the client reads it while it waits: a resume adds a partition, a revocation
        # empties Faust's set (an empty set would read as "every partition").
        active.add(P1)
        seen.append((bool(partitions), P1 in partitions, P0 in partitions))
        active.clear()
        seen.append((bool(partitions), P1 in partitions, P0 in partitions))
        return {P0: batch(0, [3])}

    monkeypatch.setattr(aiokafka_driver.AIOKafkaConsumerThread, "_fetch_records", fetch_records)
    thread = _ConsumerThread.__new__(_ConsumerThread)

    records = asyncio.run(thread._fetch_records(client, active, 1.0))
    assert seen == [(True, True, True), (True, False, False)]
    assert records == {P0: batch(0, [3])}
    assert getattr(records, "assignment", None) is taken_from
    # Nothing active when the fetch begins: nothing asked.
    assert asyncio.run(thread._fetch_records(client, set(), 1.0)) == {}
    assert len(seen) == 2
