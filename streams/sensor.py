"""Prometheus metrics for the worker, attached as a Faust sensor: agents hold no metric code.

Labels are bounded: a topic is reported by its role (events, commands, results, imports,
deadletters), never by name, since there is one command topic per company file; lag by
agent; dead letters by code and category (catalogued codes, not ids). docs/operations.md
lists every family and the question it answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from faust.sensors import Sensor
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from core.build_info import register_process_metrics
from core.settings import TopicSettings

__all__ = [
    "AGENTS",
    "LATENCY_BUCKETS_S",
    "ConsumerView",
    "FaustConsumer",
    "PipelineSensor",
    "Readiness",
    "ready",
]

# The agent that reads each input role.
AGENTS: Final = {"events": "translate", "results": "settle", "imports": "reconcile"}
# Event published -> QuickBooks answered: one Web Connector schedule is minutes; a file
# offline for the weekend is days.
LATENCY_BUCKETS_S: Final = (
    5,
    15,
    30,
    60,
    120,
    300,
    600,
    1_800,
    3_600,
    4 * 3_600,
    24 * 3_600,
    3 * 24 * 3_600,
)


class Counts(Protocol):
    def counts(self) -> dict[str, int]: ...


class ConsumerView(Protocol):
    """What the metrics read from Faust's consumer."""

    def assignment(self) -> Any: ...

    def highwater(self, tp: Any) -> int | None: ...

    def committed(self, tp: Any) -> int | None: ...


class FaustConsumer:
    """:class:`ConsumerView` of a running Faust app's consumer."""

    def __init__(self, app: Any) -> None:
        self._app = app

    def assignment(self) -> Any:
        return self._app.consumer.assignment()

    def highwater(self, tp: Any) -> int | None:
        value = self._app.consumer.highwater(tp)
        return value if isinstance(value, int) else None

    def committed(self, tp: Any) -> int | None:
        # Faust's own record of what it committed (no public accessor): the position of a
        # partition this worker has not read from since it was assigned.
        value = self._app.consumer._committed_offset.get(tp)
        return value if isinstance(value, int) else None


class _ParkedCollector(Collector):
    """``qbsync_worker_parked{kind}``, read from the parking lot at scrape time."""

    def __init__(self, lot: Counts) -> None:
        self._lot = lot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "qbsync_worker_parked",
            "Entries in this worker's parking table by reason: waiting (for a dependency),"
            " paused (integration off), retry (a command to send again after backoff).",
            labels=["kind"],
        )
        counts = self._lot.counts()
        for kind in sorted({"waiting", "paused", "retry", *counts}):
            family.add_metric([kind], counts.get(kind, 0))
        yield family
        yield GaugeMetricFamily(
            "qbsync_worker_retries_waiting",
            "Commands QuickBooks refused for a passing reason, waiting for their backoff.",
            value=counts.get("retry", 0),
        )


@dataclass(frozen=True)
class Readiness:
    ready: bool
    reason: str


def ready(*, assigned: int, lag: int, idle_s: float, started_s: float, stall_s: float) -> Readiness:
    """Whether a worker makes progress: it holds partitions (after a start-up grace of
    ``stall_s``), and it has read something within ``stall_s`` whenever work is waiting.
    An idle worker with nothing to read is ready; one with lag that reads nothing is stuck."""
    if assigned == 0:
        if started_s < stall_s:
            return Readiness(True, "starting")
        return Readiness(False, "no partitions assigned")
    if lag > 0 and idle_s > stall_s:
        return Readiness(False, f"{lag} messages waiting, nothing read for {idle_s:.0f}s")
    return Readiness(True, "ok")


