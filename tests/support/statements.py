"""Counting the SQL statements a piece of the system runs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

__all__ = ["counting_statements", "counting_transactions"]


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Every SQL statement any engine of this process runs meanwhile."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)


@contextmanager
def counting_transactions() -> Iterator[list[list[str]]]:
    """Every transaction any engine of this process commits meanwhile, as its statements
    in order (a statement outside any committed transaction is not listed). A statement
    run in autocommit is a transaction of its own."""
    committed: list[list[str]] = []
    open_: dict[int, list[str]] = {}

    def record(connection: Any, *args: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            committed.append([str(args[1])])
            return
        open_.setdefault(id(connection), []).append(str(args[1]))

    def commit(connection: Any) -> None:
        committed.append(open_.pop(id(connection), []))

    def rollback(connection: Any) -> None:
        open_.pop(id(connection), None)

    event.listen(Engine, "before_cursor_execute", record)
    event.listen(Engine, "commit", commit)
    event.listen(Engine, "rollback", rollback)
    try:
        yield committed
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        event.remove(Engine, "commit", commit)
        event.remove(Engine, "rollback", rollback)
