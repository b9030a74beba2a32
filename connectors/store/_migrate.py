"""Run the Alembic migrations programmatically (``qbsync db upgrade`` and tests)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config

from connectors.store._store import Store

__all__ = ["alembic_config", "open_store", "upgrade"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # '%' is ConfigParser's interpolation character; URLs may contain it (escaped passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision``; creates a SQLite file's folder."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), revision)


@contextmanager
def open_store(url: str) -> Iterator[Store]:
    """The store at ``url``, migrated to the latest schema, closed after use (the CLI's
    commands each open one this way)."""
    upgrade(url)
    store = Store(url)
    try:
        yield store
    finally:
        store.close()
