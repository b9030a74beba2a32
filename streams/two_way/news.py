"""Whether a record read back from QuickBooks is news for the app: pure rules, no I/O.

An import brings every record changed since the watermark (rewound a minute), which
includes our own writes and changes the app was told about already. :func:`decide` keeps
only what someone else changed in QuickBooks, for an entity the tenant syncs from
QuickBooks:

1. **Who it is for** (:class:`~streams.two_way.from_quickbooks.Shape` ``follows``): most entities
   go to the app when its ``direction.<entity>`` is ``from_quickbooks`` or ``two_way``
   (``one-way``); an invoice's paid status whenever qbsync synced the invoice, and a
   payment when it is applied to such an invoice, whatever the direction (``not-ours``).
   Kinds that are no app entity (accounts, classes, terms ...) never get here: they are
   kept in the store for matching and reference checks.
2. **Echo**: the EditSequence equals the one our last write got back, kept on the
   mapping: our own change coming back (``echo``).
3. **Mapped elsewhere**: the app has the record under another entity: not offered as a new
   one (``mapped-elsewhere``). **Another tenant's**: on a company file shared by several
   tenants, a record another tenant of the file maps, or that qbsync wrote for it, is that
   tenant's alone (``other-tenant``): our own writes never come back to anyone as a change.
   The tenant's retainage item is never offered as a cost code (``retainage-item``).
4. **Seen**: the EditSequence equals the last one delivered, or the one the gateway
   recorded when it wrote the record (an import reading our write before the worker has
   settled its result), or the record is older than it: the rewound minute, a re-run
   import (``seen``).

Everything else is delivered; conflicts with an app change are decided where the app change
meets QuickBooks' (see :mod:`core.conflicts` and ``docs/two-way.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from core.conflicts import earlier
from streams.tenant_settings import TenantSettings
from streams.two_way.from_quickbooks import AppRecord

__all__ = ["Deliver", "Drop", "Version", "decide"]

Kind = Literal["CREATED", "UPDATED", "DEACTIVATED"]


@dataclass(frozen=True)
class Version:
    """A version of a QuickBooks record: its EditSequence and TimeModified."""

    edit_sequence: str | None
    changed_at: datetime | None


@dataclass(frozen=True)
class Deliver:
    kind: Kind


@dataclass(frozen=True)
class Drop:
    reason: Literal[
        "one-way", "not-ours", "echo", "seen", "mapped-elsewhere", "other-tenant", "retainage-item"
    ]


def decide(
    settings: TenantSettings,
    record: AppRecord,
    imported: Version,
    *,
    ours: Version | None,
    delivered: Version | None,
    elsewhere: bool = False,
    other_tenant: bool = False,
) -> Deliver | Drop:
    """``ours``: the mapping's version (what our last write got back), None when the app
    has no such record; ``delivered``: the version the app was last told about;
    ``elsewhere``: the record is the app's under another entity (a 1099 worker synced as an
    employee is a QuickBooks vendor; an item the app sent is not also a cost code);
    ``other_tenant``: another tenant of the shared company file maps the record or had it
    written by qbsync."""
    if ours is None and other_tenant:
        return Drop("other-tenant")
    if record.entity == "cost_code" and _is_retainage_item(settings, record):
        return Drop("retainage-item")  # qbsync's own bookkeeping item, no cost code
    if ours is None and elsewhere:
        return Drop("mapped-elsewhere")
    if record.follows == "mapped" and ours is None:
        return Drop("not-ours")
    if record.follows == "our_invoices" and ours is None and not record.refers_to_ours:
        return Drop("not-ours")
    if record.follows == "direction" and settings.direction_of(record.entity) == "to_quickbooks":
        return Drop("one-way")
    if ours is not None and ours.edit_sequence == imported.edit_sequence:
        return Drop("echo")
    if delivered is not None and (
        delivered.edit_sequence == imported.edit_sequence
        or earlier(imported.changed_at, delivered.changed_at)
    ):
        return Drop("seen")
    if ours is None:
        return Deliver("CREATED")
    return Deliver("UPDATED" if record.is_active else "DEACTIVATED")


def _is_retainage_item(settings: TenantSettings, record: AppRecord) -> bool:
    item = record.payload.get("item") or {}
    name = settings.retainage_item
    return bool(name) and str(item.get("full_name") or "").casefold() == str(name).casefold()
