"""Prometheus metrics for the worker, attached as a Faust sensor: agents hold no metric code.

Labels are bounded: a topic is reported by its role (events, commands, results,
deadletters), never by name, since there is one command topic per company file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from faust.sensors import Sensor
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from qbsync.settings import TopicSettings

__all__ = ["PipelineSensor"]


class Counts(Protocol):
    def counts(self) -> dict[str, int]: ...


class _ParkedCollector(Collector):
    """``qbsync_worker_parked{kind}``, read from the parking lot at scrape time."""

    def __init__(self, lot: Counts) -> None:
        self._lot = lot

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "qbsync_worker_parked",
            "Entries in this worker's parking table: waiting for a dependency, paused"
            " (integration off), or retry (a command to send again after backoff).",
            labels=["kind"],
        )
        for kind, count in sorted(self._lot.counts().items()):
            family.add_metric([kind], count)
        yield family


class PipelineSensor(Sensor):
    def __init__(self, topics: TopicSettings, registry: CollectorRegistry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._topics = topics
        self._registry = registry
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

    def watch(self, lot: Counts) -> None:
        """Report the parking lot's size by kind."""
        self._registry.register(_ParkedCollector(lot))

    def role(self, topic: str) -> str:
        if topic == self._topics.events:
            return "events"
        if topic == self._topics.results:
            return "results"
        if topic == self._topics.dead_letters:
            return "deadletters"
        if topic.startswith(self._topics.commands("")):
            return "commands"
        return "other"

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        self.messages_in.labels(self.role(tp.topic)).inc()

    def on_send_initiated(
        self, producer: Any, topic: str, message: Any, keysize: int, valsize: int
    ) -> Any:
        return topic

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        self.messages_out.labels(self.role(str(state))).inc()

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        self.send_errors.inc()
