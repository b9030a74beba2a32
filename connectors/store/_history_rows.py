"""The ``qbwc_session_history`` rows' writes, as statements inside a caller's transaction.

The gateway writes a session's history in the transactions its protocol writes anyway
(issue 14): the start in the claim (:meth:`Store.open_session`), what QuickBooks reported in
the session's first batch, the end in the write that releases the file or in the close that
deletes a live row. :class:`~connectors.store.SessionLog` runs the same statements in
transactions of their own (the console's tests and tools).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from connectors.store._models import SessionRecord, WebConnectorClient

__all__ = [
    "KEPT",
    "QuickBooksReport",
    "SessionEnd",
    "history_ended",
    "history_opened",
    "history_reported",
]

KEPT = 100  # sessions kept per company file
# Updates by statement on the table: they run on an ORM session or on a bare connection
# (the gateway's session writes are Core statements, connectors.store.Store.update_session).
_HISTORY = cast(Table, SessionRecord.__table__)


@dataclass(frozen=True)
class QuickBooksReport:
    """``sendRequestXML``'s qbXMLCountry, qbXMLMajorVers and qbXMLMinorVers."""

    country: str
    major: int | None
    minor: int | None


@dataclass(frozen=True)
class SessionEnd:
    """How a session ended (``closed``, ``error``) and what it did; None: left as it is."""

    outcome: str
    settled: int | None = None
    failed: int | None = None
    qbxml_version: str | None = None
    last_error: str | None = None


def history_opened(
    session: Session,
    profile_id: str,
    ticket_hash: str,
    client: str | None,
    *,
    at: datetime,
    kept: int = KEPT,
) -> None:
    """A session began; the file's history keeps the new one and the ``kept`` - 1 before."""
    oldest_kept = session.scalar(
        select(SessionRecord.id)
        .where(SessionRecord.profile_id == profile_id)
        .order_by(SessionRecord.id.desc())
        .offset(kept - 1)
        .limit(1)
    )
    if oldest_kept is not None:
        session.execute(
            delete(SessionRecord).where(
                SessionRecord.profile_id == profile_id, SessionRecord.id < oldest_kept
            )
        )
    known = session.get(WebConnectorClient, client) if client else None
    session.add(
        SessionRecord(
            profile_id=profile_id,
            ticket_hash=ticket_hash,
            client=client,
            started_at=at,
            web_connector=known.web_connector if known else None,
            settled=0,
            failed=0,
        )
    )


def history_reported(
    session: Session | Connection, ticket_hash: str, report: QuickBooksReport
) -> None:
    session.execute(
        update(_HISTORY)
        .where(_HISTORY.c.ticket_hash == ticket_hash, _HISTORY.c.ended_at.is_(None))
        .values(
            qbxml_country=report.country[:10] or None,
            qbxml_major=report.major,
            qbxml_minor=report.minor,
        )
    )


def history_ended(session: Session | Connection, ticket_hash: str, end: SessionEnd) -> None:
    values: dict[str, object] = {"ended_at": datetime.now(UTC), "outcome": end.outcome}
    for name in ("settled", "failed", "qbxml_version", "last_error"):
        value = getattr(end, name)
        if value is not None:
            values[name] = value
    session.execute(
        update(_HISTORY)
        .where(_HISTORY.c.ticket_hash == ticket_hash, _HISTORY.c.ended_at.is_(None))
        .values(**values)
    )
