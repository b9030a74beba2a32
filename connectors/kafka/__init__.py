"""Kafka adapters (confluent-kafka) and the broker harness used by tests, demo and benchmarks."""

from connectors.kafka._admin import ensure_topics
from connectors.kafka._command_queue import CommandQueue, QueuedCommand
from connectors.kafka._dead_letters import DeadLetterFilter, read_dead_letters, replayable
from connectors.kafka._producer import DeliveryFailed, RecordProducer
from connectors.kafka._work_index import WorkIndex

__all__ = [
    "CommandQueue",
    "DeadLetterFilter",
    "DeliveryFailed",
    "QueuedCommand",
    "RecordProducer",
    "WorkIndex",
    "ensure_topics",
    "read_dead_letters",
    "replayable",
]
