"""A command as read from a company file's topic (shared by the queue and its read-ahead)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["QueuedCommand"]


@dataclass(frozen=True)
class QueuedCommand:
    offset: int
    key: bytes | None
    value: bytes
