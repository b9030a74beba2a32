"""A Kafka message as the worker's steps see one (topic, partition, offset, key, value)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Message"]


@dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
