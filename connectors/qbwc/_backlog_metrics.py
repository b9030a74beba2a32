"""The company files' backlog as distributions, for ``/metrics`` (docs/operations.md).

Labels stay bounded: thousands of files become histogram buckets (files by commands waiting,
files by the age of their oldest waiting command) and one gauge for the oldest of all; never
a file or tenant id. Kafka is read at most every ``interval_s``, in bulk
(:class:`connectors.kafka.BacklogReader`); a scrape in between answers from the last read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Protocol

from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from connectors.kafka import FileBacklog

__all__ = [
    "AGE_BUCKETS_S",
    "SIZE_BUCKETS",
    "BacklogCollector",
    "BacklogSummary",
    "summarise_backlog",
]

log = logging.getLogger(__name__)

# Upper bounds (inclusive) of the files-by-backlog buckets: idle, one command, a session's
# batch, ... a backfill.
SIZE_BUCKETS: Final = (0, 1, 25, 100, 1_000, 10_000)
# Ages of a file's oldest waiting command: one schedule (minutes) ... a week.
AGE_BUCKETS_S: Final = (60, 300, 900, 3_600, 4 * 3_600, 24 * 3_600, 7 * 24 * 3_600)


@dataclass(frozen=True)
class BacklogSummary:
    """Cumulative bucket counts (Prometheus histogram style) and totals."""

    files: int
    commands: int
    by_size: tuple[tuple[float, int], ...]
    with_backlog: int
    age_sum_s: float
    by_age: tuple[tuple[float, int], ...]
    oldest_age_s: float


def _cumulative(values: Sequence[float], bounds: Sequence[float]) -> tuple[tuple[float, int], ...]:
    return (
        *((float(bound), sum(1 for v in values if v <= bound)) for bound in bounds),
        (float("inf"), len(values)),
    )


def summarise_backlog(backlogs: Sequence[FileBacklog], now: datetime) -> BacklogSummary:
    """Files by commands waiting; files with a backlog by the age of their oldest command."""
    sizes = [b.waiting for b in backlogs]
    ages = [
        max(0.0, (now - b.oldest_at).total_seconds())
        for b in backlogs
        if b.waiting > 0 and b.oldest_at is not None
    ]
    return BacklogSummary(
        files=len(backlogs),
        commands=sum(sizes),
        by_size=_cumulative(sizes, SIZE_BUCKETS),
        with_backlog=len(ages),
        age_sum_s=sum(ages),
        by_age=_cumulative(ages, AGE_BUCKETS_S),
        oldest_age_s=max(ages, default=0.0),
    )


class _Reader(Protocol):
    def read(self, topics: Sequence[str]) -> list[FileBacklog]: ...


def _bucket(bound: float) -> str:
    # As the client library writes its own buckets: 0.0, 25.0, +Inf.
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


class BacklogCollector(Collector):
    """``qbsync_file_backlog_commands``, ``qbsync_file_oldest_command_age_seconds``,
    ``qbsync_oldest_command_age_seconds``, ``qbsync_kafka_up``."""

    def __init__(
        self,
        reader: _Reader,
        topics: Callable[[], Sequence[str]],
        *,
        interval_s: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._topics = topics
        self._interval = interval_s
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._read_at = -float("inf")
        self._summary: BacklogSummary | None = None
        self._up = 0

    def _refresh(self) -> None:
        with self._lock:
            if self._monotonic() - self._read_at < self._interval:
                return
            self._read_at = self._monotonic()
            try:
                topics = self._topics()
            except Exception as exc:  # the store is down: /readyz says so; keep the last read
                log.warning("backlog not read", extra={"error": type(exc).__name__})
                return
            try:
                backlogs = self._reader.read(topics)
            except Exception as exc:  # a broker outage is a metric, never a failed scrape
                log.warning("backlog not read", extra={"error": type(exc).__name__})
                self._up = 0
                return
            self._up = 1
            self._summary = summarise_backlog(backlogs, self._clock())

    def collect(self) -> Iterator[Metric]:
        self._refresh()
        up = GaugeMetricFamily(
            "qbsync_kafka_up",
            "1 when the last read of the company files' backlog reached the broker, else 0.",
            value=self._up,
        )
        yield up
        summary = self._summary
        if summary is None:
            return
        yield HistogramMetricFamily(
            "qbsync_file_backlog_commands",
            "Company files by commands waiting for their Web Connector (enabled files);"
            " _sum is all commands waiting.",
            buckets=[(_bucket(b), n) for b, n in summary.by_size],
            sum_value=summary.commands,
        )
        yield HistogramMetricFamily(
            "qbsync_file_oldest_command_age_seconds",
            "Company files with a backlog, by the age of their oldest waiting command.",
            buckets=[(_bucket(b), n) for b, n in summary.by_age],
            sum_value=summary.age_sum_s,
        )
        yield GaugeMetricFamily(
            "qbsync_oldest_command_age_seconds",
            "Age of the oldest command any company file has waiting; 0 when none waits.",
            value=summary.oldest_age_s,
        )
