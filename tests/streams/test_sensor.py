"""Pure rules behind the metrics: when a worker is ready, how files become buckets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.kafka import FileBacklog
from connectors.qbwc._backlog_metrics import BacklogCollector, summarise_backlog
from streams.sensor import ready

NOW = datetime(2026, 12, 2, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("assigned", "lag", "idle_s", "started_s", "expected"),
    [
        (0, 0, 0, 10, True),  # just started, no assignment yet: give it the grace period
        (0, 0, 0, 500, False),  # never got a partition
        (6, 0, 3_600, 3_600, True),  # idle for an hour with nothing to read: fine
        (6, 40, 30, 3_600, True),  # work waiting, read something recently
        (6, 40, 500, 3_600, False),  # work waiting, nothing read for too long: stuck
    ],
)
def test_readiness_fails_only_for_a_stuck_or_unassigned_consumer(
    assigned: int, lag: int, idle_s: float, started_s: float, expected: bool
) -> None:
    verdict = ready(assigned=assigned, lag=lag, idle_s=idle_s, started_s=started_s, stall_s=120)
    assert verdict.ready is expected
    assert verdict.reason


def test_files_become_cumulative_buckets_and_the_oldest_command_is_found() -> None:
    files = [
        FileBacklog("a", 0, None),
        FileBacklog("b", 1, NOW - timedelta(seconds=30)),
        FileBacklog("c", 30, NOW - timedelta(hours=2)),
        FileBacklog("d", 5_000, NOW - timedelta(days=2)),
    ]
    summary = summarise_backlog(files, NOW)
    assert (summary.files, summary.commands, summary.with_backlog) == (4, 5_031, 3)
    assert dict(summary.by_size) == {
        0: 1,
        1: 2,
        25: 2,
        100: 3,
        1_000: 3,
        10_000: 4,
        float("inf"): 4,
    }
    by_age = dict(summary.by_age)
    assert (by_age[60], by_age[3_600], by_age[4 * 3_600], by_age[7 * 24 * 3_600]) == (1, 1, 2, 3)
    assert summary.oldest_age_s == 2 * 24 * 3_600


def test_no_files_is_an_empty_distribution_not_an_error() -> None:
    summary = summarise_backlog([], NOW)
    assert (summary.files, summary.commands, summary.oldest_age_s) == (0, 0, 0.0)
    assert dict(summary.by_size)[float("inf")] == 0


class _Reader:
    def __init__(self, answer: list[FileBacklog] | Exception) -> None:
        self.answer = answer
        self.calls = 0

    def read(self, topics: object) -> list[FileBacklog]:
        self.calls += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def _samples(collector: BacklogCollector) -> dict[str, float]:
    return {s.name: s.value for family in collector.collect() for s in family.samples}


def test_the_backlog_is_read_at_most_once_per_interval_and_an_outage_is_a_metric() -> None:
    reader = _Reader([FileBacklog("a", 2, NOW - timedelta(minutes=5))])
    collector = BacklogCollector(reader, lambda: ["a"], interval_s=3_600, clock=lambda: NOW)
    first = _samples(collector)
    assert (first["qbsync_kafka_up"], first["qbsync_oldest_command_age_seconds"]) == (1, 300)
    assert _samples(collector) == first
    assert reader.calls == 1  # the second scrape answered from the last read

    down = BacklogCollector(
        _Reader(ConnectionError("broker")), lambda: ["a"], interval_s=0.001, clock=lambda: NOW
    )
    assert _samples(down) == {"qbsync_kafka_up": 0}


def test_a_store_outage_does_not_claim_the_broker_is_down() -> None:
    answers: list[list[str] | Exception] = [["a"], OSError("database unreachable")]

    def topics() -> list[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    ticks = iter(range(0, 1_000, 60))  # each look at the clock: a minute later
    reader = _Reader([FileBacklog("a", 1, NOW)])
    collector = BacklogCollector(
        reader, topics, interval_s=30, clock=lambda: NOW, monotonic=lambda: next(ticks)
    )
    assert _samples(collector)["qbsync_kafka_up"] == 1
    assert _samples(collector)["qbsync_kafka_up"] == 1  # the store failed, not the broker
    assert reader.calls == 1
