"""A working session writes the store once to claim its file, once per batch and once more to
settle the last one (n + 2 for n batches, issue 14): each settle records the next batch in
the same write, and sendRequestXML serves a batch so recorded without writing. The console's
session history rides on those writes: it never has a transaction of its own. On SQLite and
PostgreSQL, for sessions of one, two and three batches."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.qbwc import create_profile
from connectors.store import SessionLog, Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, connector, enqueue, results, serving
from tests.support.statements import counting_transactions

pytestmark = pytest.mark.integration

PER_BATCH = 2
SESSION = re.compile(
    r"^\s*(INSERT INTO|UPDATE|DELETE FROM)\s+(qbwc_sessions|qbwc_session_history)\b",
    re.IGNORECASE,
)


@pytest.fixture
def served_small_batches(
    broker: BrokerInfo, settings: Settings, database_url: str
) -> Iterator[Served]:
    settings.database.url = type(settings.database.url)(database_url)
    settings.gateway.batch_size = PER_BATCH
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Shared Co", tenants=["t-1"])
    with serving(settings) as url:
        yield Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
    store.close()


def _tables(statements: list[str]) -> list[str]:
    """``VERB table`` of each statement that writes a session's rows."""
    found = [SESSION.match(s) for s in statements]
    return [f"{m.group(1).split()[0].upper()} {m.group(2)}" for m in found if m]


@pytest.mark.parametrize("batches", [1, 2, 3])
def test_a_session_of_n_batches_makes_n_plus_two_store_writes(
    served_small_batches: Served, tmp_path: Path, batches: int
) -> None:
    served = served_small_batches
    names = [f"Customer {number}" for number in range(PER_BATCH * batches)]
    enqueue(served, *names)
    wc = connector(served, tmp_path)
    with counting_transactions() as transactions:
        report = wc.run_once()
    assert (report.authenticate, report.requests, report.last_progress) == ("", len(names), 100)
    assert report.messages == batches
    writes = [_tables(statements) for statements in transactions]
    writes = [tables for tables in writes if tables]
    # The claim (its expired-row sweep, the row, the history's start), the first batch, then
    # per answer its settle with the next batch, the last one releasing the file and ending
    # the history; sendRequestXML of a staged batch and closeConnection write nothing.
    assert len(writes) == batches + 2, writes
    claim, first, *settles = writes
    assert claim[:2] == ["DELETE qbwc_sessions", "INSERT qbwc_sessions"], claim
    assert claim[-1] == "INSERT qbwc_session_history", claim
    # The first batch's write also records what QuickBooks reported of itself.
    assert first == ["UPDATE qbwc_sessions", "UPDATE qbwc_session_history"], first
    assert settles[:-1] == [["UPDATE qbwc_sessions"]] * (batches - 1), settles
    assert settles[-1] == ["UPDATE qbwc_sessions", "UPDATE qbwc_session_history"], settles
    assert len(results(served, len(names))) == len(names)
    # The console sees the session as before: started, reported, ended with its counts.
    (past,) = SessionLog(served.store).recent(served.profile.profile.id)
    assert (past.outcome, past.settled, past.failed) == ("closed", len(names), 0)
    assert (past.qbxml_country, past.qbxml_major) == ("US", 13)
    assert past.ended_at is not None
    assert past.ended_at >= past.started_at
    assert report.closing_message == f"Synced {len(names)} records."
    # Released by the last settle: the file is free at once.
    assert served.store.live_session_count() == 0
    enqueue(served, "One more")
    assert connector(served, tmp_path).run_once().requests == 1
