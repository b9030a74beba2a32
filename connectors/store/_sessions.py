"""What people see of Web Connector sessions after they end: the ``qbwc_session_history``
rows (start, end, outcome, what was done, what the Web Connector and QuickBooks said about
themselves) and ``qbwc_clients`` (the Web Connector version a client reported at
``clientVersion``, which comes before any ticket). The gateway writes them inside its
session's own transactions (``_history_rows``: the claim, the first batch, the release);
``SessionLog`` writes them in transactions of their own; the console reads them here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select

from connectors.store._history_rows import (
    KEPT,
    QuickBooksReport,
    SessionEnd,
    history_ended,
    history_opened,
    history_reported,
)
from connectors.store._models import SessionRecord, WebConnectorClient
from connectors.store._tables import OwnTables

__all__ = ["KEPT", "PastSession", "SessionLog"]


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
            history_opened(session, profile_id, ticket_hash, client, at=_now(), kept=KEPT)

    def reported(
        self, ticket_hash: str, country: str, major: int | None, minor: int | None
    ) -> None:
        with self._tx() as session:
            history_reported(session, ticket_hash, QuickBooksReport(country, major, minor))

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
        end = SessionEnd(outcome, settled, failed, qbxml_version, last_error)
        with self._tx() as session:
            history_ended(session, ticket_hash, end)

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
