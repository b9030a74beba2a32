"""Kafka adapters (confluent-kafka) and the broker harness used by tests, demo and benchmarks."""

from connectors.kafka._admin import ensure_topics
from connectors.kafka._command_queue import CommandQueue, CommandTopicNotReady, QueuedCommand
from connectors.kafka._dead_letters import DeadLetterFilter, read_dead_letters, replayable
from connectors.kafka._producer import DeliveryFailed, RecordProducer

__all__ = [
    "CommandQueue",
    "CommandTopicNotReady",
    "DeadLetterFilter",
    "DeliveryFailed",
    "QueuedCommand",
    "RecordProducer",
    "ensure_topics",
    "read_dead_letters",
    "replayable",
]
