"""Who wins when a record changed on both sides: one pure rule, used in three places.

A tenant's conflict policy for a two-way entity (``conflict_policy``, or
``conflict.<entity>``) decides; see ``docs/two-way.md`` for the whole story:

- ``never``: QuickBooks never overwrites the app: the app's version wins.
- ``always``: QuickBooks always overwrites the app: QuickBooks' version wins.
- ``most_recent``: the later change wins, the app's ``source_updated_at`` against
  QuickBooks' ``TimeModified``, both in UTC; a tie goes to the app (its clock is the server's,
  QuickBooks stamps times with a workstation's).

The three places are the gateway (a Mod answered 3200: QuickBooks changed the record since
we last wrote it), the worker planning an app change after it delivered a QuickBooks one,
and the worker deciding whether an imported QuickBooks change goes to the app.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from core.status import Status

__all__ = ["CONFLICT", "Policy", "Side", "earlier", "winner"]

Policy = Literal["never", "most_recent", "always"]
Side = Literal["app", "quickbooks"]

# An app change not written because QuickBooks' change to the same record wins.
CONFLICT = Status.CONFLICT


def winner(policy: str, app_changed_at: datetime | None, qb_changed_at: datetime | None) -> Side:
    """The side whose version stands. A missing time loses to a known one under
    ``most_recent``; an unknown policy is refused rather than guessed."""
    if policy == "never":
        return "app"
    if policy == "always":
        return "quickbooks"
    if policy != "most_recent":
        raise ValueError(f"unknown conflict policy {policy!r}: never, most_recent or always")
    if qb_changed_at is None:
        return "app"
    if app_changed_at is None:
        return "quickbooks"
    return "quickbooks" if earlier(app_changed_at, qb_changed_at) else "app"


def earlier(moment: datetime | None, than: datetime | None) -> bool:
    """``moment`` is strictly before ``than``; False when either is unknown. Naive times
    are UTC (SQLite hands them back naive)."""
    if moment is None or than is None:
        return False
    return _utc(moment) < _utc(than)


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
