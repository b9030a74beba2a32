"""Who wins a conflict: the one rule the gateway and the worker share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from core.conflicts import earlier, winner

QB = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "app", "expected"),
    [
        ("never", QB + timedelta(hours=-5), "app"),
        ("never", None, "app"),
        ("always", QB + timedelta(hours=5), "quickbooks"),
        ("most_recent", QB + timedelta(seconds=1), "app"),
        ("most_recent", QB - timedelta(seconds=1), "quickbooks"),
        ("most_recent", QB, "app"),  # a tie: the app's clock is the server's
        ("most_recent", None, "quickbooks"),  # a known time beats an unknown one
    ],
)
def test_winner(policy: str, app: datetime | None, expected: str) -> None:
    assert winner(policy, app, QB) == expected


def test_most_recent_without_a_quickbooks_time_keeps_the_app() -> None:
    assert winner("most_recent", QB, None) == "app"


def test_times_compare_in_utc_whatever_their_offset() -> None:
    # 13:30 at +02:00 is 11:30 UTC: before QuickBooks' 12:00 UTC, though 13:30 > 12:00.
    plus_two = datetime(2026, 11, 22, 13, 30, tzinfo=timezone(timedelta(hours=2)))
    assert winner("most_recent", plus_two, QB) == "quickbooks"
    assert earlier(QB.replace(tzinfo=None), QB + timedelta(seconds=1))  # naive is UTC
    assert not earlier(None, QB)


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="sometimes"):
        winner("sometimes", QB, QB)
