"""The event types source apps publish: ``<entity>.<kind>`` mapped onto a schema and a kind.

The schemas say what an event looks like; this table says which events exist. Lists
(customers, items, ...) can be deactivated, because QuickBooks makes list records inactive
instead of deleting them; transactions cannot (QuickBooks voids or deletes those, which no
integration asks for yet). Every entity can be sync-requested: the "sync this now" button of
manual mode.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.contracts._errors import ContractError

__all__ = [
    "ENTITIES",
    "EVENT_TYPES",
    "EntitySpec",
    "EventType",
    "UnknownEventType",
    "event_type",
]

_NAMESPACE = "com.qbsync.events"
_KIND_SUFFIX = {
    "UPSERTED": "upserted",
    "DEACTIVATED": "deactivated",
    "SYNC_REQUESTED": "sync_requested",
}
_LIST_KINDS = ("UPSERTED", "DEACTIVATED", "SYNC_REQUESTED")
_TRANSACTION_KINDS = ("UPSERTED", "SYNC_REQUESTED")


class UnknownEventType(ContractError):
    """An event type that is not in :data:`EVENT_TYPES`."""


@dataclass(frozen=True)
class EntitySpec:
    """One entity: its event schema, where its payload sits in the event, its kinds."""

    entity: str
    record: str
    kinds: tuple[str, ...]
    payload_always: bool = False  # the payload is required whatever the kind

    @property
    def event_schema(self) -> str:
        return f"{_NAMESPACE}.{self.record}Event"

    @property
    def payload_schema(self) -> str:
        return f"{_NAMESPACE}.{self.record}"

    @property
    def payload_field(self) -> str:
        """The event's field holding the record; the streams' ``ENTITY_RULES`` use the same."""
        return self.entity


@dataclass(frozen=True)
class EventType:
    """``invoice.upserted``: entity ``invoice``, envelope kind ``UPSERTED``."""

    name: str
    spec: EntitySpec
    kind: str

    @property
    def entity(self) -> str:
        return self.spec.entity

    @property
    def schema(self) -> str:
        return self.spec.event_schema

    @property
    def payload_field(self) -> str:
        return self.spec.payload_field

    @property
    def payload_required(self) -> bool:
        """Upserts carry the record; deactivations and sync requests need only the id, except
        where the payload is the request itself (an import request)."""
        return self.kind == "UPSERTED" or self.spec.payload_always


ENTITIES: tuple[EntitySpec, ...] = (
    EntitySpec("customer", "Customer", _LIST_KINDS),
    EntitySpec("job", "Job", _LIST_KINDS),
    EntitySpec("employee", "Employee", _LIST_KINDS),
    EntitySpec("sales_rep", "SalesRep", _LIST_KINDS),
    EntitySpec("vendor", "Vendor", _LIST_KINDS),
    EntitySpec("item", "Item", _LIST_KINDS),
    EntitySpec("account", "Account", _LIST_KINDS),
    EntitySpec("class", "Class", _LIST_KINDS),
    EntitySpec("sales_tax_code", "SalesTaxCode", _LIST_KINDS),
    EntitySpec("terms", "Terms", _LIST_KINDS),
    EntitySpec("invoice", "Invoice", _TRANSACTION_KINDS),
    EntitySpec("credit_memo", "CreditMemo", _TRANSACTION_KINDS),
    EntitySpec("estimate", "Estimate", _TRANSACTION_KINDS),
    EntitySpec("payment", "Payment", _TRANSACTION_KINDS),
    EntitySpec("refund", "Refund", _TRANSACTION_KINDS),
    EntitySpec("bill", "Bill", _TRANSACTION_KINDS),
    EntitySpec("vendor_credit", "VendorCredit", _TRANSACTION_KINDS),
    EntitySpec("expense", "Expense", _TRANSACTION_KINDS),
    EntitySpec("time_entry", "TimeEntry", _TRANSACTION_KINDS),
    EntitySpec("commitment", "Commitment", _TRANSACTION_KINDS),
    EntitySpec("subcontractor_invoice", "SubcontractorInvoice", _TRANSACTION_KINDS),
    EntitySpec("cost_code", "CostCode", _LIST_KINDS),
    EntitySpec("budget_line", "BudgetLine", _LIST_KINDS),
    # Not a record: an app asking for a read-back from QuickBooks (docs/two-way.md).
    EntitySpec("import", "ImportRequest", ("SYNC_REQUESTED",), payload_always=True),
)

EVENT_TYPES: dict[str, EventType] = {
    f"{spec.entity}.{_KIND_SUFFIX[kind]}": EventType(
        f"{spec.entity}.{_KIND_SUFFIX[kind]}", spec, kind
    )
    for spec in ENTITIES
    for kind in spec.kinds
}


def event_type(name: str) -> EventType:
    """The event type called ``name``, e.g. ``"invoice.upserted"``."""
    try:
        return EVENT_TYPES[name]
    except KeyError:
        raise UnknownEventType(_unknown(name)) from None


def _unknown(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, EVENT_TYPES, n=3)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"unknown event type {name!r}{hint} (`qbsync schemas list` shows them all)"
