"""The store against SQLite and PostgreSQL (the ``database_url`` fixture gives both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from psycopg.pq import TransactionStatus
from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from connectors.qbwc._last_seen import LastSeen
from connectors.store import (
    Base,
    Holder,
    Mapping,
    Profile,
    SessionBusy,
    Store,
    StoreError,
    SyncLogEntry,
    Tenant,
    json_text,
    upgrade,
)
from tests.support.profiles import a_profile
from tests.support.statements import counting_statements


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    value = Store(database_url)
    yield value
    value.close()


def profile(name: str = "Shared Co", username: str = "user-1") -> Profile:
    return a_profile(name.replace(" ", "").lower(), name=name, username=username)


def test_migrations_produce_exactly_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_upgrade_twice_is_harmless(database_url: str, store: Store) -> None:
    upgrade(database_url)
    assert store.profiles() == []


def test_profiles_and_tenants(store: Store) -> None:
    created = store.add_profile(profile())
    for tenant_id in ("t-1", "t-2"):
        store.add_tenant(
            Tenant(
                id=tenant_id,
                name=tenant_id,
                profile_id=created.id,
                settings={"upper_case": True},
                created_at=datetime.now(UTC),
            )
        )
    assert store.profile_by_username("user-1") is not None
    assert [t.id for t in store.tenants(created.id)] == ["t-1", "t-2"]
    tenant = store.tenant("t-2")
    assert tenant is not None
    assert tenant.settings == {"upper_case": True}


def test_duplicate_username_is_a_clear_error(store: Store) -> None:
    store.add_profile(profile())
    with pytest.raises(StoreError, match="username 'user-1'"):
        store.add_profile(profile(name="Other"))


def test_tenant_needs_an_existing_profile(store: Store) -> None:
    with pytest.raises(StoreError, match="does not"):
        store.add_tenant(
            Tenant(id="t", name="t", profile_id="nope", settings={}, created_at=datetime.now(UTC))
        )


def test_mapping_upsert_keeps_the_newest_edit_sequence(store: Store) -> None:
    store.add_profile(profile())
    store.add_tenant(
        Tenant(id="t-1", name="t", profile_id="sharedco", settings={}, created_at=datetime.now(UTC))
    )
    assert store.mapping("t-1", "customer", "c-1") is None
    first = Mapping("t-1", "customer", "c-1", "80000001-1", "100", "Ada")
    store.save_mapping(first)
    store.save_mapping(Mapping("t-1", "customer", "c-1", "80000001-1", "101", "Ada L"))
    assert store.mapping("t-1", "customer", "c-1") == Mapping(
        "t-1", "customer", "c-1", "80000001-1", "101", "Ada L"
    )
    assert len(store.mappings("t-1")) == 1


def test_one_live_session_per_company_file(store: Store) -> None:
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    with pytest.raises(SessionBusy):
        store.open_session("sharedco", "hash-b", timedelta(minutes=5))
    assert store.live_session("hash-a") is not None
    assert store.live_session("hash-b") is None
    closed = store.close_session("hash-a")
    assert closed is not None
    store.open_session("sharedco", "hash-b", timedelta(minutes=5))


def test_a_released_session_frees_the_file_and_closing_it_only_reads(store: Store) -> None:
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    store.update_session("hash-a", timedelta(0), settled=2)  # the last settle: released
    assert store.live_session("hash-a") is None
    assert store.live_session_count() == 0
    closed = store.close_session("hash-a")
    assert closed is not None
    assert closed.settled == 2
    assert store.close_session("hash-a") is not None  # still there: not deleted
    store.open_session("sharedco", "hash-b", timedelta(minutes=5))
    assert store.close_session("hash-a") is None  # the claim removed it
    assert store.live_session_count() == 1


def test_an_expired_session_frees_the_file(store: Store) -> None:
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(seconds=-1))
    assert store.live_session("hash-a") is None
    store.open_session("sharedco", "hash-b", timedelta(minutes=5))
    assert store.live_session("hash-b") is not None


def test_session_state_round_trips(store: Store) -> None:
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    flight = {"next_offset": 7, "commands": [{"request_id": "6", "entity": "customer"}]}
    store.update_session("hash-a", timedelta(minutes=5), in_flight=flight, settled=3)
    session = store.live_session("hash-a")
    assert session is not None
    assert (session.in_flight, session.settled) == (flight, 3)


def test_a_web_connector_silent_for_three_schedules_is_stalled(store: Store) -> None:
    quiet = store.add_profile(profile("Quiet Co", "user-quiet"))
    busy = store.add_profile(profile("Busy Co", "user-busy"))
    never = store.add_profile(profile("New Co", "user-new"))
    long_ago = datetime.now(UTC) - timedelta(minutes=10)  # schedule: every 3 minutes
    store.update_profile(quiet.id, last_seen_at=long_ago)
    store.touch_profile(busy.id)
    assert never.last_seen_at is None  # never called: not stalled, just not set up yet
    assert store.stalled_profiles(3.0) == 1
    store.update_profile(quiet.id, enabled=False)  # disabled on purpose: not stalled
    assert store.stalled_profiles(3.0) == 0


def test_a_batch_of_outcomes_is_one_transaction_and_the_last_edit_wins(store: Store) -> None:
    created = store.add_profile(profile())
    store.add_tenant(
        Tenant(
            id="t-1", name="t-1", profile_id=created.id, settings={}, created_at=datetime.now(UTC)
        )
    )
    first = Mapping("t-1", "customer", "c-1", "Q1", "1", "Doe")
    later = Mapping("t-1", "customer", "c-1", "Q1", "2", "Doe Jr")
    other = Mapping("t-1", "invoice", "i-1", "T1", "5", None)
    entry = SyncLogEntry(
        at=datetime(2026, 11, 22, tzinfo=UTC),
        tenant_id="t-1",
        profile_id="p",
        entity="customer",
        entity_id="c-1",
        command_id="x",
        action="ADD",
        status="synced",
        code=0,
        message="ok",
        qb_id="Q1",
    )
    store.save_outcomes([first, later, other], [entry])
    assert store.mappings("t-1") == [later, other]
    assert [e.status for e in store.sync_log("t-1")] == ["synced"]
    store.save_outcomes([], [])  # nothing: no transaction, no error


def _log_entry(entity_id: str) -> SyncLogEntry:
    return SyncLogEntry(
        at=datetime(2026, 12, 2, tzinfo=UTC),
        tenant_id="t-1",
        profile_id="p",
        entity="customer",
        entity_id=entity_id,
        command_id=f"cmd-{entity_id}",
        action="ADD",
        status="synced",
        code=0,
        message="ok",
        qb_id=f"Q-{entity_id}",
    )


def test_saving_outcomes_runs_the_same_statements_whatever_the_batch_size(store: Store) -> None:
    """A batch of results is one statement per kind of write (forget, upsert, log), the same
    text for 3 records as for 300: no statement per row, nothing that grows with the batch;
    updates, inserts and forgets still land."""
    store.add_profile(profile())
    store.add_tenant(
        Tenant(
            id="t-1", name="t-1", profile_id="sharedco", settings={}, created_at=datetime.now(UTC)
        )
    )
    runs = []
    for size in (3, 300):
        tag = f"n{size}"
        store.save_outcomes(
            [Mapping("t-1", "customer", f"{tag}-{n}", "Q", "1", None) for n in range(size)], []
        )
        saved = [
            Mapping("t-1", "customer", f"{tag}-{n}", f"Q{n}", "2", f"N{n}") for n in range(size)
        ]
        saved += [
            Mapping("t-1", "customer", f"{tag}-new-{n}", f"R{n}", "1", None) for n in range(size)
        ]
        forget = [("t-1", "customer", f"{tag}-{n}") for n in range(0, size, 3)]
        with counting_statements() as statements:
            store.save_outcomes(
                saved, [_log_entry(f"{tag}-{n}") for n in range(size)], forget=forget
            )
        runs.append(statements)
        mapped = {
            m.external_id: m for m in store.mappings("t-1") if m.external_id.startswith(f"{tag}-")
        }
        assert len(mapped) == 2 * size  # forgotten, then saved again by the same batch
        assert mapped[f"{tag}-1"] == Mapping("t-1", "customer", f"{tag}-1", "Q1", "2", "N1")
        assert mapped[f"{tag}-new-2"].qb_id == "R2"
        logged = [e for e in store.sync_log("t-1") if e.entity_id.startswith(f"{tag}-")]
        assert sorted(e.command_id for e in logged) == sorted(f"cmd-{tag}-{n}" for n in range(size))
    assert runs[0] == runs[1]
    assert len(runs[0]) == 3, runs[0]  # forget, upsert, log: never a statement per row


def test_mappings_of_many_records_in_one_go(store: Store) -> None:
    created = store.add_profile(profile())
    store.add_tenant(
        Tenant(
            id="t-1", name="t-1", profile_id=created.id, settings={}, created_at=datetime.now(UTC)
        )
    )
    saved = [Mapping("t-1", "customer", f"c-{n}", f"Q{n}", "1", None) for n in range(700)]
    store.save_outcomes(saved, [])
    asked = [("t-1", "customer", f"c-{n}") for n in range(0, 1400, 2)]  # half exist
    found = store.mappings_of([*asked, asked[0]])  # a repeat is harmless
    assert set(found) == {("t-1", "customer", f"c-{n}") for n in range(0, 700, 2)}
    assert found[("t-1", "customer", "c-4")].qb_id == "Q4"
    assert store.mappings_of([]) == {}


def test_holders_of_a_batch_on_a_shared_file(store: Store) -> None:
    """Own mapping first; else another tenant of the file that maps the id (with the id
    it maps it under as that entity) or had qbsync write it; other files do not count."""
    shared, alone = store.add_profile(profile()), store.add_profile(profile("Alone", "user-2"))
    now = datetime.now(UTC)
    for tenant_id, on in (("t-1", shared), ("t-2", shared), ("t-3", alone)):
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=on.id, settings={}, created_at=now)
        )
    mine = [Mapping("t-1", "customer", f"c-{n}", f"Q{n}", "1", None) for n in range(600)]
    theirs = [
        Mapping("t-2", "customer", "d-1", "Q-T2", "1", None),
        Mapping("t-2", "vendor", "v-1", "Q-T2V", "1", None),
        Mapping("t-3", "customer", "e-1", "Q-T3", "1", None),
    ]
    store.save_outcomes(mine + theirs, [])
    store.record_written([("t-2", "customer", "Q-W", "1")])
    asked = [("t-1", "customer", f"Q{n}") for n in range(0, 1200, 2)]  # half are t-1's
    asked += [
        ("t-1", "customer", "Q-T2"),
        ("t-1", "customer", "Q-T2V"),  # t-2 maps a vendor of that id: another record
        ("t-1", "customer", "Q-T3"),
        ("t-1", "customer", "Q-W"),
        ("t-3", "customer", "Q-T2"),
        ("nobody", "customer", "Q1"),
    ]
    found = store.holders([*asked, asked[0]])
    assert {key: (h.tenant_id, h.external_id) for key, h in found.items()} == {
        **{("t-1", "customer", f"Q{n}"): ("t-1", f"c-{n}") for n in range(0, 600, 2)},
        ("t-1", "customer", "Q-T2"): ("t-2", "d-1"),
        ("t-1", "customer", "Q-W"): ("t-2", None),
    }
    asked_others = [("customer", qb_id) for qb_id in ("Q-T2", "Q-W", "Q-T3", "Q0")]
    assert store.held_by_others("t-1", asked_others) == {
        ("customer", "Q-T2"): "t-2",
        ("customer", "Q-W"): "t-2",
    }
    assert store.holders([]) == {}
    assert set(store.tenants_by_id(["t-3", "t-1", "nobody"])) == {"t-1", "t-3"}


def test_holders_match_the_entity_not_the_id_alone(store: Store) -> None:
    """QuickBooks Online numbers each entity on its own (Customer 1 and Vendor 1 are two
    records): another tenant's vendor, mapped or just written, does not hold a customer of
    the same id. Entities sharing one QuickBooks list (``kin``: a job is a customer) do."""
    shared = store.add_profile(profile())
    now = datetime.now(UTC)
    for tenant_id in ("t-a", "t-b"):
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=shared.id, settings={}, created_at=now)
        )
    store.save_outcomes(
        [
            Mapping("t-b", "vendor", "v-1", "1", "1", None),
            Mapping("t-b", "job", "j-2", "2", "1", None),
            Mapping("t-b", "customer", "c-3", "3", "1", None),
            Mapping("t-b", "vendor", "v-3", "3", "1", None),
        ],
        [],
    )
    store.record_written([("t-b", "vendor", "4", "1"), ("t-b", "job", "5", "1")])
    asked = [("t-a", "customer", qb_id) for qb_id in ("1", "2", "3", "4", "5")]
    plain = {key: (h.tenant_id, h.external_id) for key, h in store.holders(asked).items()}
    assert plain == {("t-a", "customer", "3"): ("t-b", "c-3")}
    kin = {"customer": {"customer", "job"}, "job": {"customer", "job"}}
    found = store.holders(asked, kin=kin)
    assert {key: (h.tenant_id, h.external_id) for key, h in found.items()} == {
        ("t-a", "customer", "2"): ("t-b", None),  # t-b's job: the same Customer record
        ("t-a", "customer", "3"): ("t-b", "c-3"),
        ("t-a", "customer", "5"): ("t-b", None),
    }
    assert store.holders([("t-a", "vendor", "3")]) == {("t-a", "vendor", "3"): Holder("t-b", "v-3")}


def test_held_by_others_matches_the_entity_not_the_id_alone(store: Store) -> None:
    """A two-way import asks whether another tenant of the shared company holds the record:
    in QuickBooks Online another tenant's Invoice 42 (mapped, or written and not settled)
    is not the Customer 42 being imported. A job is a customer (``kin``); another company's
    tenant holds nothing here."""
    shared, alone = store.add_profile(profile()), store.add_profile(profile("Alone", "user-2"))
    now = datetime.now(UTC)
    for tenant_id, on in (("t-a", shared), ("t-b", shared), ("t-c", alone)):
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=on.id, settings={}, created_at=now)
        )
    store.save_outcomes(
        [
            Mapping("t-b", "invoice", "i-42", "42", "1", None),
            Mapping("t-b", "customer", "c-7", "7", "1", None),
            Mapping("t-b", "job", "j-8", "8", "1", None),
            Mapping("t-c", "customer", "c-9", "9", "1", None),
        ],
        [],
    )
    store.record_written([("t-b", "invoice", "43", "1"), ("t-b", "customer", "44", "1")])
    asked = [("customer", qb_id) for qb_id in ("42", "43", "44", "7", "8", "9")]
    assert store.held_by_others("t-a", asked) == {
        ("customer", "44"): "t-b",
        ("customer", "7"): "t-b",
    }
    kin = {"customer": {"customer", "job"}, "job": {"customer", "job"}}
    assert store.held_by_others("t-a", [*asked, ("invoice", "42")], kin=kin) == {
        ("customer", "44"): "t-b",
        ("customer", "7"): "t-b",
        ("customer", "8"): "t-b",  # t-b's job: the same Customer record
        ("invoice", "42"): "t-b",
    }
    # Desktop: an id names one record in the whole file, whatever the entity.
    assert store.held_by_others("t-a", [("customer", "42")], by_id=True) == {
        ("customer", "42"): "t-b"
    }
    assert store.held_by_others("t-c", asked) == {}  # alone on its company
    assert store.held_by_others("t-a", []) == {}


def test_batch_look_ups_keep_one_statement_text_whatever_the_batch_size(store: Store) -> None:
    """The keys go as arrays (PostgreSQL) or one JSON text (SQLite): one statement text
    whatever the batch's size, so it is compiled once (psycopg converted a long one again for
    every batch; SQLAlchemy compiled SQLite's IN list of 1,500 parameters again)."""
    texts = set()
    for size in (3, 7):
        keys = [("t-1", "customer", f"c-{n}") for n in range(size)]
        with counting_statements() as statements:
            store.mappings_of(keys)
            store.holders(keys)
        texts.add(tuple(statements))
    assert len(texts) == 1, texts


