"""The store's connection pool keeps what it was asked to keep, on SQLite as on PostgreSQL:
the gateway asks for one kept connection per request thread, and a connection closed on
give-back is opened again (with its PRAGMAs) by the next busy call."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import event, text

from connectors.store import make_engine


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
