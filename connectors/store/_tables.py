"""A group of tables with their own sessions on a :class:`Store`'s engine (the console's,
the session history): one transaction per call, objects usable after it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session, sessionmaker

from connectors.store._store import Store

__all__ = ["OwnTables"]


class OwnTables:
    def __init__(self, store: Store) -> None:
        self._sessions = sessionmaker(store.engine, expire_on_commit=False)
        self._serial = store.serial  # the store's own transactions' order (SQLite)

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self._serial, self._sessions.begin() as session:
            yield session
