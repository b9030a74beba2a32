"""A SELECT's row read as one column on SQLite: the row's values in one JSON array.

Why: CPython's ``sqlite3`` lets go of the GIL around every column of every row it fetches
(``_pysqlite_fetch_one_row`` asks ``sqlite3_column_type`` with the GIL released). A
gateway reads its session's row, 13 columns, on every Web Connector call; among 8 busy
request threads each release is a hand-off of the GIL, so that one read was ~13 of the
~58 a call left after the message was read as one document (docs/gateway-scale.md,
"The session's row read as one column on SQLite"). Packed by SQLite's ``json_array`` and
unpacked by one C call, the row costs one.

Each value then goes through the result processor its column's type has on the engine's
dialect, as SQLAlchemy applies it to a plain row: a date and time column is read back from
the same text, a JSON column from the same JSON text, so the values equal those of the
plain SELECT (tests/connectors/store/test_packed.py compares them). PostgreSQL's driver
keeps the GIL while it reads a row: there, read the plain SELECT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Label, Select, func
from sqlalchemy.engine import Connection, Dialect

__all__ = ["PackedRow"]


class PackedRow:
    """``statement``'s one row as a mapping of its column names to values, read as one
    JSON array (SQLite's ``json_array``). Only for columns whose values SQLite's JSON
    represents exactly: text, integers, NULL (a BLOB is refused by ``json_array``, a REAL
    would be read back through its decimal text)."""

    def __init__(self, statement: Select[Any], dialect: Dialect) -> None:
        columns: list[ColumnElement[Any]] = list(statement.selected_columns)
        names = [column.key for column in columns]
        if None in names or len(set(names)) != len(names):
            raise ValueError(f"a packed row's columns need names, each once: {names}")
        self.names: tuple[str, ...] = tuple(str(name) for name in names)
        # A label names the value in the row; inside json_array only its expression counts.
        values = [c.element if isinstance(c, Label) else c for c in columns]
        self.statement = statement.with_only_columns(
            func.json_array(*values), maintain_column_froms=True
        )
        self._processors: tuple[Callable[[Any], Any] | None, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    def first(self, connection: Connection, params: dict[str, Any]) -> dict[str, Any] | None:
        """The first row's values by column name, or None when there is no row."""
        packed = connection.execute(self.statement, params).scalar()
        if packed is None:
            return None
        values = orjson.loads(packed)
        return {
            name: value if process is None else process(value)
            for name, process, value in zip(self.names, self._processors, values, strict=True)
        }
