"""The feed's promise when Faust's flow control clears it (a rebalance, the end of a table's
recovery): every fetched message it forgets is fetched again, from the first forgotten
offset of each partition. The CI failure this pins: a restarted worker fetched an event
while its parked table recovered, the feed was cleared, and the partition (no committed
offset yet) was never sought back, so the event waited for the next restart.

Unit tests of the feed's own logic, with a stand-in for Faust's consumer (the seek itself
is the Kafka client's; tests/streams/test_worker.py runs the real thing)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from faust.types import TP

from streams._feed import Feed, ramp


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
    cleared: dict[TP, int] = field(default_factory=dict)  # FeedConsumer's, as the clear sets it

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
    # Kept for the fetch loop: a message it holds after this (later in the batch it was
    # iterating when the rebalance began) must not move a partition past these.
    assert consumer.cleared == {TP("events", 0): 7, TP("events", 1): 3}


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
