"""Which files have an import due, from memory (connectors.qbwc._import_schedule), against a
real store: a file's watermarks are read once, at its first poll; later polls ask the store
nothing until the import falls due by the clock; a request made elsewhere (support, the
CLI) is seen within the check's period, by one statement for every file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.qbwc._import_schedule import ImportSchedule
from connectors.qbwc._imports import ImportConfig
from connectors.store import Store, upgrade
from tests.support.profiles import a_profile
from tests.support.statements import counting_statements

CONFIG = ImportConfig(entities=("customer", "class"), interval=timedelta(minutes=15))


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    value = Store(database_url)
    value.add_profiles([a_profile(name) for name in ("done", "fresh", "other")])
    for entity in CONFIG.entities:
        value.complete_import("done", entity, None, 0)
        value.complete_import("other", entity, None, 0)
    yield value
    value.close()


class _Clocks:
    def __init__(self) -> None:
        self.monotonic = 0.0
        self.wall = datetime.now(UTC)


def _schedule(store: Store, clocks: _Clocks, check_s: float = 1.0) -> ImportSchedule:
    return ImportSchedule(
        store, CONFIG, check_s, clock=lambda: clocks.monotonic, now=lambda: clocks.wall
    )


def test_a_files_watermarks_are_read_at_its_first_poll_only(store: Store) -> None:
    clocks = _Clocks()
    schedule = _schedule(store, clocks)
    with counting_statements() as first:
        assert not schedule.due("done")  # completed just now: due in 15 minutes
    assert len(first) == 2  # the requests of every file, the file's watermarks
    with counting_statements() as later:
        for _ in range(5):
            clocks.monotonic += 0.1
            assert not schedule.due("done")
    assert later == []
    # A file never imported is due at once; a file whose time came, without a read.
    assert schedule.due("fresh")
    clocks.wall += CONFIG.interval
    with counting_statements() as statements:
        assert schedule.due("done")
    assert statements == []


def test_a_request_made_elsewhere_is_seen_within_the_checks_period(store: Store) -> None:
    clocks = _Clocks()
    schedule = _schedule(store, clocks)
    assert not schedule.due("done")
    assert not schedule.due("other")
    store.request_import("done", ["class"])  # support, in another process
    clocks.monotonic += 0.5
    assert not schedule.due("done")  # late by at most the check's period
    clocks.monotonic += 0.6
    with counting_statements() as statements:
        assert schedule.due("done")
        assert not schedule.due("other")
    assert len(statements) == 1  # one check for every file
    assert schedule.checks == 2
    # The session serves it: its read of the watermarks clears the request at once.
    store.complete_import("done", "class", None, 0)
    schedule.learn("done", store.watermarks("done"))
    assert not schedule.due("done")


def test_what_the_session_reads_is_learned(store: Store) -> None:
    """Another replica completed the file's import: this one still thinks it due until its
    session reads the watermarks; then the file's polls are idle again."""
    clocks = _Clocks()
    schedule = _schedule(store, clocks)
    assert schedule.due("fresh")
    for entity in CONFIG.entities:
        store.complete_import("fresh", entity, None, 0)  # elsewhere
    assert schedule.due("fresh")  # not yet known here
    schedule.learn("fresh", store.watermarks("fresh"))
    assert not schedule.due("fresh")


def test_without_a_period_every_call_reads_the_store(store: Store) -> None:
    clocks = _Clocks()
    schedule = _schedule(store, clocks, check_s=0)
    assert not schedule.due("done")
    store.request_import("done", ["customer"])
    with counting_statements() as statements:
        assert schedule.due("done")
    assert len(statements) == 1
    assert not ImportSchedule(store, ImportConfig(entities=()), 1.0).due("fresh")


def test_the_bulk_check_reads_the_requested_rows_only(tmp_path: Path) -> None:
    """One statement a second for every file must not scan every file's watermarks: it
    searches the partial index of the requested rows (SQLite's plan; with DISTINCT, or a
    plain index, the planner scanned the table)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    store = Store(url)
    try:
        with counting_statements() as statements:
            assert store.import_requests() == set()
        (statement,) = statements
        with store.engine.connect() as connection:
            plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}").fetchall()
        assert [row[-1] for row in plan] == [
            "SEARCH import_watermarks USING INDEX ix_import_watermarks_requested (requested_at>?)"
        ], plan
    finally:
        store.close()
