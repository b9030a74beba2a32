"""A Web Connector session updated while another call takes it over (SQLite, PostgreSQL).

The gateway updates its session on every call. When the Web Connector gives up on a slow
call and authenticates again, its new session takes the file over and deletes the old row
while the old call is still running. Read first and written after, the old call's update
then matched no row and raised StaleDataError: a SOAP "Internal Error". The takeover is
made to happen exactly between the update's start and its write, by the database's own
event hook, so the race is reproduced every time, not by luck.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from connectors.store import Store, StoreError, upgrade
from tests.support.profiles import a_profile

TTL = timedelta(minutes=5)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    value = Store(database_url)
    value.add_profile(a_profile("sharedco", name="Shared Co", username="user-1"))
    yield value
    value.close()


def test_a_session_taken_over_during_its_update_is_left_alone(store: Store) -> None:
    store.open_session("sharedco", "old", TTL, client="wc-1")
    taken_over: list[str] = []

    def before_write(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if taken_over or not statement.lstrip().upper().startswith("UPDATE QBWC_SESSIONS"):
            return
        # The same Web Connector authenticates again, on another connection, right now.
        taken_over.append(store.open_session("sharedco", "new", TTL, client="wc-1").ticket_hash)

    event.listen(store.engine, "before_cursor_execute", before_write)
    try:
        store.update_session("old", TTL, in_flight=None, last_error="late answer")
    finally:
        event.remove(store.engine, "before_cursor_execute", before_write)

    assert taken_over == ["new"]
    assert store.live_session("old") is None
    new = store.live_session("new")
    assert new is not None
    assert new.last_error is None  # the old call's words did not land on the new session


def test_an_update_changes_the_fields_and_extends_the_life(store: Store) -> None:
    opened = store.open_session("sharedco", "hash-a", timedelta(seconds=30))
    store.update_session(
        "hash-a", TTL, in_flight={"next_offset": 4}, settled=2, failed_keys=["t:customer:1"]
    )
    row = store.live_session("hash-a")
    assert row is not None
    assert row.in_flight == {"next_offset": 4}
    assert (row.settled, row.failed_keys) == (2, ["t:customer:1"])
    extended = row.expires_at.replace(tzinfo=UTC) - opened.expires_at.replace(tzinfo=UTC)
    assert extended > timedelta(minutes=4)
    store.update_session("hash-a", TTL, in_flight=None)
    row = store.live_session("hash-a")
    assert row is not None
    assert row.in_flight is None


def test_an_unknown_field_is_named(store: Store) -> None:
    store.open_session("sharedco", "hash-a", TTL)
    with pytest.raises(StoreError, match=r"no field.*in_flite"):
        store.update_session("hash-a", TTL, in_flite={})
