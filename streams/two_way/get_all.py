""" "Get all" only after mapping (the QBO integration's order rule, Desktop's too).

An app may ask for every record of an entity, whatever its age (``import.everything``), to
fill itself from QuickBooks. Records that exist in both places under different ids must be
matched first (``qbsync map match``), or the full read tells the app of them as new and the
app ends up with two of each. So a full read is allowed only once support confirmed the
mapping (``qbsync map done``, the console's mappings page) of every app entity it could
deliver as new, for every tenant of the company that gets that entity from QuickBooks (a
company file is shared: the read goes to all its tenants).

Pure: the caller reads the tenants' settings and confirmations.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from streams.tenant_settings import TenantSettings
from streams.two_way.from_quickbooks import IMPORTED_AS, SHAPES, ImportRefused

__all__ = ["MAP_FIRST", "delivered_as_new", "require_mapped"]

MAP_FIRST = "map-first"

# App entities a read delivers as new records whatever the app sent: shapes that follow the
# tenant's direction (an invoice's paid status or a payment of our invoices only reach the
# app for records qbsync synced, so they cannot be duplicates).
_FOLLOWING_DIRECTION = frozenset(
    shape.entity for shapes in SHAPES.values() for shape in shapes if shape.follows == "direction"
)


def delivered_as_new(import_entities: Sequence[str]) -> list[str]:
    """The app entities a full read of these import entities (``customer``, ``item`` ...)
    could tell an app of as new: ``customer`` reads customers and jobs, ``item`` items and
    cost codes."""
    chosen = set(import_entities)
    return sorted(
        app
        for app, read_as in IMPORTED_AS.items()
        if read_as in chosen and app in _FOLLOWING_DIRECTION
    )


def require_mapped(
    import_entities: Sequence[str],
    tenants: Mapping[str, TenantSettings | None],
    confirmed: Mapping[str, Collection[str]],
) -> None:
    """Nothing when every tenant of the company (``tenants``: id -> settings, None when
    they do not validate) that gets an entity the read delivers has confirmed its mapping
    (``confirmed``: tenant -> entities); else :class:`ImportRefused` (code ``map-first``)
    naming the first missing one and how to confirm it."""
    missing = [
        (tenant_id, entity)
        for tenant_id, settings in sorted(tenants.items())
        for entity in delivered_as_new(import_entities)
        if (settings is None or settings.direction_of(entity) != "to_quickbooks")
        and entity not in confirmed.get(tenant_id, ())
    ]
    if not missing:
        return
    tenant_id, entity = missing[0]
    more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
    raise ImportRefused(
        MAP_FIRST,
        f"import.everything: the mapping of {entity} for tenant {tenant_id!r} is not"
        f" confirmed{more}; records in both places would reach the app as new ones. Match"
        f" them first (`qbsync map unmapped --tenant {tenant_id} --entity {entity}`, then"
        f" `qbsync map match`), confirm with `qbsync map done --tenant {tenant_id} --entity"
        f" {entity}` or the console's mappings page, and ask again",
    )
