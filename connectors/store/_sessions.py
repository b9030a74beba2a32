"""What people see of Web Connector sessions after they end: the ``qbwc_session_history``
rows (start, end, outcome, what was done, what the Web Connector and QuickBooks said about
themselves) and ``qbwc_clients`` (the Web Connector version a client reported at
``clientVersion``, which comes before any ticket). Written by the gateway through
``connectors.qbwc.SessionHistory``; read by the console.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, func, select, update

from connectors.store._models import SessionRecord, WebConnectorClient
from connectors.store._tables import OwnTables

__all__ = ["KEPT", "PastSession", "SessionLog"]

KEPT = 100  # sessions kept per company file


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PastSession:
    """One session as the console shows it."""

    profile_id: str
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None  # closed | error | None (live, or it expired)
    web_connector: str | None
    qbxml_country: str | None
    qbxml_major: int | None
    qbxml_minor: int | None
    qbxml_version: str | None  # the version the gateway chose for the session
    settled: int
    failed: int
    last_error: str | None

    @property
    def requests(self) -> int:
        """Records QuickBooks answered in the session (synced or refused)."""
        return self.settled + self.failed


def _past(row: SessionRecord) -> PastSession:
    started = _aware(row.started_at)
    assert started is not None
    return PastSession(
        profile_id=row.profile_id,
        started_at=started,
        ended_at=_aware(row.ended_at),
        outcome=row.outcome,
        web_connector=row.web_connector,
        qbxml_country=row.qbxml_country,
        qbxml_major=row.qbxml_major,
        qbxml_minor=row.qbxml_minor,
        qbxml_version=row.qbxml_version,
        settled=row.settled,
        failed=row.failed,
        last_error=row.last_error,
    )


class SessionLog(OwnTables):
    """The history tables, on the same database (and engine) as :class:`Store`."""

    # -- written by the gateway -----------------------------------------------------------

    def note_client(self, client: str, web_connector: str) -> None:
        with self._tx() as session:
            row = session.get(WebConnectorClient, client)
            if row is None:
                row = WebConnectorClient(client=client)
                session.add(row)
            row.web_connector = web_connector[:40]
            row.seen_at = _now()

    def opened(self, profile_id: str, ticket_hash: str, client: str | None) -> None:
        """A session began; the file's history keeps the new one and the :data:`KEPT` before."""
        with self._tx() as session:
            oldest_kept = session.scalar(
                select(SessionRecord.id)
                .where(SessionRecord.profile_id == profile_id)
                .order_by(SessionRecord.id.desc())
                .offset(KEPT - 1)
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
                    started_at=_now(),
                    web_connector=known.web_connector if known else None,
                    settled=0,
                    failed=0,
                )
            )

    def reported(
        self, ticket_hash: str, country: str, major: int | None, minor: int | None
    ) -> None:
        with self._tx() as session:
            session.execute(
                update(SessionRecord)
                .where(SessionRecord.ticket_hash == ticket_hash, SessionRecord.ended_at.is_(None))
                .values(qbxml_country=country[:10] or None, qbxml_major=major, qbxml_minor=minor)
            )

    def ended(
        self,
        ticket_hash: str,
        outcome: str,
        *,
        settled: int | None = None,
        failed: int | None = None,
        qbxml_version: str | None = None,
        last_error: str | None = None,
    ) -> None:
        values: dict[str, object] = {"ended_at": _now(), "outcome": outcome}
        for name, value in (
            ("settled", settled),
            ("failed", failed),
            ("qbxml_version", qbxml_version),
            ("last_error", last_error),
        ):
            if value is not None:
                values[name] = value
        with self._tx() as session:
            session.execute(
                update(SessionRecord)
                .where(SessionRecord.ticket_hash == ticket_hash, SessionRecord.ended_at.is_(None))
                .values(**values)
            )

    # -- read by the console --------------------------------------------------------------

    def recent(self, profile_id: str, limit: int = 20) -> list[PastSession]:
        """A file's sessions, newest first."""
        query = (
            select(SessionRecord)
            .where(SessionRecord.profile_id == profile_id)
            .order_by(SessionRecord.started_at.desc(), SessionRecord.id.desc())
            .limit(limit)
        )
        with self._tx() as session:
            return [_past(row) for row in session.scalars(query)]

    def latest(self, profile_ids: Sequence[str]) -> dict[str, PastSession]:
        """Each file's newest session that reported QuickBooks' version (a session just
        opened has not yet), else its newest: what its Web Connector and QuickBooks said."""
        if not profile_ids:
            return {}
        ids = list(profile_ids)
        found: dict[str, PastSession] = {}
        with self._tx() as session:
            for only_reported in (True, False):
                newest = select(func.max(SessionRecord.id)).where(SessionRecord.profile_id.in_(ids))
                if only_reported:
                    newest = newest.where(SessionRecord.qbxml_major.is_not(None))
                newest = newest.group_by(SessionRecord.profile_id)
                rows = session.scalars(select(SessionRecord).where(SessionRecord.id.in_(newest)))
                for row in rows:
                    found.setdefault(row.profile_id, _past(row))
        return found
