"""Session writes made at the same time share one transaction on SQLite (one sync of its
write-ahead log instead of one each); each caller still returns once its own write is
committed, and a write that fails in a shared transaction fails alone. (PostgreSQL writes
side by side: nothing is shared there.)"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

from connectors.store import Store, upgrade
from tests.support.profiles import a_profile
from tests.support.threads import joined, started
from tests.support.waiting import until

TTL = timedelta(minutes=5)
FILES = ("f0", "f1", "f2", "f3")


def _store(url: str) -> Store:
    upgrade(url)
    store = Store(url)
    store.add_profiles([a_profile(file, name=f"File {file}") for file in FILES])
    for file in FILES:
        store.open_session(file, f"ticket-{file}", TTL)
    return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    value = _store(f"sqlite:///{tmp_path / 'qbsync.db'}")
    yield value
    value.close()


def _commits(store: Store) -> list[int]:
    counted: list[int] = []
    event.listen(store.engine, "commit", lambda _connection: counted.append(1))
    return counted


def test_writes_made_while_the_file_is_busy_share_the_next_transaction(store: Store) -> None:
    commits = _commits(store)
    # Another transaction of the process holds the file: the first write waits for it
    # (alone: nothing else was queued when it began), the three made meanwhile queue.
    with store.serial:
        writes = [
            started(lambda f=file, n=n: store.update_session(f"ticket-{f}", TTL, settled=n))
            for n, file in enumerate(FILES, start=10)
        ]
        until(lambda: store.waiting_session_writes == 3, what="three writes queued")
        assert commits == []  # none is committed while the file is held
    joined(*(thread for thread, _ in writes))
    assert all(raised == [] for _, raised in writes)
    assert len(commits) == 2  # the first alone, then the other three together
    settled = {}
    for file in FILES:
        row = store.live_session(f"ticket-{file}")
        assert row is not None
        settled[file] = row.settled
    assert settled == {"f0": 10, "f1": 11, "f2": 12, "f3": 13}


def test_a_write_that_fails_in_a_shared_transaction_fails_alone(store: Store) -> None:
    """A value the database cannot take (a JSON column given what JSON cannot hold) fails
    the shared transaction; the writes are then made one by one, so the others are
    committed and only the bad one's caller hears of it."""
    commits = _commits(store)
    with store.serial:
        writes = [
            started(lambda f=file: store.update_session(f"ticket-{f}", TTL, settled=7))
            for file in FILES[:3]
        ]
        until(lambda: store.waiting_session_writes == 2, what="two writes queued")
        bad = started(lambda: store.update_session("ticket-f3", TTL, in_flight={"x": object()}))
        until(lambda: store.waiting_session_writes == 3, what="the bad one queued with them")
    joined(*(thread for thread, _ in [*writes, bad]))
    assert all(raised == [] for _, raised in writes)
    (error,) = bad[1]
    assert "object" in str(error)  # the serializer's complaint, not another write's
    assert len(commits) == 3  # the first alone; the shared one rolled back; two alone again
    for file in FILES[:3]:
        row = store.live_session(f"ticket-{file}")
        assert row is not None
        assert row.settled == 7
    row = store.live_session("ticket-f3")
    assert row is not None
    assert row.in_flight is None
