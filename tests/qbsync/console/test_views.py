"""The console's pure view logic: states, filters, explanations, the setup status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from qbsync.console._views import (
    ConnectionRow,
    connection_state,
    explained,
    filter_connections,
    filter_log,
    format_age,
    setup_status,
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