def test_a_batch_and_its_sent_through_are_one_write(store: Store) -> None:
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    flight = {"next_offset": 25, "commands": []}
    store.update_session(
        "hash-a", timedelta(minutes=5), in_flight=flight, sent_through=("sharedco", 25)
    )
    session = store.live_session("hash-a")
    assert session is not None
    assert session.in_flight == flight
    assert store.profile("sharedco").sent_through == 25  # type: ignore[union-attr]
    # Never lowered: a batch sent again (an earlier offset) leaves the mark where it was.
    store.update_session("hash-a", timedelta(minutes=5), sent_through=("sharedco", 10))
    assert store.profile("sharedco").sent_through == 25  # type: ignore[union-attr]
    # No live session, no write at all.
    store.update_session("hash-gone", timedelta(minutes=5), sent_through=("sharedco", 99))
    assert store.profile("sharedco").sent_through == 25  # type: ignore[union-attr]


def test_a_working_session_is_its_row_and_its_files_mark_in_one_statement(
    store: Store,
) -> None:
    """The gateway's read on a batch's calls: the session's row and the profile's
    sent_through together, one statement; None for an unknown or expired ticket."""
    store.add_profile(profile())
    store.add_profile(profile("Other Co", "user-2"))
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    store.open_session("otherco", "hash-b", timedelta(minutes=5))
    store.update_session("hash-a", timedelta(minutes=5), settled=3, sent_through=("sharedco", 40))
    store.update_session("hash-b", timedelta(minutes=5), sent_through=("otherco", 7))
    with counting_statements() as statements:
        working = store.working_session("hash-a")
    assert len(statements) == 1, statements
    assert working is not None
    assert (working.row.ticket_hash, working.row.profile_id, working.row.settled) == (
        "hash-a",
        "sharedco",
        3,
    )
    assert working.sent_through == 40  # its own file's mark, not the other's
    assert store.working_session("hash-b").sent_through == 7  # type: ignore[union-attr]
    assert store.working_session("no-such-ticket") is None
    store.update_session("hash-b", timedelta(0))  # released: expired from now on
    assert store.working_session("hash-b") is None


