"""The console's pure view logic: states, filters, explanations, the setup status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from qbsync.console._views import (
    ConnectionRow,
    connection_state,
    explained,
    filter_connections,
    filter_log,
    format_age,
    quickbooks_words,
    session_views,
    setup_status,
    web_connector_words,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def state(**changes: object) -> str:
    values: dict[str, object] = {
        "enabled": True,
        "last_seen_at": NOW - timedelta(minutes=2),
        "run_every_minutes": 3,
        "in_session": False,
        "failed_logins": 0,
        "last_failed_login_at": None,
        "now": NOW,
        "stalled_factor": 3.0,
    }
    values.update(changes)
    return connection_state(**values)  # type: ignore[arg-type]


def test_connection_states() -> None:
    assert state() == "idle"
    assert state(in_session=True) == "syncing"
    assert state(last_seen_at=None) == "never"
    # 3 minutes x 3 = 9 minutes allowed; 10 is too long.
    assert state(last_seen_at=NOW - timedelta(minutes=8)) == "idle"
    assert state(last_seen_at=NOW - timedelta(minutes=10)) == "stalled"
    assert state(enabled=False, in_session=True) == "disabled"
    # Naive times (SQLite) are UTC.
    assert state(last_seen_at=(NOW - timedelta(minutes=10)).replace(tzinfo=None)) == "stalled"


def test_locked_out_follows_the_gateways_throttle() -> None:
    # 5 failures are free; the 7th wrong password locks for 2**2 = 4 seconds.
    recent = NOW - timedelta(seconds=3)
    assert state(failed_logins=7, last_failed_login_at=recent) == "locked-out"
    assert state(failed_logins=7, last_failed_login_at=NOW - timedelta(seconds=5)) == "idle"
    assert state(failed_logins=4, last_failed_login_at=recent) == "idle"
    # At most 5 minutes, however many failures.
    assert state(failed_logins=40, last_failed_login_at=NOW - timedelta(minutes=6)) == "idle"


def row(name: str, state_: str, tenants: tuple[str, ...] = ()) -> ConnectionRow:
    return ConnectionRow(name.lower(), name, tenants, state_, None, 0, None, "", "")


def test_connections_filter_by_search_and_state_most_urgent_first() -> None:
    rows = [
        row("Zeta", "idle"),
        row("Acme", "stalled", ("t-acme",)),
        row("Bolt", "locked-out"),
        row("Core", "never", ("shared",)),
    ]
    assert [r.name for r in filter_connections(rows)] == ["Bolt", "Acme", "Core", "Zeta"]
    assert [r.name for r in filter_connections(rows, search="T-AC")] == ["Acme"]
    assert [r.name for r in filter_connections(rows, search="share")] == ["Core"]
    assert [r.name for r in filter_connections(rows, state="idle")] == ["Zeta"]


def test_quickbooks_codes_are_explained_in_plain_words_and_own_codes_are_not() -> None:
    closed = explained(3171)
    assert closed is not None
    assert "closing date" in (closed.explanation + closed.remedy).lower()
    assert explained("0") is None
    assert explained("undecodable") is None


def test_log_filters() -> None:
    rows = [
        {
            "at": "2026-12-01T10:00:00+00:00",
            "entity": "invoice",
            "status": "failed",
            "entity_id": "i-1",
        },
        {
            "at": "2026-12-02T09:00:00+00:00",
            "entity": "customer",
            "status": "synced",
            "entity_id": "c-1",
        },
        {"at": "2026-12-02T11:00:00", "entity": "invoice", "status": "synced", "entity_id": "i-1"},
    ]
    assert filter_log(rows, entity="invoice") == [rows[0], rows[2]]
    assert filter_log(rows, status="synced", record="i-1") == [rows[2]]
    day = datetime(2026, 12, 2, tzinfo=UTC)
    assert filter_log(rows, since=day) == rows[1:]
    assert filter_log(rows, until=day) == rows[:1]


def test_ages() -> None:
    assert format_age(None) == "—"
    assert format_age(42) == "42 s"
    assert format_age(95) == "1 min"
    assert format_age(3 * 3600 + 5) == "3 h"
    assert format_age(2 * 86400) == "2 d"


def test_setup_status_turns_green_only_after_a_login_since_the_link() -> None:
    since = NOW - timedelta(minutes=5)
    assert setup_status(last_seen_at=None, since=since, failed_logins=0)["state"] == "waiting"
    before = NOW - timedelta(days=3)
    assert setup_status(last_seen_at=before, since=since, failed_logins=0)["state"] == "waiting"
    assert setup_status(last_seen_at=None, since=since, failed_logins=2)["state"] == "refused"
    after = NOW - timedelta(minutes=1)
    assert setup_status(last_seen_at=after, since=since, failed_logins=0)["state"] == "connected"


@dataclass(frozen=True)
class Past:
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None
    settled: int = 0
    failed: int = 0
    last_error: str | None = None
    web_connector: str | None = "2.3.0.215"
    qbxml_country: str | None = "US"
    qbxml_major: int | None = 16
    qbxml_minor: int | None = 0


@dataclass(frozen=True)
class Logged:
    at: datetime
    code: int
    message: str
    entity: str = "invoice"
    entity_id: str = "i-1"


def test_versions_read_as_the_web_connector_reported_them() -> None:
    host = {"product": "QuickBooks Pro 2024", "country": "CA", "supported_versions": ["13.0"]}
    assert quickbooks_words(host, Past(NOW, NOW, "closed")) == "QuickBooks Pro 2024 (US) qbXML 16.0"
    assert quickbooks_words(host, None) == "QuickBooks Pro 2024 (CA) qbXML 13.0"
    assert quickbooks_words(None, None) == "not reported"
    assert web_connector_words(None) == "not reported"


def test_a_files_sessions_say_how_each_ended_with_its_errors_in_plain_words() -> None:
    hour = timedelta(hours=1)
    sessions = [
        Past(NOW - timedelta(minutes=1), None, None),  # running
        Past(NOW - hour, NOW - hour + timedelta(minutes=2), "closed", settled=4, failed=1),
        Past(NOW - 2 * hour, None, None),  # never closed, expired
        Past(NOW - 3 * hour, NOW - 3 * hour, "closed", last_error="could not reach QuickBooks"),
    ]
    refused = Logged(NOW - hour + timedelta(minutes=1), 3171, "closing date")
    elsewhere = Logged(NOW - 4 * hour, 3100, "name taken")
    running, closed, expired, broken = session_views(
        sessions, [refused, elsewhere], live=True, now=NOW
    )
    assert (running.outcome, running.ok) == ("running now", True)
    assert (closed.outcome, closed.ok, closed.requests) == (
        "closed; 4 synced, 1 refused by QuickBooks (below)",
        False,
        5,
    )
    ((entry, why),) = closed.errors
    assert entry is refused
    assert why is not None
    assert "closing date" in (why.title + why.explanation).lower()
    assert "expired" in expired.outcome
    assert not expired.ok
    assert broken.outcome.startswith("closed after an error")
    assert broken.last_error == "could not reach QuickBooks"
    assert all(
        entry is not elsewhere for s in (running, closed, expired, broken) for entry, _ in s.errors
    )
    assert running.web_connector == "2.3.0.215"
    # Not live: the newest session without an end expired too.
    assert "expired" in session_views(sessions[:1], [], live=False, now=NOW)[0].outcome
