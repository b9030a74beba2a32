"""The store's connection pool keeps what it was asked to keep, on SQLite as on PostgreSQL:
the gateway asks for one kept connection per request thread, and a connection closed on
give-back is opened again (with its PRAGMAs) by the next busy call. On SQLite, the
write transactions of one process take turns on a lock of their own; reads do not wait."""

from __future__ import annotations

import threading
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text

from connectors.store import ConsoleStore, Store, make_engine, upgrade
from tests.support.profiles import a_profile


def _connections_opened_by_two_busy_rounds(url: str, threads: int) -> list[int]:
    engine = make_engine(url, pool_size=threads, max_overflow=4)
    opened: list[int] = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    counts: list[int] = []
    try:
        for _ in range(2):
            before = len(opened)
            barrier = threading.Barrier(threads)

            def busy(barrier: threading.Barrier) -> None:
                with engine.connect() as connection:
                    barrier.wait(timeout=30)  # every thread holds a connection at once
                    connection.execute(text("SELECT 1"))

            workers = [threading.Thread(target=busy, args=(barrier,)) for _ in range(threads)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            counts.append(len(opened) - before)
    finally:
        engine.dispose()
    return counts


def test_a_sqlite_store_keeps_the_connections_it_was_asked_to_keep(tmp_path: Path) -> None:
    opened = _connections_opened_by_two_busy_rounds(f"sqlite:///{tmp_path / 's.db'}", 12)
    assert opened == [12, 0]


def test_an_in_memory_sqlite_url_still_makes_an_engine() -> None:
    engine = make_engine("sqlite://", pool_size=16, max_overflow=10)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def _hold(transaction: Any, inside: threading.Event, leave: threading.Event) -> None:
    with transaction():
        inside.set()
        leave.wait(timeout=30)


def test_a_sqlite_stores_transactions_take_turns_within_a_process(tmp_path: Path) -> None:
    """SQLite has one writer; a thread finding the file locked sleeps in SQLite's busy
    handler (pauses growing to 100 ms) past the moment it is free, which was the gateway's
    p99. A transaction of the store, or of tables on its engine (the console's), holds the
    store's lock: the next thread waits on the lock and goes as soon as it is released."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    store = Store(url)
    console = ConsoleStore(store)
    lock = store.serial
    assert isinstance(lock, type(threading.RLock()))
    try:
        for transaction in (store._tx, console._tx):
            inside, leave = threading.Event(), threading.Event()
            holder = threading.Thread(target=_hold, args=(transaction, inside, leave))
            holder.start()
            assert inside.wait(timeout=30)
            assert not lock.acquire(blocking=False)  # taken by the open transaction
            leave.set()
            holder.join()
            assert lock.acquire(blocking=False)  # free once it ended
            lock.release()
    finally:
        store.close()


def test_a_sqlite_stores_reads_go_beside_a_write_in_progress(tmp_path: Path) -> None:
    """What a Web Connector call reads (its session, its profile, a login's profile and
    counters) does not queue behind another thread's write: WAL lets SQLite's readers run
    beside its writer, as PostgreSQL's do. They took the lock before, and at 64 sessions
    three quarters of the gateway's in-request time was those reads waiting for it. Here
    a write transaction is held open (with a row written, so SQLite's own write lock is
    taken too) while this thread reads; before, the reads waited for the lock, which is
    released only after them: the join below timed out."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    upgrade(url)
    store = Store(url)
    now = datetime.now(UTC)
    store.add_profile(a_profile("p1", name="Reader Co", username="reader", created_at=now))
    store.open_session("p1", "ticket-1", timedelta(minutes=5))
    inside, leave = threading.Event(), threading.Event()

    def write_and_hold() -> None:
        with store._tx() as session:
            session.execute(text("UPDATE profiles SET company_file = 'held' WHERE id = 'p1'"))
            session.flush()
            inside.set()
            leave.wait(timeout=60)

    read: dict[str, Any] = {}

    def reads() -> None:
        read["session"] = store.live_session("ticket-1")
        read["profile"] = store.profile("p1")
        read["by_name"] = store.profile_by_username("reader")
        read["counters"] = store.login_counters("reader")
        read["sessions"] = store.live_session_count()

    writer = threading.Thread(target=write_and_hold)
    writer.start()
    try:
        assert inside.wait(timeout=30)
        reader = threading.Thread(target=reads)
        reader.start()
        reader.join(timeout=20)
        done = not reader.is_alive()
    finally:
        leave.set()
        writer.join()
    reader.join()
    store.close()
    assert done, "the reads waited for the write transaction to end"
    assert read["session"] is not None
    assert read["session"].profile_id == "p1"
    # The reads saw the last committed state, not the write still open.
    assert read["profile"].company_file == ""
    assert read["by_name"].id == "p1"
    assert read["counters"] == {}
    assert read["sessions"] == 1


def test_a_postgresql_store_takes_no_process_lock() -> None:
    """Row locks: transactions on different rows go side by side."""
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none")
    try:
        assert isinstance(store.serial, nullcontext)  # no lock taken by anyone
        with store.serial, store.serial:  # re-entered freely
            pass
    finally:
        store.close()


def _pooled_backend_killed(url: str, ping_idle_s: float) -> list[str]:
    """One kept connection, its server process ended while it sat in the pool; what each of
    the next two statements did ("ok" or the error's type)."""
    engine = make_engine(url, pool_size=1, max_overflow=0, ping_idle_s=ping_idle_s)
    admin = make_engine(url, pool_size=1, max_overflow=0)
    outcomes: list[str] = []
    try:
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with admin.connect() as connection:
            ended = connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert ended.scalar() is True
            connection.commit()
        for _ in range(2):
            try:
                with engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                outcomes.append("ok")
            except Exception as error:
                outcomes.append(type(error).__name__)
    finally:
        engine.dispose()
        admin.dispose()
    return outcomes


_POSTGRESQL_ONLY = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@_POSTGRESQL_ONLY
def test_a_postgresql_connection_idle_past_the_ping_age_is_checked_and_replaced(
    database_url: str,
) -> None:
    assert _pooled_backend_killed(database_url, ping_idle_s=0.0) == ["ok", "ok"]


@_POSTGRESQL_ONLY
def test_a_postgresql_connection_back_in_use_at_once_is_not_pinged(database_url: str) -> None:
    """The price of pinging only idle connections (a round trip saved per statement): one
    that broke within the ping age fails its statement once, and the pool then replaces it."""
    assert _pooled_backend_killed(database_url, ping_idle_s=3600.0) == ["OperationalError", "ok"]