def test_a_working_sessions_flight_is_the_text_its_write_made(store: Store) -> None:
    """The batch in flight comes back from the working session's read as JSON text, the
    very text the write made (``json_text``): the gateway's flight memo answers from
    memory only for that text. Cleared, it reads as JSON null."""
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    flight = {
        "next_offset": 3,
        "round": 0,
        "main_sent": False,
        "followups": [],
        "commands": [{"request_id": "0", "command": "AAE=", "entity_id": "Zoë & <Ünïcode> \u2028"}],
    }
    store.update_session("hash-a", timedelta(minutes=5), in_flight=flight)
    working = store.working_session("hash-a")
    assert working is not None
    assert working.in_flight_json == json_text(flight)
    assert orjson.loads(working.in_flight_json) == flight
    assert working.row.in_flight is None  # not parsed by the store
    store.update_session("hash-a", timedelta(minutes=5), in_flight=None)
    cleared = store.working_session("hash-a")
    assert cleared is not None
    assert cleared.in_flight_json is None or orjson.loads(cleared.in_flight_json) is None


def test_the_per_call_statements_hold_no_transaction(store: Store) -> None:
    """The reads every Web Connector call makes run outside a transaction: on PostgreSQL
    one round trip each instead of three (BEGIN, the statement, the pool's ROLLBACK); and
    so does a batch's session write there (one instead of four)."""
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5))
    during: list[bool] = []

    def after(connection: Any, *_args: Any) -> None:
        driver = connection.connection.dbapi_connection
        info = getattr(driver, "info", None)  # psycopg
        if info is not None and hasattr(info, "transaction_status"):
            during.append(info.transaction_status != TransactionStatus.IDLE)
        else:  # sqlite3
            during.append(bool(driver.in_transaction))

    event.listen(Engine, "after_cursor_execute", after)
    try:
        assert store.working_session("hash-a") is not None
        assert store.live_session("hash-a") is not None
        reads = list(during)
        # A batch's write with its mark: on PostgreSQL one statement alone (the session's
        # UPDATE in a WITH, the profile's after it), on SQLite a (grouped) transaction.
        del during[:]
        store.update_session(
            "hash-a", timedelta(minutes=5), settled=2, sent_through=("sharedco", 9)
        )
        store.update_session("hash-a", timedelta(minutes=5), settled=3)
    finally:
        event.remove(Engine, "after_cursor_execute", after)
    assert reads == [False, False]
    postgresql = store.engine.dialect.name == "postgresql"
    assert during == ([False, False] if postgresql else [True, True, True])
    working = store.working_session("hash-a")
    assert working is not None
    assert (working.row.settled, working.sent_through) == (3, 9)


