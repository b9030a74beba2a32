"""The one place that reads and writes the database.

Callers get ORM rows bound to no session: detached after their read, or (the gateway's
per-call session row, read as a Core row for speed) made from the row's columns."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from collections.abc import Mapping as CollectionMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar, cast

import orjson
from sqlalchemy import (
    ARRAY,
    ColumnElement,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DisconnectionError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import Update

from connectors.store._history_rows import (
    QuickBooksReport,
    SessionEnd,
    history_ended,
    history_opened,
    history_reported,
)
from connectors.store._models import (
    Base,
    DeadLetterReplay,
    DeliveredChange,
    IdMapping,
    ImportWatermark,
    LoginThrottle,
    MappingConfirmation,
    ParkRelease,
    Profile,
    QboCompanyRow,
    QuickBooksRecord,
    SyncLogEntry,
    Tenant,
    WebConnectorSession,
)
from core.errors import QbsyncError
from core.grouping import Grouped

__all__ = [
    "RELEASE_ACTIONS",
    "FullRead",
    "Holder",
    "Mapping",
    "ReleaseRequest",
    "SessionBusy",
    "Store",
    "StoreError",
    "WorkingSession",
    "json_text",
]

FullRead = Literal["match", "deliver"]
_FULL_READS: tuple[FullRead, ...] = ("match", "deliver")

RELEASE_ACTIONS = ("release", "dead-letter")


@dataclass(frozen=True)
class ReleaseRequest:
    """Support's request about one parked record (``qbsync parked``, the console)."""

    tenant_id: str
    entity: str
    entity_id: str
    requested_at: datetime
    action: str  # release | dead-letter
    parked_at: float | None  # the version asked about; None: whatever is parked
    requested_by: str | None

    @property
    def record(self) -> tuple[str, str, str]:
        return (self.tenant_id, self.entity, self.entity_id)


@dataclass(frozen=True)
class Holder:
    """Who holds a QuickBooks record (:meth:`Store.holders`): a tenant, and the source id it
    maps the record under (None: that tenant had qbsync write it but maps it under no id of
    the entity asked about yet)."""

    tenant_id: str
    external_id: str | None


Row = TypeVar("Row", bound=Base)
T = TypeVar("T")


class StoreError(QbsyncError):
    """Base of the store's errors."""


class SessionBusy(StoreError):
    """Another live Web Connector session holds this company file."""


@dataclass(frozen=True)
class Mapping:
    tenant_id: str
    entity: str
    external_id: str
    qb_id: str
    edit_sequence: str | None
    full_name: str | None


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything we write is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """``values`` in slices of at most 500: the store's batch look-ups send one ``IN`` list
    per slice, which keeps every statement under SQLite's and psycopg's parameter limits."""
    for start in range(0, len(values), 500):
        yield values[start : start + 500]


def _rows(session: Session, model: type[Row], keys: Iterable[tuple[Any, ...]]) -> dict[Any, Row]:
    """The rows with these primary keys, by key, in one query per 500: a batch's upserts
    then cost a query per 500 rows instead of one per row (``session.get`` each)."""
    columns = model.__mapper__.primary_key
    wanted = sorted(set(keys))
    found: dict[Any, Row] = {}
    for chunk in _chunks(wanted):
        query = select(model).where(tuple_(*columns).in_(chunk))
        for row in session.scalars(query):
            found[inspect(row).identity] = row
    return found


def _among(
    session: Session, columns: Sequence[Any], keys: Sequence[tuple[str, ...]]
) -> ColumnElement[bool]:
    """``columns`` (text) in ``keys``. On PostgreSQL the keys go as one array per column,
    unnested, so the statement's text is the same for every batch: psycopg converts an
    ``IN`` list of 1,500 parameters to ``$n`` form again on every batch (its text is over
    psycopg's cache limit), two thirds of ``mappings_of``'s cost there. On SQLite one JSON
    text (below); elsewhere an ``IN`` list."""
    dialect = session.get_bind().dialect.name
    if dialect == "sqlite":
        # One JSON text, unpacked by SQLite: the statement's text is the same for every
        # batch (cached compiled), where an IN list of 1,500 parameters was compiled again
        # on every batch (~6% of the worker's translate CPU).
        each = func.json_each(bindparam("keys", json.dumps([list(k) for k in keys])))
        rows = each.table_valued("value")
        unpacked = [func.json_extract(rows.c.value, f"$[{i}]") for i in range(len(columns))]
        return tuple_(*columns).in_(select(*unpacked))
    if dialect != "postgresql":
        return tuple_(*columns).in_(keys)
    names = [f"k{i}" for i in range(len(columns))]
    arrays = [
        bindparam(name, [key[i] for key in keys], type_=ARRAY(String))
        for i, name in enumerate(names)
    ]
    unnested = func.unnest(*arrays).table_valued(*names).render_derived()
    return tuple_(*columns).in_(select(unnested))


def _others(session: Session, tenant_ids: Sequence[str]) -> dict[str, set[str]]:
    """The other tenants of each tenant's company file (unknown tenants are absent), in one
    query per 500 tenants."""
    profiles: dict[str, str] = {}
    for chunk in _chunks(tenant_ids):
        mine = select(Tenant.profile_id).where(Tenant.id.in_(chunk))
        query = select(Tenant.id, Tenant.profile_id).where(Tenant.profile_id.in_(mine))
        profiles.update((tenant_id, profile_id) for tenant_id, profile_id in session.execute(query))
    on_file: dict[str, set[str]] = {}
    for tenant_id, profile_id in profiles.items():
        on_file.setdefault(profile_id, set()).add(tenant_id)
    return {t: on_file[profiles[t]] - {t} for t in tenant_ids if t in profiles}


def _holding(
    session: Session, tenants: set[str], qb_ids: Iterable[str]
) -> dict[str, list[tuple[str, str, str | None]]]:
    """By QuickBooks id, ``(tenant, entity, source id)`` of the ``tenants``' mappings of
    these records, then ``(tenant, entity, None)`` of those qbsync wrote for them and the
    worker has not settled yet; one query per 500 ids and kind."""
    wanted = sorted(set(qb_ids))
    found: dict[str, list[tuple[str, str, str | None]]] = {}
    if not tenants:
        return found
    among = sorted(tenants)
    for chunk in _chunks(wanted):
        mapped = select(
            IdMapping.qb_id, IdMapping.tenant_id, IdMapping.entity, IdMapping.external_id
        ).where(IdMapping.tenant_id.in_(among), IdMapping.qb_id.in_(chunk))
        for qb_id, tenant_id, entity, external_id in session.execute(mapped):
            found.setdefault(qb_id, []).append((tenant_id, entity, external_id))
        written = select(
            DeliveredChange.qb_id, DeliveredChange.tenant_id, DeliveredChange.entity
        ).where(
            DeliveredChange.tenant_id.in_(among),
            DeliveredChange.qb_id.in_(chunk),
            DeliveredChange.changed_at.is_(None),  # only our own writes have none
        )
        for qb_id, tenant_id, entity in session.execute(written):
            found.setdefault(qb_id, []).append((tenant_id, entity, None))
    return found


_MAPPINGS = cast(Table, IdMapping.__table__)
_SYNC_LOG = cast(Table, SyncLogEntry.__table__)
_FORGET = delete(_MAPPINGS).where(
    IdMapping.tenant_id == bindparam("t"),
    IdMapping.entity == bindparam("e"),
    IdMapping.external_id == bindparam("x"),
)
_LOG_COLUMNS = tuple(c.key for c in _SYNC_LOG.columns if c.key != "id")
_INSERT_LOG = insert(_SYNC_LOG)
_MAPPING_KEY = ("tenant_id", "entity", "external_id")
_MAPPING_SET = ("qb_id", "edit_sequence", "full_name", "updated_at")


