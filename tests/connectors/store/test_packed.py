"""A SELECT's row read as one JSON column on SQLite (connectors.store._packed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.engine import Engine

from connectors.store import Store, upgrade
from connectors.store._packed import PackedRow
from tests.support.profiles import a_profile

_METADATA = MetaData()
_ROWS = Table(
    "rows",
    _METADATA,
    Column("id", String(10), primary_key=True),
    Column("number", Integer),
    Column("at", DateTime),
    Column("doc", JSON),
    Column("note", Text),
)
_BY_ID = select(
    _ROWS.c.id,
    _ROWS.c.number,
    _ROWS.c.at,
    _ROWS.c.doc,
    _ROWS.c.note,
    sql_cast(_ROWS.c.doc, Text).label("doc_text"),
).where(_ROWS.c.id == bindparam("id"))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    value = create_engine(f"sqlite:///{tmp_path / 'packed.db'}")
    _METADATA.create_all(value)
    yield value
    value.dispose()


def test_a_packed_row_is_the_plain_rows_values(engine: Engine) -> None:
    """Each value as the plain SELECT reads it: times through their text, JSON parsed,
    NULL as None, the largest 64-bit integer exact, text with every kind of escape."""
    awkward = 'q "x" \\ \n\t \x01 \u2028 Zoë 𝄞'
    rows: list[dict[str, Any]] = [
        {
            "id": "full",
            "number": 2**63 - 1,
            "at": datetime(2026, 12, 7, 23, 59, 59, 999999),
            "doc": {"list": [awkward, 0.1, None, True], "n": -(2**53) - 1},
            "note": awkward,
        },
        {"id": "empty", "number": None, "at": None, "doc": None, "note": None},
        {"id": "blank", "number": 0, "at": datetime(2000, 1, 1), "doc": [], "note": ""},
    ]
    with engine.begin() as connection:
        connection.execute(insert(_ROWS), rows)
    packed = PackedRow(_BY_ID, engine.dialect)
    with engine.connect() as connection:
        for row in rows:
            plain = connection.execute(_BY_ID, {"id": row["id"]}).one()._asdict()
            read = packed.first(connection, {"id": row["id"]})
            assert read is not None
            assert read == plain
            assert {name: read[name] for name in row} == row
            assert [type(v) for v in read.values()] == [type(v) for v in plain.values()]
        assert packed.first(connection, {"id": "none"}) is None


def test_a_packed_row_needs_each_column_named_once(engine: Engine) -> None:
    twice = select(_ROWS.c.id, _ROWS.c.note.label("id"))
    with pytest.raises(ValueError, match="each once"):
        PackedRow(twice, engine.dialect)


def test_the_gateways_per_call_read_fetches_one_column_on_sqlite(tmp_path: Path) -> None:
    """What the packing is for: the driver fetches one column, not the row's thirteen."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    store = Store(url)
    fetched: list[int] = []

    def described(_conn: Any, cursor: Any, *_args: Any) -> None:
        fetched.append(len(cursor.description or ()))

    try:
        store.add_profile(a_profile("sharedco"))
        store.open_session("sharedco", "hash-a", timedelta(minutes=5))
        event.listen(Engine, "after_cursor_execute", described)
        try:
            working = store.working_session("hash-a")
        finally:
            event.remove(Engine, "after_cursor_execute", described)
    finally:
        store.close()
    assert working is not None
    assert working.row.profile_id == "sharedco"
    assert fetched == [1]
