"""What the support console keeps: staff users, their sessions, one-time setup links for a
company file's bookkeeper, and the audit trail of every change made through it.

Secrets are never stored: passwords as slow KDF hashes (scrypt, the same as Web Connector
passwords), session ids and setup tokens as SHA-256 digests (a database read hands out
neither a live session nor a usable link).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Index, Integer, String, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from connectors.store._models import Base, WebConnectorSession
from connectors.store._store import StoreError
from connectors.store._tables import OwnTables

__all__ = [
    "STAFF_ROLES",
    "AuditEntry",
    "ConsoleSession",
    "ConsoleStore",
    "SetupLink",
    "StaffUser",
    "digest",
]

STAFF_ROLES = ("viewer", "operator")


def digest(secret: str) -> str:
    """What is stored for a session id or a setup token: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class StaffUser(Base):
    """A support person who signs in to the console."""

    __tablename__ = "console_users"

    username: Mapped[str] = mapped_column(String(100), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))  # viewer | operator
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    # Consecutive wrong passwords; past a few, sign-ins are refused unchecked for a while.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_failed_login_at: Mapped[datetime | None] = mapped_column(default=None)


class ConsoleSession(Base):
    """A signed-in staff member (kind ``staff``, subject: user name) or a bookkeeper who
    opened a setup link (kind ``setup``, subject: profile id). Keyed by the digest of the
    cookie's value; carries the CSRF token its forms must send back."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    # Setup sessions: the link's moment, after which a successful Web Connector session
    # turns the status green.
    since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class SetupLink(Base):
    """A one-time link to a company file's setup page. Opening it uses it up."""

    __tablename__ = "console_setup_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    profile_id: Mapped[str] = mapped_column(String(32), index=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class AuditEntry(Base):
    """One change made through the console: who, when, what, to which target."""

    __tablename__ = "console_audit"
    __table_args__ = (Index("ix_console_audit_target", "action", "target"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ConsoleStore(OwnTables):
    """The console's tables, on the same database (and engine) as :class:`Store`."""

    # -- staff ----------------------------------------------------------------------------

    def add_user(self, username: str, password_hash: str, role: str) -> StaffUser:
        if role not in STAFF_ROLES:
            raise StoreError(f"role {role!r} is not one of {', '.join(STAFF_ROLES)}")
        user = StaffUser(
            username=username,
            password_hash=password_hash,
            role=role,
            enabled=True,
            created_at=_now(),
        )
        try:
            with self._tx() as session:
                session.add(user)
        except IntegrityError as exc:
            raise StoreError(f"a console user named {username!r} exists already") from exc
        return user

    def user(self, username: str) -> StaffUser | None:
        with self._tx() as session:
            return session.get(StaffUser, username)

    def users(self) -> list[StaffUser]:
        with self._tx() as session:
            return list(session.scalars(select(StaffUser).order_by(StaffUser.username)))

    def update_user(self, username: str, **changes: Any) -> StaffUser:
        with self._tx() as session:
            user = session.get(StaffUser, username)
            if user is None:
                raise StoreError(f"no console user named {username!r}")
            for name, value in changes.items():
                setattr(user, name, value)
            return user

    # -- sessions -------------------------------------------------------------------------

    def open_session(
        self,
        session_id: str,
        *,
        kind: str,
        subject: str,
        role: str,
        csrf_token: str,
        ttl: timedelta,
        since: datetime | None = None,
    ) -> ConsoleSession:
        now = _now()
        row = ConsoleSession(
            id_hash=digest(session_id),
            kind=kind,
            subject=subject,
            role=role,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=now + ttl,
            since=since,
        )
        with self._tx() as session:
            session.execute(delete(ConsoleSession).where(ConsoleSession.expires_at < now))
            session.add(row)
        return row

    def live_session(self, session_id: str) -> ConsoleSession | None:
        with self._tx() as session:
            row = session.get(ConsoleSession, digest(session_id))
            if row is None or _aware(row.expires_at) < _now():
                return None
            return row

    def close_session(self, session_id: str) -> None:
        with self._tx() as session:
            session.execute(
                delete(ConsoleSession).where(ConsoleSession.id_hash == digest(session_id))
            )

    def files_in_session(self) -> set[str]:
        """Profile ids with a live Web Connector session (the connections page's syncing)."""
        with self._tx() as session:
            query = select(WebConnectorSession.profile_id).where(
                WebConnectorSession.expires_at >= _now()
            )
            return set(session.scalars(query))

    # -- setup links ----------------------------------------------------------------------

    def add_setup_link(
        self, token: str, *, profile_id: str, created_by: str, ttl: timedelta
    ) -> SetupLink:
        now = _now()
        row = SetupLink(
            token_hash=digest(token),
            profile_id=profile_id,
            created_by=created_by,
            created_at=now,
            expires_at=now + ttl,
        )
        with self._tx() as session:
            session.add(row)
        return row

    def use_setup_link(self, token: str) -> tuple[SetupLink | None, str]:
        """Use the link up: ``(link, "")`` the first time within its life, else
        ``(None, why)`` with ``why`` one of ``unknown``, ``used``, ``expired``. The update
        is conditional, so two browsers racing for one link cannot both get it."""
        now = _now()
        key = digest(token)
        with self._tx() as session:
            taken = session.execute(
                update(SetupLink)
                .where(
                    SetupLink.token_hash == key,
                    SetupLink.used_at.is_(None),
                    SetupLink.expires_at >= now,
                )
                .values(used_at=now)
            )
            row = session.get(SetupLink, key)
            if row is None:
                return None, "unknown"
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                return None, "used" if row.used_at is not None else "expired"
            return row, ""

    def setup_links(self, profile_id: str) -> list[SetupLink]:
        with self._tx() as session:
            query = select(SetupLink).where(SetupLink.profile_id == profile_id)
            return list(session.scalars(query.order_by(SetupLink.created_at.desc())))

    # -- audit ----------------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str, detail: dict[str, Any]) -> None:
        with self._tx() as session:
            session.add(
                AuditEntry(at=_now(), actor=actor, action=action, target=target, detail=detail)
            )

    def audit_log(
        self,
        *,
        action: str | None = None,
        targets: Sequence[str] | None = None,
        limit: int = 200,
    ) -> list[AuditEntry]:
        """Newest first."""
        query = select(AuditEntry)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        if targets is not None:
            query = query.where(AuditEntry.target.in_(list(targets)))
        with self._tx() as session:
            return list(session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit)))