def test_every_field_of_a_live_session_reads_back_as_written(store: Store) -> None:
    """The session row is read as columns and made into a WebConnectorSession: each field,
    JSON and times included, must come back as the write left it."""
    store.add_profile(profile())
    opened = store.open_session("sharedco", "hash-a", timedelta(minutes=5), client="c-1")
    changes: dict[str, Any] = {
        "qbxml_version": "13.0",
        "in_flight": {"next_offset": 3, "commands": [{"request_id": "0", "command": "AAE="}]},
        "settled": 4,
        "failed": 1,
        "last_error": "QuickBooks could not process the request (0x8004).",
        "failed_keys": ["t:customer:1", "t:invoice:9"],
        "importing": {"entity": "item", "iterator": "{abc}", "seen": 7},
    }
    before = datetime.now(UTC)
    store.update_session("hash-a", timedelta(minutes=5), **changes)
    session = store.live_session("hash-a")
    assert session is not None
    assert {name: getattr(session, name) for name in changes} == changes
    assert (session.ticket_hash, session.profile_id, session.client) == (
        "hash-a",
        "sharedco",
        "c-1",
    )
    expires = session.expires_at.replace(tzinfo=session.expires_at.tzinfo or UTC)
    assert before + timedelta(minutes=5) <= expires <= datetime.now(UTC) + timedelta(minutes=5)
    created = session.created_at.replace(tzinfo=session.created_at.tzinfo or UTC)
    assert created == opened.created_at.replace(tzinfo=opened.created_at.tzinfo or UTC)
    # An unknown field is refused by name, and nothing is written.
    with pytest.raises(StoreError, match="no field"):
        store.update_session("hash-a", timedelta(minutes=5), settled=9, setled=9)
    assert store.live_session("hash-a").settled == 4  # type: ignore[union-attr]