class PipelineSensor(Sensor):
    """Faust's hooks (messages in and out) plus the pipeline's observer (dead letters,
    latency); the consumer's lag and the parking lot are read at scrape time."""

    def __init__(self, topics: TopicSettings, registry: CollectorRegistry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._topics = topics
        self._registry = registry
        self._consumer: Callable[[], ConsumerView | None] = lambda: None
        self._position: dict[Any, int] = {}
        self._created = time.monotonic()
        self._progress = time.monotonic()
        self.messages_in = Counter(
            "qbsync_worker_messages_in_total",
            "Messages the worker read, by topic role.",
            ["role"],
            registry=registry,
        )
        self.messages_out = Counter(
            "qbsync_worker_messages_out_total",
            "Messages the worker produced, by topic role.",
            ["role"],
            registry=registry,
        )
        self.send_errors = Counter(
            "qbsync_worker_send_errors_total",
            "Messages the worker failed to produce.",
            registry=registry,
        )
        self.dead_letters = Counter(
            "qbsync_dead_letters_total",
            "Records the worker put on the dead-letter topic, by code (a QuickBooks status"
            " code or qbsync's own, e.g. undecodable) and category.",
            ["code", "category"],
            registry=registry,
        )
        self.latency = Histogram(
            "qbsync_event_to_quickbooks_seconds",
            "From an event's occurred_at to QuickBooks' answer to its command (success).",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        register_process_metrics(registry)
        registry.register(_LagCollector(self))

    # -- wiring -------------------------------------------------------------------------

    def watch(self, lot: Counts) -> None:
        """Report the parking lot's size by kind."""
        self._registry.register(_ParkedCollector(lot))

    def watch_consumer(self, consumer: Callable[[], ConsumerView | None]) -> None:
        """Read lag and progress from this consumer (Faust's, once the app has one)."""
        self._consumer = consumer

    def role(self, topic: str) -> str:
        if topic == self._topics.events:
            return "events"
        if topic == self._topics.results:
            return "results"
        if topic == self._topics.imports:
            return "imports"
        if topic == self._topics.dead_letters:
            return "deadletters"
        if topic.startswith(self._topics.commands("")):
            return "commands"
        return "other"

    # -- lag and readiness --------------------------------------------------------------

    def lag_by_agent(self) -> tuple[int, dict[str, int]]:
        """Partitions assigned to the agents, and messages waiting in them, by agent."""
        lags = dict.fromkeys(AGENTS.values(), 0)
        consumer = self._consumer()
        if consumer is None:
            return 0, lags
        assigned = 0
        for tp in consumer.assignment():
            agent = AGENTS.get(self.role(tp.topic))
            if agent is None:
                continue
            assigned += 1
            end = consumer.highwater(tp)
            position = self._position.get(tp)
            if position is None:
                position = consumer.committed(tp)
            if end is not None and position is not None:
                lags[agent] += max(0, end - position)
        return assigned, lags

    def readiness(self, stall_s: float) -> Readiness:
        assigned, lags = self.lag_by_agent()
        now = time.monotonic()
        return ready(
            assigned=assigned,
            lag=sum(lags.values()),
            idle_s=now - self._progress,
            started_s=now - self._created,
            stall_s=stall_s,
        )

    # -- Faust's hooks ------------------------------------------------------------------

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.messages_in.labels(self.role(tp.topic)).inc()
        self._position[tp] = offset + 1
        self._progress = time.monotonic()

    def on_rebalance_end(self, app: Any, state: Any) -> None:
        # A new assignment starts the clock again: positions of partitions moved elsewhere
        # are forgotten, and the new ones are judged from now.
        self._position.clear()
        self._progress = time.monotonic()

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        return topic

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.messages_out.labels(self.role(str(state))).inc()

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.send_errors.inc()

    def delivered(self, topic: str, acknowledged: bool, count: int = 1) -> None:
        """Records of the app's own producer (streams.app) settled by the broker."""
        if acknowledged:
            self.messages_out.labels(self.role(topic)).inc(count)
        else:
            self.send_errors.inc(count)

    # -- the pipeline's observer --------------------------------------------------------

    def dead_lettered(self, code: str, category: str) -> None:
        self.dead_letters.labels(code, category).inc()

    def settled(self, occurred_at: datetime, answered_at: datetime) -> None:
        self.latency.observe(max(0.0, (answered_at - occurred_at).total_seconds()))


class _LagCollector(Collector):
    def __init__(self, sensor: PipelineSensor) -> None:
        self._sensor = sensor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        assigned, lags = self._sensor.lag_by_agent()
        lag = GaugeMetricFamily(
            "qbsync_worker_consumer_lag_messages",
            "Messages waiting in this worker's assigned partitions, by agent (translate:"
            " events, settle: results, reconcile: imports).",
            labels=["agent"],
        )
        for agent, waiting in sorted(lags.items()):
            lag.add_metric([agent], waiting)
        yield lag
        yield GaugeMetricFamily(
            "qbsync_worker_assigned_partitions",
            "Partitions of the agents' topics assigned to this worker.",
            value=assigned,
        )
