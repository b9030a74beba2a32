"""Kafka adapters (confluent-kafka): producer, admin, command queues, topic readers. The broker
harness of the tests, demo and benchmarks is the shell's (:mod:`qbsync.brokers`)."""

from connectors.kafka._admin import (
    ConfigChange,
    TopicSpec,
    command_topic_spec,
    ensure_command_topics,
    ensure_topics,
    reconcile_topics,
)
from connectors.kafka._backlog import BacklogReader, FileBacklog
from connectors.kafka._command_queue import CommandQueue, CommandTopicNotReady, QueuedCommand
from connectors.kafka._dead_letters import (
    DeadLetterFilter,
    LetterAt,
    LetterWindow,
    read_dead_letter_at,
    read_dead_letter_window,
    read_dead_letters,
    replayable,
)
from connectors.kafka._drain import (
    CommandBacklog,
    CommandSource,
    CompanyDrain,
    DrainConfig,
    Outgoing,
    RecordSink,
    undecodable,
)
from connectors.kafka._producer import (
    AsyncProducer,
    DeliveryFailed,
    ProduceError,
    ProducerPool,
    RecordProducer,
)
from connectors.kafka._topic_reader import TopicMessage, read_topic
from connectors.kafka._work_index import WorkIndex

__all__ = [
    "AsyncProducer",
    "BacklogReader",
    "CommandBacklog",
    "CommandQueue",
    "CommandSource",
    "CommandTopicNotReady",
    "CompanyDrain",
    "ConfigChange",
    "DeadLetterFilter",
    "DeliveryFailed",
    "DrainConfig",
    "FileBacklog",
    "LetterAt",
    "LetterWindow",
    "Outgoing",
    "ProduceError",
    "ProducerPool",
    "QueuedCommand",
    "RecordProducer",
    "RecordSink",
    "TopicMessage",
    "TopicSpec",
    "WorkIndex",
    "command_topic_spec",
    "ensure_command_topics",
    "ensure_topics",
    "read_dead_letter_at",
    "read_dead_letter_window",
    "read_dead_letters",
    "read_topic",
    "reconcile_topics",
    "replayable",
    "undecodable",
]
