"""Kafka adapters (confluent-kafka) and the broker harness used by tests, demo and benchmarks."""

from connectors.kafka._admin import ensure_topics
from connectors.kafka._backlog import BacklogReader, FileBacklog
from connectors.kafka._command_queue import CommandQueue, QueuedCommand
from connectors.kafka._dead_letters import DeadLetterFilter, read_dead_letters, replayable
from connectors.kafka._producer import RecordProducer

__all__ = [
    "BacklogReader",
    "CommandQueue",
    "DeadLetterFilter",
    "FileBacklog",
    "QueuedCommand",
    "RecordProducer",
    "ensure_topics",
    "read_dead_letters",
    "replayable",
]