def test_a_working_session_reads_every_field_as_its_live_session_does(store: Store) -> None:
    """The per-call read (its own statement, the flight left as text, the file's mark
    joined) gives the row the plain read gives, field by field: quotes, backslashes,
    control and non-BMP characters, nested JSON, NULLs, times to the microsecond, a mark
    past 32 bits."""
    store.add_profile(profile())
    store.open_session("sharedco", "hash-a", timedelta(minutes=5), client='c "1" \\ ü')
    awkward = 'a "quoted" \\ back\\slash\nnew line\ttab \x01 \u2028 Zoë 𝄞 <&>'
    changes: dict[str, Any] = {
        "qbxml_version": "16.0",
        "settled": 2**31 - 1,
        "failed": 0,
        "last_error": awkward,
        "failed_keys": [awkward, "t:invoice:9"],
        "importing": {"entity": "item", "iterator": awkward, "seen": 0.1, "more": None},
    }
    mark = 2**62 + 1  # a Kafka offset has 64 bits (migration 0019)
    store.update_session("hash-a", timedelta(minutes=5), sent_through=("sharedco", mark), **changes)
    working = store.working_session("hash-a")
    live = store.live_session("hash-a")
    assert working is not None
    assert live is not None
    assert working.sent_through == mark
    assert {name: getattr(working.row, name) for name in changes} == changes
    columns = [c.key for c in live.__table__.columns if c.key != "in_flight"]
    assert {name: getattr(working.row, name) for name in columns} == {
        name: getattr(live, name) for name in columns
    }
    # NULLs read as None, not as the text "null".
    store.update_session("hash-a", timedelta(minutes=5), last_error=None, failed_keys=None)
    cleared = store.working_session("hash-a")
    assert cleared is not None
    assert (cleared.row.last_error, cleared.row.failed_keys) == (None, None)


