"""A working session writes the store once to claim its file, once per batch and once more to
settle the last one (n + 2 for n batches, issue 14): each settle records the next batch in
the same write, and sendRequestXML serves a batch so recorded without writing. The console's
session history rides on those writes: it never has a transaction of its own. On SQLite and
PostgreSQL, for sessions of one, two and three batches."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import CommandTopicNotReady
from connectors.qbwc import Gateway, GatewayServer, create_gateway, create_profile
from connectors.store import SessionLog, Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, connector, enqueue, results, serving
from tests.support.statements import counting_transactions

pytestmark = pytest.mark.integration

PER_BATCH = 2
W = TypeVar("W")
# A statement that writes a session's rows; on PostgreSQL a batch's write is one statement,
# the session's UPDATE in a WITH (connectors.store, "a statement alone").
SESSION = re.compile(
    r"^\s*(?:WITH\s+\w+\s+AS\s*\(\s*)?"
    r"(INSERT INTO|UPDATE|DELETE FROM)\s+(qbwc_sessions|qbwc_session_history)\b",
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


class _Wrapped:
    """The real command queue, but for what a subclass changes."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _FetchFailsOnce(_Wrapped):
    """The command queue, whose ``nth`` fetch raises what the real one raises when a
    topic's partition has no leader."""

    def __init__(self, inner: Any, nth: int) -> None:
        super().__init__(inner)
        self._nth = nth
        self.fetches = 0

    def fetch(self, *args: Any, **kwargs: Any) -> Any:
        self.fetches += 1
        if self.fetches == self._nth:
            raise CommandTopicNotReady("command topic 'x': partition 0 has no leader yet")
        return self._inner.fetch(*args, **kwargs)


