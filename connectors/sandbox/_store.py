"""The company file on disk: SQLite, generic tables, readable with ``sqlite3`` after a run.

Two tables hold every record, whatever its kind: ``lists`` and ``txns``. Each row keeps the
whole ``*Ret`` element as XML (``ret``) plus the columns QuickBooks searches and people
inspect (kind, ids, names, EditSequence, times, amounts in cents, parent, entity). ``refs``
records which record points at which (so a list element in use cannot be deleted), ``links``
which payment is applied to which invoice, ``message_sets`` the saved answer of the last
message set sent with a ``newMessageSetID``, ``company`` the company's settings (name,
closing date).

    sqlite3 company.db "select kind, full_name, is_active from lists order by kind"
    sqlite3 company.db "select kind, ref_number, amount_cents, open_cents from txns"
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from connectors.sandbox._errors import SandboxError

__all__ = ["SCHEMA_VERSION", "Store"]

SCHEMA_VERSION = 2

_SCHEMA = """
create table if not exists company (key text primary key, value text not null);
create table if not exists counters (name text primary key, value integer not null);
create table if not exists lists (
    list_id text primary key,
    kind text not null,
    namespace text not null,
    name text not null,
    full_name text not null,
    parent_id text,
    sublevel integer not null default 0,
    is_active integer not null default 1,
    edit_sequence text not null,
    time_created text not null,
    time_modified text not null,
    modified_at integer not null,
    ret text not null
);
create unique index if not exists lists_name on lists (namespace, full_name collate nocase);
create index if not exists lists_kind on lists (kind, full_name collate nocase);
create index if not exists lists_parent on lists (parent_id);
create table if not exists txns (
    txn_id text primary key,
    kind text not null,
    txn_number integer not null,
    ref_number text,
    txn_date text not null,
    entity_id text,
    amount_cents integer not null default 0,
    open_cents integer not null default 0,
    balance_cents integer not null default 0,
    is_paid integer,
    edit_sequence text not null,
    time_created text not null,
    time_modified text not null,
    modified_at integer not null,
    ret text not null
);
create index if not exists txns_kind on txns (kind, txn_number);
create index if not exists txns_ref on txns (kind, ref_number collate nocase);
create index if not exists txns_entity on txns (entity_id);
create table if not exists deleted_txns (
    txn_id text primary key,
    kind text not null,
    ref_number text,
    time_created text not null,
    time_deleted text not null,
    deleted_at integer not null
);
create table if not exists refs (
    source_id text not null,
    element text not null,
    target_id text not null
);
create index if not exists refs_source on refs (source_id);
create index if not exists refs_target on refs (target_id);
create table if not exists links (
    txn_id text not null,
    applied_to text not null,
    amount_cents integer not null,
    primary key (txn_id, applied_to)
);
create index if not exists links_applied_to on links (applied_to);
create table if not exists deposited (
    payment_id text primary key,
    deposit_id text not null
);
create table if not exists message_sets (
    message_set_id text primary key,
    response text not null,
    stored_at text not null
);
"""

Row = sqlite3.Row


class Store:
    """The SQLite file and the few statements the request processor needs.

    Not thread-safe by itself: :class:`CompanyFile` serialises every use, as QuickBooks
    handles one request at a time.
    """

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.row_factory = sqlite3.Row
        version = self.db.execute("pragma user_version").fetchone()[0]
        existing = self.db.execute(
            "select count(*) from sqlite_master where type='table' and name='lists'"
        ).fetchone()[0]
        if existing and version != SCHEMA_VERSION:
            self.db.close()
            raise SandboxError(
                f"{path} was written by an older sandbox (format {version}, this one reads "
                f"{SCHEMA_VERSION}); delete it and let the sandbox create a new company file"
            )
        # Wait for another process's write instead of failing at once (two `sandbox show`
        # while a Web Connector writes).
        self.db.execute("pragma busy_timeout = 10000")
        # WAL: ``qbsync sandbox show`` can read while a Web Connector writes.
        if self.db.execute("pragma journal_mode").fetchone()[0] != "wal":
            self.db.execute("pragma journal_mode = wal")
        self.db.execute("pragma synchronous = normal")
        if not existing or self._missing_tables():
            # ``begin immediate``: a deferred transaction that reads the schema and then
            # writes fails with "database is locked" when another process wrote meanwhile.
            self.db.executescript(
                f"begin immediate; {_SCHEMA} pragma user_version = {SCHEMA_VERSION}; commit;"
            )
        self.created = not existing

    def _missing_tables(self) -> bool:
        """A file of this format written before a table was added (``deposited``)."""
        wanted = set(re.findall(r"create table if not exists (\w+)", _SCHEMA))
        have = {row[0] for row in self.db.execute("select name from sqlite_master")}
        return not wanted <= have

    def close(self) -> None:
        self.db.close()

    # -- transactions --------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.db.execute("begin immediate")
        try:
            yield
        except BaseException:
            self.db.execute("rollback")
            raise
        self.db.execute("commit")

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One request: all of it or none of it (QuickBooks never half-applies a request)."""
        self.db.execute("savepoint request")
        try:
            yield
        except BaseException:
            self.db.execute("rollback to request")
            self.db.execute("release request")
            raise
        self.db.execute("release request")

    # -- generic -------------------------------------------------------------------------

    def one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = self.db.execute(sql, args).fetchone()
        return row

    def all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return list(self.db.execute(sql, args).fetchall())

    def run(self, sql: str, args: Sequence[Any] = ()) -> None:
        self.db.execute(sql, args)

    def counter(self, name: str) -> int:
        self.db.execute(
            "insert into counters values (?, 1) on conflict(name) do update set value = value + 1",
            (name,),
        )
        row = self.one("select value from counters where name = ?", (name,))
        assert row is not None
        return int(row[0])

    def setting(self, key: str) -> str | None:
        row = self.one("select value from company where key = ?", (key,))
        return None if row is None else str(row[0])

    def set_setting(self, key: str, value: str | None) -> None:
        if value is None:
            self.run("delete from company where key = ?", (key,))
        else:
            self.run(
                "insert into company values (?, ?) on conflict(key) do update set value = ?",
                (key, value, value),
            )

    # -- records -------------------------------------------------------------------------

    def insert(self, table: str, values: dict[str, Any]) -> None:
        columns = ", ".join(values)
        marks = ", ".join("?" * len(values))
        self.run(f"insert into {table} ({columns}) values ({marks})", list(values.values()))  # noqa: S608 - table and columns are ours

    def update(self, table: str, key: str, values: dict[str, Any]) -> None:
        column = "list_id" if table == "lists" else "txn_id"
        assignments = ", ".join(f"{name} = ?" for name in values)
        self.run(
            f"update {table} set {assignments} where {column} = ?",  # noqa: S608 - ours
            [*values.values(), key],
        )

    def list_by_id(self, list_id: str, kinds: Iterable[str] | None = None) -> Row | None:
        row = self.one("select * from lists where list_id = ?", (list_id,))
        if row is None or (kinds is not None and row["kind"] not in tuple(kinds)):
            return None
        return row

    def list_by_name(self, kinds: Iterable[str], full_name: str) -> Row | None:
        names = tuple(kinds)
        marks = ",".join("?" * len(names))
        return self.one(
            f"select * from lists where kind in ({marks}) and full_name = ? collate nocase",  # noqa: S608
            (*names, full_name),
        )

    def txn_by_id(self, txn_id: str) -> Row | None:
        return self.one("select * from txns where txn_id = ?", (txn_id,))

    def set_refs(self, source_id: str, refs: Iterable[tuple[str, str]]) -> None:
        self.run("delete from refs where source_id = ?", (source_id,))
        self.db.executemany(
            "insert into refs values (?, ?, ?)", [(source_id, e, t) for e, t in refs]
        )

    def in_use(self, list_id: str) -> bool:
        """Referenced by any record, parent of any, or the entity of any transaction."""
        return (
            self.one(
                "select 1 from refs where target_id = ?1"
                " union all select 1 from lists where parent_id = ?1"
                " union all select 1 from txns where entity_id = ?1 limit 1",
                (list_id,),
            )
            is not None
        )