def test_a_files_mark_holds_any_kafka_offset_after_an_upgrade(database_url: str) -> None:
    """``sent_through`` is a Kafka offset (64 bits): PostgreSQL's INTEGER held 32, so a
    file's topic past 2**31 records failed every batch's write. Migration 0019 widens it
    and keeps the marks already written."""
    upgrade(database_url, "0018")
    before = Store(database_url)
    try:
        before.add_profile(profile())
        with before.engine.begin() as connection:
            connection.execute(text("UPDATE profiles SET sent_through = 2147483647"))
    finally:
        before.close()
    upgrade(database_url)
    store = Store(database_url)
    try:
        assert store.profile("sharedco").sent_through == 2**31 - 1  # type: ignore[union-attr]
        store.open_session("sharedco", "hash-a", timedelta(minutes=5))
        store.update_session("hash-a", timedelta(minutes=5), sent_through=("sharedco", 2**62))
        assert store.profile("sharedco").sent_through == 2**62  # type: ignore[union-attr]
    finally:
        store.close()


def test_last_seen_is_written_in_bulk(store: Store) -> None:
    store.add_profile(profile())
    store.add_profile(profile("Other Co", "user-2"))
    now = [0.0]
    seen = LastSeen(store, flush_s=30, clock=lambda: now[0])

    def last(profile_id: str) -> datetime | None:
        row = store.profile(profile_id)
        assert row is not None
        return row.last_seen_at

    seen.seen("sharedco", first=True)  # a first call is written at once
    first = last("sharedco")
    assert first is not None
    now[0] = 10
    seen.seen("sharedco", first=False)
    seen.seen("otherco", first=False)
    assert (last("sharedco"), last("otherco")) == (first, None)  # kept in memory
    now[0] = 31
    seen.seen("otherco", first=False)  # the period is over: everything is written
    later = last("sharedco")
    assert later is not None
    assert later > first
    assert last("otherco") is not None
    now[0] = 40
    seen.seen("sharedco", first=False)
    seen.seen("removed-since", first=False)  # a profile removed meanwhile: nothing to write
    seen.flush()  # the gateway closing
    flushed = last("sharedco")
    assert flushed is not None
    assert flushed > later


