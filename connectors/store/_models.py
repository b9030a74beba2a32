from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "DeadLetterReplay",
    "IdMapping",
    "LoginThrottle",
    "MappingConfirmation",
    "Profile",
    "QboCompanyRow",
    "QboSenderRow",
    "SessionRecord",
    "SyncLogEntry",
    "Tenant",
    "WebConnectorClient",
    "WebConnectorSession",
]


class Base(DeclarativeBase):
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSON,
    }


class Profile(Base):
    """One QuickBooks company file, reached through one Web Connector login."""

    __tablename__ = "profiles"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    owner_id: Mapped[str] = mapped_column(String(38))
    file_id: Mapped[str] = mapped_column(String(38))
    company_file: Mapped[str] = mapped_column(String(500), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime | None] = mapped_column(default=None)
    run_every_minutes: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # What the Web Connector told us on its first sendRequestXML (strHCPResponse).
    host_info: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Consecutive failed logins; past a few, attempts are refused unchecked for a while.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Every command before this offset of the file's topic has been handed to QuickBooks at
    # least once; one sent again may already be applied (see connectors.qbwc._recovery).
    # A Kafka offset: 64 bits (SQLite's INTEGER is; PostgreSQL's is 32).
    sent_through: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), default=0, server_default="0"
    )


class Tenant(Base):
    """A source app's customer; several tenants may share one company file."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id"), index=True)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class IdMapping(Base):
    """A source record and its QuickBooks twin (ListID or TxnID, EditSequence)."""

    __tablename__ = "id_mappings"
    __table_args__ = (Index("ix_id_mappings_qb_id", "tenant_id", "qb_id"),)

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    qb_id: Mapped[str] = mapped_column(String(36))
    edit_sequence: Mapped[str | None] = mapped_column(String(16))
    full_name: Mapped[str | None] = mapped_column(String(209))
    updated_at: Mapped[datetime]


class DeliveredChange(Base):
    """The newest version of a QuickBooks record a tenant has been told about, or that
    qbsync itself wrote: an import that brings the same EditSequence back is nothing new
    (our own write, or a change delivered already), never a second change event."""

    __tablename__ = "delivered_changes"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    qb_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    edit_sequence: Mapped[str | None] = mapped_column(String(20))
    # QuickBooks' TimeModified of the delivered change: the app's later edit is compared
    # with it (conflict policy); null when the row only records one of our own writes.
    changed_at: Mapped[datetime | None] = mapped_column(default=None)
    delivered_at: Mapped[datetime]


class WebConnectorSession(Base):
    """A live Web Connector conversation. At most one per company file (unique profile_id).

    Only a hash of the ticket is stored: a database read does not hand out live sessions.
    """

    __tablename__ = "qbwc_sessions"

    ticket_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id"), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    qbxml_version: Mapped[str | None] = mapped_column(String(10))
    in_flight: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    settled: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # "tenant:entity:entity_id" of commands that failed in this session: what depends on
    # them is not sent (connectors.qbwc._batch).
    failed_keys: Mapped[list[str] | None] = mapped_column(JSON, default=None)
    # The import under way (entity, iterator, what was seen): iterators live only within one
    # session, so this dies with it (connectors.qbwc._imports).
    importing: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Who opened the session (a hash of the Web Connector's address and agent): the same
    # client authenticating again means the old session died, and it takes the file over.
    client: Mapped[str | None] = mapped_column(String(64), default=None)


class LoginThrottle(Base):
    """Failed-login counters, keyed by a hash of the user name whether or not it exists (so
    throttling never tells which names do), plus one global key. Updated with single
    atomic statements (connectors.store.Store.claim_login), never read-modify-write."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)


class DeadLetterReplay(Base):
    """A dead letter support replayed: replaying it again does nothing (unless forced)."""

    __tablename__ = "dead_letter_replays"

    dead_letter_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    replayed_at: Mapped[datetime]


class ParkRelease(Base):
    """Support asked (``qbsync parked release``) that a parked record be planned again now:
    the worker holding it does so at its next sweep and removes the row."""

    __tablename__ = "park_releases"

    tenant_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    entity_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    requested_at: Mapped[datetime]
    # "release" (plan it again) or "dead-letter" (send it to the dead-letter topic as it is).
    action: Mapped[str] = mapped_column(String(20), default="release", server_default="release")
    # The parked version asked about (its parked_at): a newer event of the record that
    # replaced it meanwhile is not what support saw, and is left alone. None: any version.
    parked_at: Mapped[float | None] = mapped_column(Float, default=None)
    requested_by: Mapped[str | None] = mapped_column(String(100), default=None)


class SyncLogEntry(Base):
    """One settled command: what support and the tenant's accountant look back at."""

    __tablename__ = "sync_log"
    __table_args__ = (Index("ix_sync_log_tenant_at", "tenant_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    tenant_id: Mapped[str] = mapped_column(String(100))
    profile_id: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str] = mapped_column(String(100))
    command_id: Mapped[str] = mapped_column(String(36))
    action: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(10))  # synced | failed
    code: Mapped[int] = mapped_column(Integer)
    message: Mapped[str] = mapped_column(Text)
    qb_id: Mapped[str | None] = mapped_column(String(36))


class QuickBooksRecord(Base):
    """A record as QuickBooks holds it, from an import: what ``qbsync map match`` matches
    against and what tells the worker whether a class or tax code exists."""

    __tablename__ = "qb_records"
    __table_args__ = (Index("ix_qb_records_name", "profile_id", "entity", "full_name"),)

    profile_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    qb_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    full_name: Mapped[str | None] = mapped_column(String(255))
    ref_number: Mapped[str | None] = mapped_column(String(40))
    is_active: Mapped[bool] = mapped_column(default=True)
    edit_sequence: Mapped[str | None] = mapped_column(String(20))
    time_modified: Mapped[datetime | None] = mapped_column(default=None)
    imported_at: Mapped[datetime]


