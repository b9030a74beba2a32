"""Support's hand on a parked record, shared by ``qbsync parked`` and the console: find it,
say exactly what a release or a dead-lettering will do, and ask the worker for it.

The worker holding the record carries the request out at its next sweep (a few seconds;
``streams._waits.Releases``): one request per record in the store, forgotten before it is
carried out, and only for the version support saw (its ``parked_at``), so a request lands
once or not at all, never twice and never on a newer event of the record.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.store import RELEASE_ACTIONS, Store
from core.errors import QbsyncError
from core.settings import Settings
from streams.parking import Parked

__all__ = ["ACTIONS", "NotParked", "ask_worker", "consequence", "find_parked"]

ACTIONS = RELEASE_ACTIONS


class NotParked(QbsyncError):
    """The record is not (or no longer) parked."""


def find_parked(entries: Iterable[Parked], tenant: str, entity: str, entity_id: str) -> Parked:
    for entry in entries:
        if (entry.tenant_id, entry.entity, entry.entity_id) == (tenant, entity, entity_id):
            return entry
    raise NotParked(
        f"{entity} {entity_id!r} of tenant {tenant!r} is not parked (any more): it may have"
        " been sent, dead-lettered or released meanwhile; see its sync log"
    )


def consequence(entry: Parked, action: str, settings: Settings) -> str:
    """Exactly what asking for ``action`` will do, in words for a confirmation."""
    record = f"{entry.entity} {entry.entity_id!r} of tenant {entry.tenant_id!r}"
    newer = (
        " If a newer event of the record replaces this one before the worker acts, the newer"
        " one stays parked and this request is dropped."
    )
    if action == "dead-letter":
        return (
            f"The worker takes {record} out of the parked records and puts it, as it came in,"
            f" on the dead-letter topic {settings.topics.dead_letters} with the code"
            " 'withdrawn'. Nothing is sent to QuickBooks. Replaying that dead letter later"
            " plans it again." + newer
        )
    if action != "release":
        raise QbsyncError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    if entry.kind == "retry":
        what = "sends its command to its company file again now instead of at its next retry"
    elif entry.kind == "manual":
        what = (
            "plans it as if a sync of it was requested: it is sent if nothing it needs is missing"
        )
    else:
        waits = ", ".join(entry.waiting_on) or "nothing named"
        what = (
            f"plans it again: if what it waits for ({waits}) is in QuickBooks now, or the"
            " integration is on again, it is sent; otherwise it stays parked as it is"
        )
    return f"Within a few seconds the worker {what}. Nothing is dead-lettered." + newer


def ask_worker(store: Store, entry: Parked, action: str, *, by: str | None) -> None:
    """Record the request for the worker holding ``entry`` (one per record: the last wins)."""
    if action not in ACTIONS:
        raise QbsyncError(f"action: {action!r} is not one of {', '.join(ACTIONS)}")
    store.request_release(
        entry.tenant_id,
        entry.entity,
        entry.entity_id,
        action=action,
        parked_at=entry.parked_at,
        by=by,
    )