@contextmanager
def _serving_gateway(broker: BrokerInfo, settings: Settings) -> Iterator[tuple[Served, Gateway]]:
    """A gateway of batches of ``PER_BATCH`` on ``settings``' database, served over HTTP;
    yielded with its ``Gateway`` (for a test that looks inside, or wraps an adapter)."""
    settings.gateway.batch_size = PER_BATCH
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Shared Co", tenants=["t-1"])
    gateway = create_gateway(settings)
    server = GatewayServer(gateway.wsgi, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        served = Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
        yield served, gateway
    finally:
        server.stop()
        thread.join(10)
        gateway.close()
        store.close()


@contextmanager
def _serving_with_queue(
    broker: BrokerInfo, settings: Settings, wrap: Callable[[Any], W]
) -> Iterator[tuple[Served, W]]:
    """A gateway of batches of ``PER_BATCH`` whose command queue is ``wrap(real queue)``: the
    wrapper goes into the real adapter, as test_operation_failures.py does; it is yielded
    beside the gateway's address."""
    with _serving_gateway(broker, settings) as (served, gateway):
        drain = gateway.conversation._drain
        wrapped = wrap(drain._commands)
        drain._commands = wrapped
        yield served, wrapped


def test_a_next_batch_that_cannot_be_staged_leaves_the_settle_standing(
    broker: BrokerInfo, settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reading the next batch fails inside the settle of the one before (the broker): the
    settle is written alone, the Web Connector sees no error, and the next sendRequestXML
    reads the batch itself."""
    with _serving_with_queue(broker, settings, lambda q: _FetchFailsOnce(q, nth=2)) as (
        served,
        failing,
    ):
        enqueue(served, "Ada", "Grace", "Alan", "Linus")
        with caplog.at_level(logging.WARNING, logger="connectors.qbwc"):
            report = connector(served, tmp_path).run_once()
        assert failing.fetches >= 3  # the first batch, the failed stage, the send's own read
        assert report.errors == []
        assert (report.requests, report.messages, report.last_progress) == (4, 2, 100)
        assert [r.getMessage() for r in caplog.records].count("next batch not staged") == 1
        found = results(served, 4)
        assert sorted(str(r["entity_id"]) for r in found) == ["Ada", "Alan", "Grace", "Linus"]
        assert all(r["status_code"] == 0 for r in found), found
        (past,) = SessionLog(served.store).recent(served.profile.profile.id)
        assert (past.outcome, past.settled) == ("closed", 4)


class _StartsRecorded(_Wrapped):
    """The command queue, noting the ``start`` each fetch was given."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.starts: list[int | None] = []

    def fetch(self, *args: Any, start: int | None = None, **kwargs: Any) -> Any:
        self.starts.append(start)
        return self._inner.fetch(*args, start=start, **kwargs)


def test_a_sessions_next_batch_starts_at_the_offset_it_committed(
    broker: BrokerInfo, settings: Settings, tmp_path: Path
) -> None:
    """The session holds the file's lease, so the offset it has just committed is the group's:
    each later batch is read from there without asking the broker for the committed offset
    (``CommandQueue.fetch(start=)``; what the queue asks is tests/connectors/kafka's)."""
    with _serving_with_queue(broker, settings, _StartsRecorded) as (served, recorded):
        enqueue(served, *(f"Customer {n}" for n in range(3 * PER_BATCH)))
        report = connector(served, tmp_path).run_once()
        assert (report.requests, report.messages) == (3 * PER_BATCH, 3)
        assert len(results(served, 3 * PER_BATCH)) == 3 * PER_BATCH
    # The first batch asks the group; each settle then looks for the next batch (the last
    # finds none) where the one before committed.
    assert recorded.starts == [None, PER_BATCH, 2 * PER_BATCH, 3 * PER_BATCH]


class _LateCommits(_Wrapped):
    """The command queue with a committing thread as late as it may be: a commit not
    waited for is made only when the file is flushed."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.late: list[tuple[str, int]] = []

    def commit(self, profile_id: str, next_offset: int, *, wait: bool = True) -> None:
        if wait:
            self._inner.commit(profile_id, next_offset)
        else:
            self.late.append((profile_id, next_offset))

    def flush(self, profile_id: str) -> None:
        for file, offset in self.late:
            self._inner.commit(file, offset, wait=False)
        self.late.clear()
        self._inner.flush(profile_id)


def test_a_sessions_commits_are_made_before_its_work_ends(
    broker: BrokerInfo, settings: Settings, tmp_path: Path
) -> None:
    """A settle hands its commit to the queue's committing thread and goes on; the work
    of the session ends only once they are made: when the Web Connector hears 100%, the
    group's offset is past every batch (the next session, on any replica, starts there)."""
    with _serving_with_queue(broker, settings, _LateCommits) as (served, late):
        enqueue(served, *(f"Customer {n}" for n in range(3 * PER_BATCH)))
        report = connector(served, tmp_path).run_once()
        assert (report.requests, report.last_progress) == (3 * PER_BATCH, 100)
        topic = served.settings.topics.commands(served.profile.profile.id)
        reader = Consumer({**served.settings.kafka.client_config(), "group.id": "qbsync-gateway"})
        try:
            (committed,) = reader.committed([TopicPartition(topic, 0)], timeout=30)
        finally:
            reader.close()
    assert late.late == []
    assert committed.offset == 3 * PER_BATCH


def test_a_sessions_flights_are_not_parsed_again_by_the_gateway_that_wrote_them(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    """Every call reads the session's row; the batch in flight in it is the text this
    gateway wrote the call before, so it is taken from memory (connectors.qbwc's flight
    memo), on SQLite and PostgreSQL alike: the row gives back the text the write made.
    A row another replica wrote is parsed (tests/connectors/qbwc/test_flight_memo.py)."""
    settings.database.url = type(settings.database.url)(database_url)
    with _serving_gateway(broker, settings) as (served, gateway):
        enqueue(served, *(f"Customer {n}" for n in range(3 * PER_BATCH)))
        report = connector(served, tmp_path).run_once()
        assert (report.requests, report.messages, report.last_progress) == (3 * PER_BATCH, 3, 100)
        assert len(results(served, 3 * PER_BATCH)) == 3 * PER_BATCH
        # Three batches: each read twice (its sendRequestXML, its receiveResponseXML).
        assert gateway.conversation._flights.parsed == 0
        # The work is done: nothing of the session is kept.
        assert len(gateway.conversation._flights) == 0