def _upsert_mappings(dialect: str) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` of id mappings (SQLite and PostgreSQL
    spell it alike): a mapping saved again takes the new id, version and name."""
    build = postgresql_insert if dialect == "postgresql" else sqlite_insert
    statement = build(_MAPPINGS)
    return statement.on_conflict_do_update(
        index_elements=list(_MAPPING_KEY),
        set_={name: statement.excluded[name] for name in _MAPPING_SET},
    )


def json_text(value: Any) -> str:
    """A JSON column's text, by orjson (the gateway writes its batch in flight, ~16 KB, at
    every batch and reads it twice: json's dumps was ~5% of a working call's CPU). Keys
    that are not strings are written as strings, as json does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# A pooled PostgreSQL connection unused this long is asked "SELECT 1" before it is handed
# out again (_ping_when_idle).
PING_IDLE_S = 1.0


def make_engine(
    url: str,
    *,
    echo: bool = False,
    pool_size: int = 5,
    max_overflow: int = 10,
    ping_idle_s: float = PING_IDLE_S,
) -> Engine:
    if url.startswith("sqlite"):
        # The pool's size counts on SQLite too: the gateway asks for one kept connection per
        # request thread, and a connection given back beyond the kept ones is closed, so
        # every busy call paid a new connection and its PRAGMAs (~3% of a working gateway's
        # samples at 16 sessions before this).
        memory = url in ("sqlite://", "sqlite:///:memory:") or "mode=memory" in url
        sized = {} if memory else {"pool_size": pool_size, "max_overflow": max_overflow}
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            json_serializer=json_text,
            json_deserializer=orjson.loads,
            **sized,
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets the worker and the gateway (separate processes) read while one writes.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(
        url,
        echo=echo,
        pool_size=pool_size,
        max_overflow=max_overflow,
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )
    _ping_when_idle(engine, ping_idle_s)
    return engine


def _ping_when_idle(engine: Engine, idle_s: float) -> None:
    """SQLAlchemy's ``pool_pre_ping``, for connections that sat idle ``idle_s`` or more.

    Pinging every checkout cost the gateway a round trip per statement (its per-call reads
    and writes each check out a connection): on PostgreSQL about a third of a working
    batch's store CPU, measured alone (docs/gateway-scale.md, "The session's per-call
    statements built once; pings only when idle"). A busy gateway hands a
    connection out again within milliseconds, so it is pinged only when it has sat for a
    second: a server restart or failover takes longer than that, so every connection
    kept across one is still checked before use. One that breaks while in use, or within
    the second, fails its statement as it would with any ping; SQLAlchemy then drops every
    pooled connection made before the failure, and the Web Connector call that met it is
    answered as failed and recorded (nothing in flight is settled)."""

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is None or time.monotonic() - since < idle_s:
            return  # fresh from connect, or back in use at once
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool makes a new connection and tries again
            raise DisconnectionError() from error


# The gateway's per-call statements, built once: a working session reads its row (with the
# profile's sent_through mark) on every Web Connector call. As Core statements
# on a connection they cost about a third of the ORM's Session.get (docs/gateway-scale.md).
_SESSIONS = cast(Table, WebConnectorSession.__table__)
_PROFILES = cast(Table, Profile.__table__)
_LIVE_SESSION = select(_SESSIONS).where(_SESSIONS.c.ticket_hash == bindparam("ticket_hash"))
# The row and its file's sent_through mark in one statement: the two reads of a batch's
# receiveResponseXML were two round trips (three each on PostgreSQL: BEGIN, SELECT,
# ROLLBACK). A session's profile cannot go while it exists (the foreign key); read as 0 if
# it did (an outer join), the mark of a file never sent to.
# The batch in flight comes as its JSON text (a cast: psycopg would parse a json column),
# which the gateway parses only if it is not the text it last wrote or read for the session
# (connectors.qbwc._flight_memo): the row is read on every call, the flight changes once a
# batch.
_WORKING_SESSION = (
    select(
        *(column for column in _SESSIONS.c if column.name != "in_flight"),
        sql_cast(_SESSIONS.c.in_flight, Text).label("in_flight_json_"),
        func.coalesce(_PROFILES.c.sent_through, 0).label("sent_through_"),
    )
    .select_from(_SESSIONS.outerjoin(_PROFILES, _PROFILES.c.id == _SESSIONS.c.profile_id))
    .where(_SESSIONS.c.ticket_hash == bindparam("ticket_hash"))
)
_RAISE_SENT_THROUGH = (
    update(_PROFILES)
    .where(_PROFILES.c.id == bindparam("profile_id"), _PROFILES.c.sent_through < bindparam("mark"))
    .values(sent_through=bindparam("mark"))
)
# What update_session may set; expires_at comes from its ttl.
_SESSION_FIELDS = frozenset(_SESSIONS.c.keys()) - {"expires_at"}


@functools.cache
def _session_update_marking(fields: frozenset[str]) -> Update:
    """:func:`_session_update` and the profile's ``sent_through`` raise as one statement
    (PostgreSQL: the session's UPDATE in a WITH, the profile's only if it found the row):
    ``mark_profile_`` and ``mark_`` bind the profile and the offset."""
    written = _session_update(fields).returning(_SESSIONS.c.profile_id).cte("written")
    return (
        update(_PROFILES)
        .where(
            _PROFILES.c.id == written.c.profile_id,
            _PROFILES.c.id == bindparam("mark_profile_"),
            _PROFILES.c.sent_through < bindparam("mark_"),
        )
        .values(sent_through=bindparam("mark_"))
    )


@functools.cache
def _session_update(fields: frozenset[str]) -> Update:
    """``UPDATE qbwc_sessions SET <fields>, expires_at WHERE ticket_hash``, built once per
    set of fields (a handful: the gateway's writes), each value a bind parameter named as
    its column. Built per call, the statement's coercions and cache key were half of the
    write's CPU (measured alone: docs/gateway-scale.md, "The session's per-call statements
    built once; pings only when idle")."""
    return (
        update(_SESSIONS)
        .where(_SESSIONS.c.ticket_hash == bindparam("key_"))
        .values({name: bindparam(name) for name in sorted(fields | {"expires_at"})})
    )


@dataclass(frozen=True)
class WorkingSession:
    """A live session's row and its file's ``sent_through`` mark, read together
    (:meth:`Store.working_session`). While the session holds its file's lease only its own
    writes raise the mark, so the value holds for the rest of the call."""

    row: WebConnectorSession
    sent_through: int
    # The batch in flight as the row holds it (JSON text; None or "null" when there is
    # none). ``row.in_flight`` is not read here: parse this (the gateway's flight memo).
    in_flight_json: str | None = None


@dataclass(frozen=True)
class _SessionWrite:
    """One :meth:`Store.update_session`, ready to run on a connection in a transaction.
    Core statements on the connection: the ORM's unit of work has nothing to do here (no
    object is loaded) and was two thirds of this write's CPU."""

    statement: Update
    params: dict[str, Any]
    sent_through: tuple[str, int] | None
    reported: QuickBooksReport | None
    ended: SessionEnd | None

    def alone(self) -> tuple[Update, dict[str, Any]] | None:
        """The write as one statement and its parameters (PostgreSQL), or None when it has
        history to write too (a session's first report, its end: a transaction)."""
        if self.reported is not None or self.ended is not None:
            return None
        if self.sent_through is None:
            return self.statement, self.params
        profile_id, offset = self.sent_through
        fields = frozenset(self.params) - {"key_", "expires_at"}
        return _session_update_marking(fields), {
            **self.params,
            "mark_profile_": profile_id,
            "mark_": offset,
        }

    def apply(self, connection: Connection) -> None:
        updated = connection.execute(self.statement, self.params)
        # A session gone meanwhile sent nothing: its file's mark stays where it was.
        if updated.rowcount != 1:
            return
        if self.sent_through is not None:
            profile_id, offset = self.sent_through
            connection.execute(_RAISE_SENT_THROUGH, {"profile_id": profile_id, "mark": offset})
        if self.reported is not None:
            history_reported(connection, self.params["key_"], self.reported)
        if self.ended is not None:
            history_ended(connection, self.params["key_"], self.ended)


class Store:
    """Tenants, profiles, id mappings and Web Connector sessions."""

    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 5, max_overflow: int = 10
    ) -> None:
        self.engine = make_engine(url, echo=echo, pool_size=pool_size, max_overflow=max_overflow)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        # Statements that are a transaction alone (the per-call reads; a session write that
        # is one statement) run in autocommit on PostgreSQL: one round trip each, where in
        # a transaction a read is three (BEGIN, the SELECT, the pool's ROLLBACK) and a
        # write four; one statement is atomic and sees one snapshot either way. SQLite's
        # driver begins no transaction for a SELECT, and its session writes are grouped.
        self._alone: Engine = (
            self.engine
            if url.startswith("sqlite")
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        # SQLite has one writer at a time, and a thread that finds the file locked sleeps
        # in SQLite's busy handler with growing pauses (1, 2, 5 ... 100 ms), long after the
        # lock may have been freed: with the gateway's 16 request threads those sleeps were
        # its p99 (~1 s at 64 sessions, docs/gateway-scale.md). One lock per process hands
        # the file from thread to thread as soon as it is free; another process (the
        # worker) still meets the busy handler. PostgreSQL locks rows: no lock here.
        sqlite = url.startswith("sqlite")
        self.serial: AbstractContextManager[Any] = threading.RLock() if sqlite else nullcontext()
        # SQLite's writes take turns anyway, and each commit syncs the write-ahead log to
        # disk: under 16 sessions the session writes held the file 8 ms each (p50, 0.8 ms
        # without the sync) and waited ~95 ms for their turn. Concurrent ones now share a
        # transaction, so one sync, and each caller still returns only once its own write
        # is committed (core.grouping; docs/gateway-scale.md, "Session writes share a
        # transaction"). PostgreSQL writes side by side and groups its own log flushes.
        self._session_writes: Grouped[_SessionWrite] | None = (
            Grouped(self._write_sessions) if sqlite else None
        )

    def close(self) -> None:
        self.engine.dispose()

    @property
    def waiting_session_writes(self) -> int:
        """Session writes queued behind the transaction in progress (SQLite; 0 otherwise)."""
        return self._session_writes.waiting if self._session_writes is not None else 0

    def ping(self) -> bool:
        """Whether the database answers (the gateway's readiness)."""
        try:
            with self.engine.connect() as connection:
                connection.execute(select(1))
        except Exception:  # any failure means "not ready", never a crash
            return False
        return True

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with self.serial, self._sessions.begin() as session:
            yield session

    @contextmanager
    def _core_tx(self) -> Iterator[Connection]:
        """:meth:`_tx` for Core statements: a connection in a transaction, no ORM session."""
        with self.serial, self.engine.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read that writes nothing: it does not take :attr:`serial`. SQLite in WAL mode
        lets readers run beside its one writer (pysqlite begins a transaction only before
        a write, so a SELECT holds no lock a writer waits for), as PostgreSQL does; only
        writes take turns. Read under the lock, a Web Connector call's session and profile
        look-ups queued behind every other thread's writes: three quarters of the gateway's
        in-request time at 64 sessions (docs/gateway-scale.md)."""
        with self._sessions() as session:
            yield session

    # -- profiles -------------------------------------------------------------------------

    def add_profile(self, profile: Profile) -> Profile:
        try:
            with self._tx() as session:
                session.add(profile)
        except IntegrityError as exc:
            raise StoreError(
                f"a profile named {profile.name!r} or with username {profile.username!r} exists"
            ) from exc
        return profile

    def add_profiles(self, profiles: list[Profile]) -> None:
        """Many profiles in one transaction (all or none): provisioning thousands of company
        files at once costs one commit, not one each."""
        try:
            with self._tx() as session:
                session.add_all(profiles)
        except IntegrityError as exc:
            raise StoreError(
                "a profile name or username in this batch exists already (or repeats in it)"
            ) from exc

    def profile(self, profile_id: str) -> Profile | None:
        with self._read() as session:
            return session.get(Profile, profile_id)

    def profile_by_username(self, username: str) -> Profile | None:
        with self._read() as session:
            return session.scalar(select(Profile).where(Profile.username == username))

    def login_fields(self) -> dict[str, tuple[str, str, bool, str]]:
        """Per profile id what a login reads of it: (username, password hash, enabled,
        company file), every profile in one statement (the gateway's profile cache checks
        its entries against this in bulk instead of reading one profile per poll)."""
        # Core rows on the connection, not ORM objects (5,000 profiles: ~17 ms of CPU on
        # SQLite; one profile read by name: ~0.8-1.4 ms).
        table = Profile.__table__
        statement = select(
            table.c.id,
            table.c.username,
            table.c.password_hash,
            table.c.enabled,
            table.c.company_file,
        )
        with self._read() as session:
            rows = session.connection().execute(statement)
            return {row[0]: (row[1], row[2], bool(row[3]), row[4]) for row in rows}

    def profiles(self) -> list[Profile]:
        with self._tx() as session:
            return list(session.scalars(select(Profile).order_by(Profile.name)))

    def profile_by_name(self, name: str) -> Profile | None:
        with self._tx() as session:
            return session.scalar(select(Profile).where(Profile.name == name))

    def is_qbo(self, profile_id: str) -> bool:
        """Whether the profile is a QuickBooks Online company (``connectors.qbo``)."""
        with self._sessions() as session:
            return session.get(QboCompanyRow, profile_id) is not None

    def qbo_profiles(self, profile_ids: Sequence[str]) -> set[str]:
        """Which of these profiles are QuickBooks Online companies, in one query per 500 (a
        worker's batch meeting hundreds of files for the first time asked once per file)."""
        wanted = sorted(set(profile_ids))
        found: set[str] = set()
        with self._sessions() as session:
            for chunk in _chunks(wanted):
                query = select(QboCompanyRow.profile_id).where(QboCompanyRow.profile_id.in_(chunk))
                found.update(session.scalars(query))
        return found

    def update_profile(self, profile_id: str, **changes: Any) -> Profile:
        with self._tx() as session:
            profile = session.get(Profile, profile_id)
            if profile is None:
                raise StoreError(f"no profile {profile_id!r}")
            for name, value in changes.items():
                setattr(profile, name, value)
            return profile

    def touch_profile(self, profile_id: str) -> None:
        with self._tx() as session:
            profile = session.get(Profile, profile_id)
            if profile is not None:
                profile.last_seen_at = _now()

    # -- login throttling (atomic: one statement per change, no read-modify-write) -------

    def claim_login(
        self, key: str, *, free_failures: int, lockout: Callable[[int], timedelta]
    ) -> bool:
        """Count one login attempt for ``key``; whether its password may be checked.

        The count goes up in one ``UPDATE ... RETURNING`` (no lost updates between gateway
        threads or replicas). Within ``free_failures`` the check runs. Beyond them only while
        no lockout holds, and then only one attempt at a time: it takes the lockout itself
        (compare-and-set on ``locked_until``), so N parallel guesses cost one check, not N.
        """
        now = _now()
        failures, locked_until = self._count_attempt(key, now)
        if locked_until is not None and _aware(locked_until) > now:
            return False
        if failures <= free_failures:
            return True
        with self._tx() as session:
            taken = session.execute(
                update(LoginThrottle)
                .where(
                    LoginThrottle.key == key,
                    or_(LoginThrottle.locked_until.is_(None), LoginThrottle.locked_until <= now),
                )
                .values(locked_until=now + lockout(failures - free_failures))
            )
            return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    def _count_attempt(self, key: str, now: datetime) -> tuple[int, datetime | None]:
        """One more attempt on ``key``'s counter, created at 1 if missing: one transaction
        (a first login of thousands of new files is one write each, not two)."""
        for _ in range(3):
            try:
                with self._tx() as session:
                    row = session.execute(
                        update(LoginThrottle)
                        .where(LoginThrottle.key == key)
                        .values(failures=LoginThrottle.failures + 1, last_attempt_at=now)
                        .returning(LoginThrottle.failures, LoginThrottle.locked_until)
                    ).one_or_none()
                    if row is None:
                        session.add(LoginThrottle(key=key, failures=1, last_attempt_at=now))
                        return 1, None
                    return int(row[0]), row[1]
            except IntegrityError:
                continue  # a parallel attempt created it meanwhile: count on that row
        raise StoreError(f"login counter {key[:12]}... kept changing; try again")

    def login_failed(
        self, key: str, *, free_failures: int, lockout: Callable[[int], timedelta]
    ) -> None:
        """After a wrong password: past ``free_failures`` attempts, lock ``key`` for
        ``lockout(attempts - free_failures)`` from now."""
        now = _now()
        with self._tx() as session:
            failures = session.scalar(
                select(LoginThrottle.failures).where(LoginThrottle.key == key)
            )
            if failures is not None and failures >= free_failures:
                session.execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key)
                    .values(locked_until=now + lockout(failures - free_failures + 1))
                )

    def login_succeeded(self, key: str) -> None:
        with self._tx() as session:
            session.execute(
                update(LoginThrottle)
                .where(LoginThrottle.key == key)
                .values(failures=0, locked_until=None)
            )

    def count_failure(self, key: str) -> int:
        """Add one to a plain counter (e.g. failed logins this minute, all names); the
        new count."""
        try:
            with self._tx() as session:
                session.add(LoginThrottle(key=key, failures=0, last_attempt_at=_now()))
        except IntegrityError:
            pass
        with self._tx() as session:
            return int(
                session.execute(
                    update(LoginThrottle)
                    .where(LoginThrottle.key == key)
                    .values(failures=LoginThrottle.failures + 1)
                    .returning(LoginThrottle.failures)
                ).scalar_one()
            )

    def login_counters(self, *keys: str) -> dict[str, tuple[int, datetime | None]]:
        """``(failures, locked_until)`` of each of ``keys`` that has a counter: one read."""
        with self._read() as session:
            rows = session.execute(
                select(LoginThrottle.key, LoginThrottle.failures, LoginThrottle.locked_until).where(
                    LoginThrottle.key.in_(keys)
                )
            )
            return {
                row[0]: (int(row[1]), None if row[2] is None else _aware(row[2])) for row in rows
            }

    def counter(self, key: str) -> int:
        with self._read() as session:
            return int(
                session.scalar(select(LoginThrottle.failures).where(LoginThrottle.key == key)) or 0
            )

    def login_throttle(self, key: str) -> LoginThrottle | None:
        with self._read() as session:
            return session.get(LoginThrottle, key)

    def lift_lockout(self, key: str) -> None:
        """Let the next attempt for ``key`` be checked (support, after a password reset)."""
        with self._tx() as session:
            session.execute(
                update(LoginThrottle).where(LoginThrottle.key == key).values(locked_until=None)
            )

    def prune_counters(self, prefix: str, keep: Sequence[str], idle_before: datetime) -> None:
        """Delete the counters under ``prefix`` except ``keep`` (old per-minute buckets), and
        every counter nobody has tried since ``idle_before`` and that holds no lockout (so
        names sprayed at the gateway do not pile up)."""
        with self._tx() as session:
            session.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.key.startswith(prefix), LoginThrottle.key.not_in(list(keep))
                )
            )
            session.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.last_attempt_at < idle_before,
                    or_(
                        LoginThrottle.locked_until.is_(None),
                        LoginThrottle.locked_until < idle_before,
                    ),
                )
            )

    def stalled_profiles(self, factor: float) -> int:
        """Enabled profiles whose Web Connector has not called for ``factor`` x its schedule."""
        now = _now()
        with self._tx() as session:
            rows = session.execute(
                select(Profile.last_seen_at, Profile.run_every_minutes).where(
                    Profile.enabled.is_(True), Profile.last_seen_at.is_not(None)
                )
            ).all()
        return sum(
            1
            for seen, minutes in rows
            if seen is not None and now - _aware(seen) > timedelta(minutes=minutes * factor)
        )

    # -- tenants --------------------------------------------------------------------------

    def add_tenant(self, tenant: Tenant) -> Tenant:
        try:
            with self._tx() as session:
                session.add(tenant)
        except IntegrityError as exc:
            raise StoreError(
                f"tenant {tenant.id!r} exists, or profile {tenant.profile_id!r} does not"
            ) from exc
        return tenant

    def tenant(self, tenant_id: str) -> Tenant | None:
        with self._tx() as session:
            return session.get(Tenant, tenant_id)

    def tenants_by_id(self, tenant_ids: Sequence[str]) -> dict[str, Tenant]:
        """These tenants, by id, in one query per 500 (a worker's batch); unknown ids are
        absent."""
        wanted = sorted(set(tenant_ids))
        found: dict[str, Tenant] = {}
        with self._tx() as session:
            for chunk in _chunks(wanted):
                query = select(Tenant).where(Tenant.id.in_(chunk))
                found.update((tenant.id, tenant) for tenant in session.scalars(query))
        return found

    def tenants(self, profile_id: str | None = None) -> list[Tenant]:
        query = select(Tenant).order_by(Tenant.id)
        if profile_id is not None:
            query = query.where(Tenant.profile_id == profile_id)
        with self._tx() as session:
            return list(session.scalars(query))

    def update_tenant_settings(self, tenant_id: str, settings: dict[str, Any]) -> Tenant:
        """Replace the tenant's settings JSON (callers validate it first)."""
        with self._tx() as session:
            tenant = session.get(Tenant, tenant_id)
            if tenant is None:
                raise StoreError(f"no tenant {tenant_id!r}")
            tenant.settings = dict(settings)
            return tenant

    def remove_tenant(self, tenant_id: str) -> int:
        """Forget a tenant and what is kept for it here (mappings, delivered changes, sync
        log), in one transaction; the rows removed. Nothing in QuickBooks changes."""
        with self._tx() as session:
            if session.get(Tenant, tenant_id) is None:
                raise StoreError(f"no tenant {tenant_id!r} (try `qbsync tenant list`)")
            return _remove_tenants(session, [tenant_id])

    def remove_profile(self, profile_id: str) -> int:
        """Forget a profile, its tenants, sessions and imported records, in one
        transaction; the rows removed. Nothing in QuickBooks changes."""
        with self._tx() as session:
            if session.get(Profile, profile_id) is None:
                raise StoreError(f"no profile {profile_id!r} (try `qbsync profile list`)")
            tenants = list(
                session.scalars(select(Tenant.id).where(Tenant.profile_id == profile_id))
            )
            removed = _remove_tenants(session, tenants)
            for model in (WebConnectorSession, QuickBooksRecord, ImportWatermark):
                removed += _deleted(session, delete(model).where(model.profile_id == profile_id))
            return removed + _deleted(session, delete(Profile).where(Profile.id == profile_id))

    # -- id mappings ----------------------------------------------------------------------

    def mapping(self, tenant_id: str, entity: str, external_id: str) -> Mapping | None:
        with self._tx() as session:
            row = session.get(IdMapping, (tenant_id, entity, external_id))
            return None if row is None else _mapping(row)

    def mappings(self, tenant_id: str | None = None, entity: str | None = None) -> list[Mapping]:
        """Mappings (of one tenant, of one entity), by tenant, entity and source id."""
        query = select(IdMapping).order_by(
            IdMapping.tenant_id, IdMapping.entity, IdMapping.external_id
        )
        if tenant_id is not None:
            query = query.where(IdMapping.tenant_id == tenant_id)
        if entity is not None:
            query = query.where(IdMapping.entity == entity)
        with self._tx() as session:
            return [_mapping(row) for row in session.scalars(query)]

    def mapped_qb_ids(self, tenant_ids: Sequence[str], entity: str) -> set[str]:
        """The QuickBooks ids of these tenants' ``entity`` records (what a deletion sweep
        checks still exists: ``connectors.qbo`` ``QboReader``)."""
        if not tenant_ids:
            return set()
        query = select(IdMapping.qb_id).where(
            IdMapping.tenant_id.in_(sorted(set(tenant_ids))), IdMapping.entity == entity
        )
        with self._tx() as session:
            return set(session.scalars(query))

    def mappings_of(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], Mapping]:
        """The mappings of these ``(tenant, entity, source id)`` records, in one query per
        500 (a worker's batch); records without one are absent."""
        wanted = sorted(set(keys))
        found: dict[tuple[str, str, str], Mapping] = {}
        key = (IdMapping.tenant_id, IdMapping.entity, IdMapping.external_id)
        # columns, not ORM objects: a batch's rows are only read, never changed
        columns = (*key, IdMapping.qb_id, IdMapping.edit_sequence, IdMapping.full_name)
        with self._tx() as session:
            for chunk in _chunks(wanted):
                for row in session.execute(select(*columns).where(_among(session, key, chunk))):
                    found[(row[0], row[1], row[2])] = Mapping(*row)
        return found

    def save_mapping(self, mapping: Mapping) -> None:
        """Insert or update; the newest EditSequence wins."""
        self.save_outcomes([mapping], [])

    def save_outcomes(
        self,
        mappings: list[Mapping],
        entries: list[SyncLogEntry],
        *,
        forget: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """A batch of results in one transaction: mappings (insert or update), log rows, and
        stale mappings to forget (``(tenant, entity, source id)``).

        Core statements, each run once for the whole batch with a row of parameters per
        record (``executemany``): one statement text whatever the batch's size, cached by
        SQLAlchemy and the driver, and no unit of work (an ORM object per row, its flush)."""
        if not mappings and not entries and not forget:
            return
        with self._tx() as session:
            if forget:
                session.execute(_FORGET, [{"t": t, "e": e, "x": x} for t, e, x in set(forget)])
            if mappings:
                now = _now()
                # one row per record, the last of the batch winning (as the unit of work did):
                # PostgreSQL refuses a statement that upserts one row twice
                rows = {(m.tenant_id, m.entity, m.external_id): m for m in mappings}
                session.execute(
                    _upsert_mappings(session.get_bind().dialect.name),
                    [
                        {
                            "tenant_id": m.tenant_id,
                            "entity": m.entity,
                            "external_id": m.external_id,
                            "qb_id": m.qb_id,
                            "edit_sequence": m.edit_sequence,
                            "full_name": m.full_name,
                            "updated_at": now,
                        }
                        for m in rows.values()
                    ],
                )
            if entries:
                session.execute(
                    _INSERT_LOG,
                    [{name: getattr(entry, name) for name in _LOG_COLUMNS} for entry in entries],
                )

    def log_sync(self, entry: SyncLogEntry) -> None:
        with self._tx() as session:
            session.add(entry)

    def sync_log(
        self,
        tenant_id: str,
        since: datetime | None = None,
        *,
        entity: str | None = None,
        entity_id: str | None = None,
    ) -> list[SyncLogEntry]:
        """A tenant's log (of one entity, one record), oldest first."""
        query = select(SyncLogEntry).where(*_log_filter(tenant_id, entity, entity_id))
        if since is not None:
            query = query.where(SyncLogEntry.at >= since)
        with self._tx() as session:
            return list(session.scalars(query.order_by(SyncLogEntry.at, SyncLogEntry.id)))

    def clear_sync_log(
        self, tenant_id: str, *, entity: str | None = None, entity_id: str | None = None
    ) -> int:
        """Delete a tenant's log entries (of one entity, one record); how many went."""
        with self._tx() as session:
            done = session.execute(
                delete(SyncLogEntry).where(*_log_filter(tenant_id, entity, entity_id))
            )
            return int(getattr(done, "rowcount", 0) or 0)

    def delete_mapping(self, tenant_id: str, entity: str, external_id: str) -> bool:
        with self._tx() as session:
            row = session.get(IdMapping, (tenant_id, entity, external_id))
            if row is None:
                return False
            session.delete(row)
            return True

    # -- two-way: what the apps were told ---------------------------------------------

    def mappings_by_qb_id(self, tenant_id: str, qb_ids: Sequence[str]) -> dict[str, list[Mapping]]:
        """The tenant's mappings of these QuickBooks records (a record can be mapped under
        more than one entity: a 1099 worker is an employee and a QuickBooks vendor)."""
        found: dict[str, list[Mapping]] = {}
        wanted = sorted(set(qb_ids))
        with self._tx() as session:
            for chunk in _chunks(wanted):
                query = select(IdMapping).where(
                    IdMapping.tenant_id == tenant_id,
                    IdMapping.qb_id.in_(chunk),
                )
                for row in session.scalars(query):
                    found.setdefault(row.qb_id, []).append(_mapping(row))
        return found

    def held_by_others(
        self,
        tenant_id: str,
        keys: Sequence[tuple[str, str]],
        *,
        kin: CollectionMapping[str, Collection[str]] | None = None,
        by_id: bool = False,
    ) -> dict[tuple[str, str], str]:
        """Which of these ``(entity, QuickBooks id)`` records belong to *another* tenant of
        the tenant's company file: that tenant maps it, or qbsync wrote it for that tenant
        (the gateway's record of the write, before the worker settles the result), as the
        same entity or one of ``kin[entity]`` (like :meth:`holders`: QuickBooks Online
        numbers each entity on its own, so another tenant's Invoice 42 is not a Customer
        42); ``by_id``: as any entity (Desktop, where an id names one record in the whole
        file). One query per 500 ids and kind; a tenant alone on its file gets ``{}``."""
        with self._tx() as session:
            others = _others(session, [tenant_id]).get(tenant_id, set())
            holding = _holding(session, others, [qb_id for _, qb_id in keys])
        found: dict[tuple[str, str], str] = {}
        for entity, qb_id in keys:
            same = {entity, *(kin or {}).get(entity, ())}
            holder = next(
                (
                    row[0]
                    for row in holding.get(qb_id, [])
                    if row[0] in others and (by_id or row[1] in same)
                ),
                None,
            )
            if holder is not None:
                found[(entity, qb_id)] = holder
        return found

    def holders(
        self,
        keys: Sequence[tuple[str, str, str]],
        *,
        kin: CollectionMapping[str, Collection[str]] | None = None,
    ) -> dict[tuple[str, str, str], Holder]:
        """Who already holds each ``(tenant, entity, QuickBooks id)`` record, for a batch of
        results at once: the tenant's own app record mapped to it, else another tenant of the
        same company file that maps it or had qbsync write it (:meth:`held_by_others`), with
        the id that tenant maps it under as ``entity``. Records nobody holds are absent.
        A few queries per 500 keys, however many keys and tenants (not a query per key).

        Another tenant's record counts only as the same entity, or one of ``kin[entity]``
        (the app entities whose records live in the same QuickBooks list, the caller's
        rules: a job is a customer): QuickBooks Online numbers each entity on its own, so
        its Vendor 1 is not its Customer 1."""
        wanted = sorted(set(keys))
        found: dict[tuple[str, str, str], Holder] = {}
        with self._tx() as session:
            for chunk in _chunks(wanted):
                query = select(
                    IdMapping.tenant_id, IdMapping.entity, IdMapping.qb_id, IdMapping.external_id
                ).where(
                    _among(session, (IdMapping.tenant_id, IdMapping.entity, IdMapping.qb_id), chunk)
                )
                for tenant_id, entity, qb_id, external_id in session.execute(query):
                    found.setdefault((tenant_id, entity, qb_id), Holder(tenant_id, external_id))
            rest = [key for key in wanted if key not in found]
            asking = sorted({tenant_id for tenant_id, _, _ in rest})
            others = _others(session, asking) if asking else {}
            rest = [key for key in rest if others.get(key[0])]
            if not rest:
                return found
            everyone = set().union(*others.values())
            holding = _holding(session, everyone, [qb_id for _, _, qb_id in rest])
        for tenant_id, entity, qb_id in rest:
            same = {entity, *(kin or {}).get(entity, ())}
            rows = [
                row
                for row in holding.get(qb_id, [])
                if row[0] in others[tenant_id] and row[1] in same
            ]
            named = [row for row in rows if row[1] == entity and row[2] is not None]
            if named or rows:
                other, _kind, their_id = (named or rows)[0]
                found[(tenant_id, entity, qb_id)] = Holder(other, their_id if named else None)
        return found

    def delivered(
        self, tenant_id: str, entity: str, qb_ids: Sequence[str]
    ) -> dict[str, DeliveredChange]:
        """The newest version of each record the tenant was told about, by QuickBooks id."""
        wanted = sorted(set(qb_ids))
        with self._tx() as session:
            rows: list[DeliveredChange] = []
            for chunk in _chunks(wanted):
                rows += session.scalars(
                    select(DeliveredChange).where(
                        DeliveredChange.tenant_id == tenant_id,
                        DeliveredChange.entity == entity,
                        DeliveredChange.qb_id.in_(chunk),
                    )
                )
        return {row.qb_id: row for row in rows}

    def record_written(self, written: Sequence[tuple[str, str, str, str]]) -> None:
        """Versions qbsync itself wrote (``(tenant, entity, qb_id, edit_sequence)``), saved
        by the gateway before the session's imports read them back: the import then knows
        its own write without waiting for the worker to settle the result."""
        if not written:
            return
        now = _now()
        with self._tx() as session:
            rows = _rows(session, DeliveredChange, [w[:3] for w in written])
            for tenant_id, entity, qb_id, edit_sequence in written:
                row = rows.get((tenant_id, entity, qb_id))
                if row is None:
                    row = rows[(tenant_id, entity, qb_id)] = DeliveredChange(
                        tenant_id=tenant_id, entity=entity, qb_id=qb_id
                    )
                    session.add(row)
                row.edit_sequence = edit_sequence  # when QuickBooks changed it stays as it was
                row.delivered_at = now

    def record_delivered(
        self, delivered: Sequence[DeliveredChange], mappings: Sequence[Mapping] = ()
    ) -> None:
        """Changes sent to the apps, and the EditSequence their mapped records are now at
        (the app holds QuickBooks' version: its next edit is a Mod of that version), in
        one transaction."""
        if not delivered and not mappings:
            return
        with self._tx() as session:
            keys = [(c.tenant_id, c.entity, c.qb_id) for c in delivered]
            rows = _rows(session, DeliveredChange, keys)
            for change, key in zip(delivered, keys, strict=True):
                row = rows.get(key)
                if row is None:
                    rows[key] = change
                    session.add(change)
                    continue
                row.edit_sequence = change.edit_sequence
                row.changed_at = change.changed_at
                row.delivered_at = change.delivered_at
            ours = _rows(
                session, IdMapping, [(m.tenant_id, m.entity, m.external_id) for m in mappings]
            )
            for mapping in mappings:
                found = ours.get((mapping.tenant_id, mapping.entity, mapping.external_id))
                if found is not None:
                    found.edit_sequence = mapping.edit_sequence
                    found.updated_at = _now()

    # -- imports from QuickBooks --------------------------------------------------------

    def save_qb_records(self, profile_id: str, entity: str, records: list[dict[str, Any]]) -> int:
        """Insert or update imported records (``qb_id``, ``full_name``, ``ref_number``,
        ``is_active``, ``edit_sequence``, ``time_modified``): importing twice is harmless."""
        now = _now()
        with self._tx() as session:
            keys = [(profile_id, entity, record["qb_id"]) for record in records]
            rows = _rows(session, QuickBooksRecord, keys)
            for record, key in zip(records, keys, strict=True):
                row = rows.get(key)
                if row is None:
                    row = rows[key] = QuickBooksRecord(
                        profile_id=profile_id, entity=entity, qb_id=record["qb_id"]
                    )
                    session.add(row)
                row.full_name = record.get("full_name")
                row.ref_number = record.get("ref_number")
                row.is_active = record.get("is_active", True) is not False
                row.edit_sequence = record.get("edit_sequence")
                row.time_modified = record.get("time_modified")
                row.imported_at = now
        return len(records)

    def forget_qb_records(self, profile_id: str, entity: str, qb_ids: list[str]) -> int:
        """Remove records QuickBooks deleted (a deleted QBO transaction): no longer offered
        for matching (``qbsync map unmapped``). How many were kept."""
        if not qb_ids:
            return 0
        with self._tx() as session:
            return _deleted(
                session,
                delete(QuickBooksRecord).where(
                    QuickBooksRecord.profile_id == profile_id,
                    QuickBooksRecord.entity == entity,
                    QuickBooksRecord.qb_id.in_(qb_ids),
                ),
            )

    def qb_records(self, profile_id: str, entity: str) -> list[QuickBooksRecord]:
        query = (
            select(QuickBooksRecord)
            .where(QuickBooksRecord.profile_id == profile_id, QuickBooksRecord.entity == entity)
            .order_by(QuickBooksRecord.full_name, QuickBooksRecord.ref_number)
        )
        with self._tx() as session:
            return list(session.scalars(query))

    def qb_name_exists(self, profile_id: str, entity: str, full_name: str) -> bool | None:
        """Whether QuickBooks has an active ``entity`` of exactly that name; None when no
        import of that entity has completed (nothing is known)."""
        with self._tx() as session:
            mark = session.get(ImportWatermark, (profile_id, entity))
            if mark is None or mark.completed_at is None:
                return None
            found = session.scalar(
                select(func.count())
                .select_from(QuickBooksRecord)
                .where(
                    QuickBooksRecord.profile_id == profile_id,
                    QuickBooksRecord.entity == entity,
                    QuickBooksRecord.full_name == full_name,
                    QuickBooksRecord.is_active.is_(True),
                )
            )
            return bool(found)

    def watermarks(self, profile_id: str) -> dict[str, ImportWatermark]:
        query = select(ImportWatermark).where(ImportWatermark.profile_id == profile_id)
        with self._read() as session:
            return {row.entity: row for row in session.scalars(query)}

    def note_import_progress(
        self, profile_id: str, entity: str, read: int, remaining: int | None = None
    ) -> None:
        """How far the read of ``entity`` under way got (``qbsync tenant import-status``):
        ``read`` records so far, ``remaining`` as QuickBooks counts them (None: unknown).
        Cleared by :meth:`complete_import`; a read that stops leaves it, with its time."""
        with self._tx() as session:
            row = session.get(ImportWatermark, (profile_id, entity))
            if row is None:
                row = ImportWatermark(profile_id=profile_id, entity=entity, records=0)
                session.add(row)
            row.progress, row.remaining, row.progress_at = read, remaining, _now()

    def complete_import(
        self,
        profile_id: str,
        entity: str,
        modified_from: datetime | None,
        records: int,
        *,
        full_read: FullRead | None = None,
    ) -> None:
        """Every page of an import was processed: advance the watermark (never backwards).
        A pending full read is done only by a completed one (``full_read``) of its kind or
        "deliver": one asked for while a read since the watermark was under way still
        happens. A read for matching ("match") told the apps nothing: it moves neither the
        watermark nor the request, so the next read gives them what changed meanwhile."""
        with self._tx() as session:
            row = session.get(ImportWatermark, (profile_id, entity))
            if row is None:
                row = ImportWatermark(profile_id=profile_id, entity=entity, records=0)
                session.add(row)
            if full_read == "match":
                if row.full_read == "match":
                    row.full_read = None
                row.progress = row.remaining = row.progress_at = None
                return
            if modified_from is not None and (
                row.modified_from is None or _aware(row.modified_from) < modified_from
            ):
                row.modified_from = modified_from
            row.completed_at = _now()
            row.requested_at = None
            if full_read == "deliver":
                row.full_read = None
            row.records = (row.records or 0) + records
            row.progress = row.remaining = row.progress_at = None

    def import_requests(self) -> set[str]:
        """The profiles with an import requested and not yet completed (the gateway's
        bulk check: one statement for every file)."""
        # No DISTINCT: with it SQLite's planner walked the primary key (every row) for the
        # order instead of the partial index of the requested rows.
        query = select(ImportWatermark.profile_id).where(ImportWatermark.requested_at.is_not(None))
        with self._alone.connect() as connection:
            return set(connection.scalars(query))

    def request_import(
        self, profile_id: str, entities: list[str], *, full_read: FullRead | None = None
    ) -> None:
        """Import these at the file's next Web Connector session, due or not.
        ``full_read``: every record, whatever its age, for matching only ("match") or for
        the apps too ("deliver": "get all"; the caller checked the mappings were
        confirmed). A request never lowers a pending full read."""
        if full_read is not None and full_read not in _FULL_READS:
            raise StoreError(f"full_read: {full_read!r} is not one of {', '.join(_FULL_READS)}")
        with self._tx() as session:
            for entity in entities:
                row = session.get(ImportWatermark, (profile_id, entity))
                if row is None:
                    row = ImportWatermark(profile_id=profile_id, entity=entity, records=0)
                    session.add(row)
                row.requested_at = _now()
                if _rank(full_read) > _rank(row.full_read):
                    row.full_read = full_read

    # -- mapping confirmations: "get all" only after mapping -----------------------------

    def confirm_mapping(self, tenant_id: str, entity: str, *, by: str | None = None) -> None:
        """Support says the tenant's ``entity`` records are matched to the company's."""
        with self._tx() as session:
            row = session.get(MappingConfirmation, (tenant_id, entity))
            if row is None:
                row = MappingConfirmation(tenant_id=tenant_id, entity=entity)
                session.add(row)
            row.confirmed_at = _now()
            row.confirmed_by = by

    def reopen_mapping(self, tenant_id: str, entity: str) -> bool:
        """Withdraw a confirmation (matching goes on); False if there was none."""
        with self._tx() as session:
            row = session.get(MappingConfirmation, (tenant_id, entity))
            if row is None:
                return False
            session.delete(row)
            return True

    def mapping_confirmations(self, tenant_ids: Sequence[str]) -> dict[str, dict[str, datetime]]:
        """Per tenant, the entities whose mapping was confirmed, and when."""
        if not tenant_ids:
            return {}
        query = select(MappingConfirmation).where(
            MappingConfirmation.tenant_id.in_(sorted(set(tenant_ids)))
        )
        found: dict[str, dict[str, datetime]] = {}
        with self._tx() as session:
            for row in session.scalars(query):
                found.setdefault(row.tenant_id, {})[row.entity] = _aware(row.confirmed_at)
        return found

    # -- dead-letter replays -------------------------------------------------------------

    # -- parked records support asked to release ----------------------------------------

    def request_release(
        self,
        tenant_id: str,
        entity: str,
        entity_id: str,
        *,
        action: str = "release",
        parked_at: float | None = None,
        by: str | None = None,
    ) -> None:
        """Ask the worker holding this parked record, at its next sweep, to plan it again
        (``release``) or to send it to the dead-letter topic (``dead-letter``). One request
        per record: a second replaces the first (what support asked last)."""
        if action not in RELEASE_ACTIONS:
            raise StoreError(f"action: {action!r} is not one of {', '.join(RELEASE_ACTIONS)}")
        with self._tx() as session:
            row = session.get(ParkRelease, (tenant_id, entity, entity_id))
            if row is None:
                row = ParkRelease(tenant_id=tenant_id, entity=entity, entity_id=entity_id)
                session.add(row)
            row.requested_at = _now()
            row.action = action
            row.parked_at = parked_at
            row.requested_by = by

    def release_requests(self) -> list[ReleaseRequest]:
        """Every pending release or dead-letter request, oldest first."""
        query = select(ParkRelease).order_by(ParkRelease.requested_at)
        with self._tx() as session:
            return [
                ReleaseRequest(
                    r.tenant_id,
                    r.entity,
                    r.entity_id,
                    _aware(r.requested_at),
                    r.action,
                    r.parked_at,
                    r.requested_by,
                )
                for r in session.scalars(query)
            ]

    def forget_releases(self, keys: Sequence[tuple[str, str, str]]) -> None:
        if not keys:
            return
        with self._tx() as session:
            session.execute(
                delete(ParkRelease).where(
                    tuple_(ParkRelease.tenant_id, ParkRelease.entity, ParkRelease.entity_id).in_(
                        list(keys)
                    )
                )
            )

    def replayed(self, dead_letter_ids: list[str]) -> set[str]:
        """Which of these dead letters were replayed already."""
        if not dead_letter_ids:
            return set()
        with self._tx() as session:
            rows = session.scalars(
                select(DeadLetterReplay.dead_letter_id).where(
                    DeadLetterReplay.dead_letter_id.in_(dead_letter_ids)
                )
            )
            return set(rows)

    def record_replays(self, dead_letter_ids: list[str]) -> None:
        now = _now()
        with self._tx() as session:
            for dead_letter_id in dead_letter_ids:
                session.merge(DeadLetterReplay(dead_letter_id=dead_letter_id, replayed_at=now))

    # -- Web Connector sessions -----------------------------------------------------------

    def open_session(
        self, profile_id: str, ticket_hash: str, ttl: timedelta, *, client: str | None = None
    ) -> WebConnectorSession:
        """Claim the company file for one session, or raise SessionBusy.

        The unique constraint on ``profile_id`` makes the claim atomic across gateway
        replicas. An expired session is removed first so a vanished Web Connector does not
        block its file forever; and a session opened by the same ``client`` is taken over at
        once: a Web Connector runs one session per file at a time, so the same one
        authenticating again means its last session died. What that session knew about
        failed commands is carried over; what it had in flight is re-checked in QuickBooks
        (its commands are marked sent on the profile), exactly as after a crash.

        The session's history row (the console's, ``qbwc_session_history``) starts in the
        same transaction: a claim is one write, history included.
        """
        now = _now()
        try:
            # One transaction: the claim is the one write of a session's start.
            with self._tx() as session:
                session.execute(
                    delete(WebConnectorSession).where(
                        WebConnectorSession.profile_id == profile_id,
                        WebConnectorSession.expires_at < now,
                    )
                )
                carried: list[str] | None = None
                if client:
                    stale = session.scalar(
                        select(WebConnectorSession).where(
                            WebConnectorSession.profile_id == profile_id,
                            WebConnectorSession.client == client,
                        )
                    )
                    if stale is not None:
                        carried = stale.failed_keys
                        session.delete(stale)
                        session.flush()  # the old row goes before the new one comes
                row = WebConnectorSession(
                    ticket_hash=ticket_hash,
                    profile_id=profile_id,
                    created_at=now,
                    expires_at=now + ttl,
                    settled=0,
                    failed=0,
                    failed_keys=carried,
                    client=client,
                )
                session.add(row)
                session.flush()  # the claim (the unique profile_id) before the history
                history_opened(session, profile_id, ticket_hash, client, at=now)
        except IntegrityError as exc:
            raise SessionBusy(f"profile {profile_id} has a live session") from exc
        return row

    def live_session(self, ticket_hash: str) -> WebConnectorSession | None:
        """The session's row, None when there is none or it has expired. Read as a Core
        row and made into a WebConnectorSession bound to no ORM session (every Web
        Connector call of a working session reads it, see :data:`_LIVE_SESSION`)."""
        with self._alone.connect() as connection:
            found = connection.execute(_LIVE_SESSION, {"ticket_hash": ticket_hash}).first()
        if found is None or _aware(found.expires_at) < _now():
            return None
        return WebConnectorSession(**found._mapping)

    def working_session(self, ticket_hash: str) -> WorkingSession | None:
        """:meth:`live_session` with its file's ``sent_through`` mark, in one statement: a
        batch's calls plan against both. The batch in flight is left as the row's JSON text
        (``in_flight_json``; ``row.in_flight`` is None)."""
        with self._alone.connect() as connection:
            found = connection.execute(_WORKING_SESSION, {"ticket_hash": ticket_hash}).first()
        if found is None or _aware(found.expires_at) < _now():
            return None
        fields = dict(found._mapping)
        sent_through = int(fields.pop("sent_through_"))
        in_flight_json = fields.pop("in_flight_json_")
        return WorkingSession(WebConnectorSession(**fields), sent_through, in_flight_json)

    def live_session_count(self) -> int:
        with self._read() as session:
            count = session.scalar(
                select(func.count())
                .select_from(WebConnectorSession)
                .where(WebConnectorSession.expires_at >= _now())
            )
            return int(count or 0)

    def update_session(
        self,
        ticket_hash: str,
        ttl: timedelta,
        *,
        sent_through: tuple[str, int] | None = None,
        reported: QuickBooksReport | None = None,
        ended: SessionEnd | None = None,
        **changes: Any,
    ) -> None:
        """Apply ``changes`` and extend the session's life by ``ttl`` from now.

        One UPDATE, no read first: a session deleted meanwhile (taken over by its Web
        Connector authenticating again, closed, or removed as expired by another file's
        claim) is simply not updated. Read, then written, it failed the gateway's call with
        StaleDataError ("expected to update 1 row(s); 0 were matched").

        In the same transaction, and only if the session was there to update:
        ``sent_through``, ``(profile_id, offset)``, raises that profile's ``sent_through`` (a
        batch handed to QuickBooks: one write, not two); ``reported`` and ``ended`` go to the
        session's history row (what QuickBooks said of itself; the end of the work).

        On SQLite, the writes of calls made at the same time share one transaction (see
        ``__init__``); each call returns once its own write is committed, or raises its own
        error."""
        fields = frozenset(changes)
        if not fields <= _SESSION_FIELDS:
            unknown = sorted(fields - _SESSION_FIELDS)
            raise StoreError(f"a Web Connector session has no field(s) {', '.join(unknown)}")
        write = _SessionWrite(
            _session_update(fields),
            {**changes, "expires_at": _now() + ttl, "key_": ticket_hash},
            sent_through,
            reported,
            ended,
        )
        if self._session_writes is not None:
            self._session_writes.submit(write)
        elif (single := write.alone()) is not None:
            with self._alone.begin() as connection:
                connection.execute(*single)
        else:
            with self._core_tx() as connection:
                write.apply(connection)

    def _write_sessions(self, writes: list[_SessionWrite]) -> dict[int, BaseException]:
        """Concurrent session writes in one transaction (SQLite: see ``__init__``). If it
        fails, it failed for all of them (rolled back): each is then written alone, so
        that only a write that fails on its own hears an error."""
        try:
            with self._core_tx() as connection:
                for write in writes:
                    write.apply(connection)
            return {}
        except Exception:
            if len(writes) == 1:
                raise
        errors: dict[int, BaseException] = {}
        for index, write in enumerate(writes):
            try:
                with self._core_tx() as connection:
                    write.apply(connection)
            except Exception as error:
                errors[index] = error
        return errors

    def touch_profiles(self, seen: dict[str, datetime]) -> None:
        """Record when each profile's Web Connector last called, in one transaction."""
        if not seen:
            return
        # One statement with many parameter sets (an executemany), not a statement per row.
        # Replicas flushing the same profile may set an older time over a newer one by up to
        # their flush period; "stalled" is counted in scheduled intervals, so it cannot tell.
        rows = [
            {"pid": profile_id, "moment": moment} for profile_id, moment in sorted(seen.items())
        ]
        statement = (
            update(Profile.__table__)  # type: ignore[arg-type]
            .where(Profile.__table__.c.id == bindparam("pid"))
            .values(last_seen_at=bindparam("moment"))
        )
        with self._tx() as session:
            session.connection().execute(statement, rows)

    def close_session(
        self, ticket_hash: str, *, reported: QuickBooksReport | None = None
    ) -> WebConnectorSession | None:
        """The session's row; a live one is deleted (a write) and its history row ended
        (``closed``, with its counts) in the same transaction; one already released (its
        lease ended by the write that settled its last batch, ``ttl`` 0, which ended its
        history too) or expired is only read: the file's next claim removes it
        (:meth:`open_session`). ``reported``: what QuickBooks said of itself, if no write of
        the session recorded it yet."""
        with self._tx() as session:
            row = session.get(WebConnectorSession, ticket_hash)
            if row is not None and _aware(row.expires_at) > _now():
                session.delete(row)
                if reported is not None:
                    history_reported(session, ticket_hash, reported)
                history_ended(
                    session,
                    ticket_hash,
                    SessionEnd(
                        "closed",
                        settled=row.settled,
                        failed=row.failed,
                        qbxml_version=row.qbxml_version,
                        last_error=row.last_error,
                    ),
                )
            return row


def _deleted(session: Session, statement: Any) -> int:
    return int(getattr(session.execute(statement), "rowcount", 0) or 0)


def _rank(full_read: str | None) -> int:
    """-1 for none, then the full reads in :data:`_FULL_READS` order (deliver is more)."""
    return _FULL_READS.index(full_read) if full_read in _FULL_READS else -1


def _remove_tenants(session: Session, tenant_ids: list[str]) -> int:
    """Delete the tenants and every row keyed by them (children first)."""
    if not tenant_ids:
        return 0
    removed = 0
    for model in (IdMapping, DeliveredChange, SyncLogEntry, MappingConfirmation):
        removed += _deleted(session, delete(model).where(model.tenant_id.in_(tenant_ids)))
    return removed + _deleted(session, delete(Tenant).where(Tenant.id.in_(tenant_ids)))


def _mapping(row: IdMapping) -> Mapping:
    return Mapping(
        tenant_id=row.tenant_id,
        entity=row.entity,
        external_id=row.external_id,
        qb_id=row.qb_id,
        edit_sequence=row.edit_sequence,
        full_name=row.full_name,
    )


def _log_filter(tenant_id: str, entity: str | None, entity_id: str | None) -> list[Any]:
    """Where-clauses for a tenant's sync log, narrowed to an entity and one record."""
    found: list[Any] = [SyncLogEntry.tenant_id == tenant_id]
    if entity is not None:
        found.append(SyncLogEntry.entity == entity)
    if entity_id is not None:
        found.append(SyncLogEntry.entity_id == entity_id)
    return found
