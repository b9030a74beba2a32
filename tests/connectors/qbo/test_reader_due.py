"""Which reads and deletion sweeps of a QBO company are due (pure: the store's watermark
rows stood in by plain objects)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from connectors.qbo import ReaderConfig
from connectors.qbo._reader import due, due_sweeps, sweep_key

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
CONFIG = ReaderConfig(
    "imports",
    ("Customer", "TimeActivity"),
    interval=timedelta(minutes=5),
    sweep_interval=timedelta(hours=1),
)


def mark(ago: timedelta | None, *, requested: bool = False) -> SimpleNamespace:
    return SimpleNamespace(
        completed_at=None if ago is None else NOW - ago,
        requested_at=NOW if requested else None,
    )


def test_a_sweep_is_due_first_then_hourly_or_when_a_webhook_asks() -> None:
    key = sweep_key("TimeActivity")
    assert key == "time_tracking:deleted"
    assert due_sweeps(CONFIG, {}, NOW) == ["TimeActivity"]  # never swept
    assert due_sweeps(CONFIG, {key: mark(timedelta(minutes=10))}, NOW) == []
    assert due_sweeps(CONFIG, {key: mark(timedelta(minutes=61))}, NOW) == ["TimeActivity"]
    asked = {key: mark(timedelta(minutes=10), requested=True)}
    assert due_sweeps(CONFIG, asked, NOW) == ["TimeActivity"]


def test_a_sweep_follows_its_own_interval_not_the_reads() -> None:
    read = {"customer": mark(timedelta(minutes=6)), "time_tracking": mark(timedelta(minutes=6))}
    swept = {sweep_key("TimeActivity"): mark(timedelta(minutes=6))}
    assert due(CONFIG, {**read, **swept}, NOW) == ["Customer", "TimeActivity"]
    assert due_sweeps(CONFIG, {**read, **swept}, NOW) == []
    # Only entities CDC lacks are swept (CDC names deleted customers and invoices itself).
    only_customers = ReaderConfig("imports", ("Customer",))
    assert due_sweeps(only_customers, {}, NOW) == []
