"""Databases of a bench run's own: a new, empty PostgreSQL database beside the one a
``--database-url`` names, dropped at the end. The named one is shared (the tests', earlier
runs'): a worker meeting its first command topic makes a topic for every profile in its
store, so a shared database's thousand earlier profiles were a thousand topics created on
the bench's broker inside the measured span."""

from __future__ import annotations

import uuid


def fresh_database(url: str) -> str:
    """A new, empty database beside the one ``url`` names (PostgreSQL); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = make_url(url)
    name = f"qbsync_bench_{uuid.uuid4().hex[:10]}"
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, admin_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    engine = create_engine(make_url(admin_url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()
