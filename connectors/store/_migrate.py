"""The store's schema: migrated only by ``qbsync db upgrade`` (the chart's migration Job) and by
the single-machine commands on their own SQLite file; every other command and pod checks that
the database is at exactly the revision its code expects, and refuses to start otherwise
(a newer CLI must not migrate production ahead of the running pods, nor an older pod write to
a schema it does not know)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from connectors.store._store import Store
from core.errors import QbsyncError

__all__ = [
    "SchemaMismatch",
    "alembic_config",
    "check_schema",
    "current_revision",
    "head_revision",
    "open_store",
    "upgrade",
]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class SchemaMismatch(QbsyncError):
    """The database is not at the revision this code expects; the message says what to do."""


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


def head_revision() -> str:
    """The revision this code's models are: the newest migration."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None, "no migrations"
    return head


def current_revision(url: str) -> str | None:
    """The revision the database at ``url`` is at; None when it has no qbsync schema."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return None  # do not create an empty file just to look
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def check_schema(url: str) -> None:
    """Raise :class:`SchemaMismatch` unless the database is at :func:`head_revision`."""
    expected = head_revision()
    found = current_revision(url)
    if found == expected:
        return
    if found is None:
        raise SchemaMismatch(
            f"the database has no qbsync schema (this qbsync needs revision {expected}):"
            " run `qbsync db upgrade`"
        )
    known = {
        script.revision
        for script in ScriptDirectory.from_config(alembic_config(url)).walk_revisions()
    }
    if found in known:
        raise SchemaMismatch(
            f"the database is at revision {found}, behind this qbsync ({expected}):"
            " run `qbsync db upgrade`"
        )
    raise SchemaMismatch(
        f"the database is at revision {found}, which this qbsync (revision {expected}) does"
        " not know: it was migrated by a newer qbsync; run that version, or upgrade this one"
    )


@contextmanager
def open_store(url: str, *, migrate: bool = False) -> Iterator[Store]:
    """The store at ``url``, closed after use: checked to be at this code's schema revision,
    or, with ``migrate``, brought to it first (only for a single machine's own SQLite file,
    where no fleet of pods can be left behind; ``qbsync db upgrade`` migrates the rest)."""
    if migrate:
        upgrade(url)
    else:
        check_schema(url)
    store = Store(url)
    try:
        yield store
    finally:
        store.close()