def test_full_reads_rise_and_are_done_only_by_their_kind(store: Store) -> None:
    """A request never lowers a pending full read; a read for matching moves nothing but
    its own flag; "get all" (deliver) completes the request and clears any full read."""
    store.add_profile(profile())
    later = datetime(2026, 12, 1, tzinfo=UTC)
    store.complete_import("sharedco", "customer", later, 3)
    with pytest.raises(StoreError, match="full_read: 'all' is not one of match, deliver"):
        store.request_import("sharedco", ["customer"], full_read="all")  # type: ignore[arg-type]
    store.request_import("sharedco", ["customer"], full_read="deliver")
    store.request_import("sharedco", ["customer"], full_read="match")
    store.request_import("sharedco", ["customer"])
    mark = store.watermarks("sharedco")["customer"]
    assert (mark.full_read, mark.requested_at is not None) == ("deliver", True)

    store.complete_import("sharedco", "customer", None, 9, full_read="match")
    mark = store.watermarks("sharedco")["customer"]
    assert (mark.full_read, mark.records) == ("deliver", 3)  # not done by a matching read
    store.complete_import("sharedco", "customer", later - timedelta(days=9), 9)
    assert store.watermarks("sharedco")["customer"].full_read == "deliver"  # a usual read
    store.complete_import("sharedco", "customer", later - timedelta(days=9), 9, full_read="deliver")
    mark = store.watermarks("sharedco")["customer"]
    assert (mark.full_read, mark.requested_at, mark.records) == (None, None, 21)
    assert mark.modified_from is not None
    assert mark.modified_from.replace(tzinfo=UTC) == later  # never backwards

    store.request_import("sharedco", ["item"], full_read="match")
    store.complete_import("sharedco", "item", later, 5, full_read="match")
    mark = store.watermarks("sharedco")["item"]
    assert (mark.full_read, mark.modified_from, mark.completed_at) == (None, None, None)
    assert mark.requested_at is not None  # the usual read still follows


def test_mapping_confirmations_per_tenant_and_entity(store: Store) -> None:
    store.add_profile(profile())
    now = datetime.now(UTC)
    for tenant_id in ("t-1", "t-2"):
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id="sharedco", created_at=now)
        )
    store.confirm_mapping("t-1", "customer", by="cli:ana")
    store.confirm_mapping("t-1", "job")
    store.confirm_mapping("t-2", "vendor")
    found = store.mapping_confirmations(["t-1", "t-2", "t-3"])
    assert {t: sorted(e) for t, e in found.items()} == {
        "t-1": ["customer", "job"],
        "t-2": ["vendor"],
    }
    assert found["t-1"]["customer"].tzinfo is not None
    assert store.mapping_confirmations([]) == {}
    assert store.reopen_mapping("t-1", "job") is True
    assert store.reopen_mapping("t-1", "job") is False
    assert sorted(store.mapping_confirmations(["t-1"])["t-1"]) == ["customer"]
    store.remove_tenant("t-1")  # its confirmations go with it
    assert store.mapping_confirmations(["t-1", "t-2"]) == {
        "t-2": {"vendor": found["t-2"]["vendor"]}
    }