class ImportWatermark(Base):
    """How far an import of one entity of one company file got.

    ``modified_from`` is the newest TimeModified seen by a *completed* import (every page
    processed); the next import asks from a minute before it, because QuickBooks stamps
    times with the workstation's clock.
    """

    __tablename__ = "import_watermarks"

    profile_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    modified_from: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    requested_at: Mapped[datetime | None] = mapped_column(default=None)
    records: Mapped[int] = mapped_column(Integer, default=0)
    # A full read asked for: the next read takes every record, whatever its age (no
    # watermark, no window). "match": kept for matching only (``qbsync map refresh``),
    # nothing told to the apps; "deliver": to the apps too ("get all", once the mapping
    # was confirmed). Cleared by a completed read of that kind (or "deliver").
    full_read: Mapped[str | None] = mapped_column(String(10), default=None)
    # A read under way (a long one: "get all" of a large list, a first import): records
    # read so far, what QuickBooks says is left (Desktop's iteratorRemainingCount; a QBO
    # full read's count), when last noted. Cleared when the read completes.
    progress: Mapped[int | None] = mapped_column(Integer, default=None)
    remaining: Mapped[int | None] = mapped_column(Integer, default=None)
    progress_at: Mapped[datetime | None] = mapped_column(default=None)

    # The gateway finds every file with a request in one statement a second
    # (Store.import_requests): a partial index of the requested rows, not a scan of every
    # file's every entity (a plain index was not used for IS NOT NULL by SQLite's planner).
    __table_args__ = (
        Index(
            "ix_import_watermarks_requested",
            "requested_at",
            sqlite_where=text("requested_at IS NOT NULL"),
            postgresql_where=text("requested_at IS NOT NULL"),
        ),
    )


class MappingConfirmation(Base):
    """Support confirmed that a tenant's records of one entity are matched to what the
    company already had (``qbsync map done``, the console's mappings page): only then may
    an app ask for every record of it ("get all"), which would otherwise tell the app of
    records it has under another id as new ones."""

    __tablename__ = "mapping_confirmations"

    tenant_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    entity: Mapped[str] = mapped_column(String(40), primary_key=True)
    confirmed_at: Mapped[datetime]
    confirmed_by: Mapped[str | None] = mapped_column(String(100), default=None)


class QboCompanyRow(Base):
    """A QuickBooks Online company (realm) behind a profile: its connection and OAuth tokens.

    The profile gives the company its id, its command topic and its tenants, like a company
    file's; this row says it is reached over Intuit's API instead of a Web Connector. Tokens
    are stored encrypted (``connectors.qbo.TokenCipher``); ``token_version`` grows with every
    rotation, so two refreshers cannot overwrite each other's newer tokens.
    """

    __tablename__ = "qbo_companies"

    profile_id: Mapped[str] = mapped_column(ForeignKey("profiles.id"), primary_key=True)
    realm_id: Mapped[str | None] = mapped_column(String(32), unique=True, default=None)
    # pending (authorize URL issued), connected, reconnect_needed
    status: Mapped[str] = mapped_column(String(20))
    state_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    access_token: Mapped[str | None] = mapped_column(Text, default=None)
    refresh_token: Mapped[str | None] = mapped_column(Text, default=None)
    access_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    refresh_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    # A refresh under way in some process (a lease: it lapses if that process dies).
    refresh_lease_until: Mapped[datetime | None] = mapped_column(default=None)
    connected_at: Mapped[datetime | None] = mapped_column(default=None)
    updated_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    # The sender process draining this company (a lease: it lapses if that process dies), so
    # two senders never send one company's commands at once.
    drain_owner: Mapped[str | None] = mapped_column(String(64), default=None)
    drain_lease_until: Mapped[datetime | None] = mapped_column(default=None)


class QboSenderRow(Base):
    """A live QBO sender process (a heartbeat: the row counts while ``alive_until`` is ahead),
    so the senders share the companies among themselves (``connectors.qbo.assign``)."""

    __tablename__ = "qbo_senders"

    owner: Mapped[str] = mapped_column(String(64), primary_key=True)
    started_at: Mapped[datetime]
    alive_until: Mapped[datetime]


class WebConnectorClient(Base):
    """The Web Connector version a client (the hash of its address and agent, as on
    ``qbwc_sessions.client``) said at ``clientVersion``, which comes before any ticket."""

    __tablename__ = "qbwc_clients"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    web_connector: Mapped[str] = mapped_column(String(40))
    seen_at: Mapped[datetime]


class SessionRecord(Base):
    """One Web Connector session, kept after it ends (``qbwc_sessions`` holds only live
    ones): when, how it ended, what it did, and what the Web Connector and QuickBooks said
    about themselves."""

    __tablename__ = "qbwc_session_history"
    __table_args__ = (Index("ix_qbwc_session_history_profile", "profile_id", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(String(32))
    ticket_hash: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str | None] = mapped_column(String(64), default=None)
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None] = mapped_column(default=None)
    # closed (closeConnection), error (connectionError); None while live or if it expired.
    outcome: Mapped[str | None] = mapped_column(String(20), default=None)
    web_connector: Mapped[str | None] = mapped_column(String(40), default=None)
    qbxml_country: Mapped[str | None] = mapped_column(String(10), default=None)
    qbxml_major: Mapped[int | None] = mapped_column(Integer, default=None)
    qbxml_minor: Mapped[int | None] = mapped_column(Integer, default=None)
    qbxml_version: Mapped[str | None] = mapped_column(String(10), default=None)
    settled: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
