"""Prometheus metrics for the worker, attached as a Faust sensor: agents hold no metric code.

Labels are bounded: a topic is reported by its role (events, commands, results,
deadletters), never by name, since there is one command topic per company file.
"""

from __future__ import annotations

from typing import Any

from faust.sensors import Sensor
from prometheus_client import CollectorRegistry, Counter

from qbsync.settings import TopicSettings

__all__ = ["PipelineSensor"]


class PipelineSensor(Sensor):
    def __init__(self, topics: TopicSettings, registry: CollectorRegistry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._topics = topics
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
