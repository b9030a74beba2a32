"""Pure business rules: no I/O, no clock, no randomness (callers pass them in).

One table-driven path for every entity: :data:`ENTITY_RULES` says where an entity's payload
sits in its event and how its fields become qbXML element values; everything else is shared.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connectors.qbxml import FieldError, build_request
from connectors.store import Mapping as IdMapping

__all__ = [
    "ENTITY_RULES",
    "Context",
    "EntityRule",
    "Rejection",
    "customer_name",
    "plan_command",
]


@dataclass(frozen=True)
class Context:
    """What the worker looked up before calling :func:`plan_command`."""

    profile_id: str | None
    mapping: IdMapping | None
    settings: Mapping[str, Any]


@dataclass(frozen=True)
class Rejection:
    """Why an event becomes a dead letter instead of a command."""

    code: str
    reason: str


@dataclass(frozen=True)
class EntityRule:
    payload_field: str
    values: Callable[[Mapping[str, Any], Mapping[str, Any]], dict[str, Any]]


def customer_name(customer: Mapping[str, Any], settings: Mapping[str, Any]) -> str:
    """The company name when there is one, else "Last, First" (the seed products' default)."""
    company = (customer.get("company_name") or "").strip()
    if company:
        name = company
    else:
        first = (customer.get("first_name") or "").strip()
        last = (customer.get("last_name") or "").strip()
        name = ", ".join(part for part in (last, first) if part)
    return name.upper() if settings.get("upper_case") else name


def _address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "Addr1": address.get("line1"),
        "Addr2": address.get("line2"),
        "City": address.get("city"),
        "State": address.get("state"),
        "PostalCode": address.get("postal_code"),
        "Country": address.get("country"),
    }


def _customer_values(customer: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Name": customer_name(customer, settings),
        "IsActive": customer.get("is_active", True),
        "CompanyName": customer.get("company_name"),
        "FirstName": customer.get("first_name"),
        "LastName": customer.get("last_name"),
        "BillAddress": _address(customer.get("bill_address")),
        "ShipAddress": _address(customer.get("ship_address")),
        "Phone": customer.get("phone"),
        "Email": customer.get("email"),
    }


ENTITY_RULES: dict[str, EntityRule] = {
    "customer": EntityRule(payload_field="customer", values=_customer_values),
}


def plan_command(
    event: Mapping[str, Any], context: Context, *, command_id: str, now: datetime
) -> dict[str, Any] | Rejection:
    """Turn one decoded event into one Command record, or say why not."""
    envelope = event["envelope"]
    entity = envelope["entity"]
    rule = ENTITY_RULES.get(entity)
    if rule is None:
        return Rejection("unsupported-entity", f"qbsync does not sync {entity!r} records yet")
    if context.profile_id is None:
        return Rejection(
            "unknown-tenant",
            f"tenant {envelope['tenant_id']!r} is not connected to a QuickBooks company file",
        )
    kind = envelope["kind"]
    mapping = context.mapping
    if kind == "DEACTIVATED":
        if mapping is None:
            return Rejection(
                "not-in-quickbooks",
                f"{entity} {envelope['entity_id']!r} was never synced, so there is nothing"
                " to deactivate",
            )
        values: dict[str, Any] = {"IsActive": False}
    else:
        payload = event.get(rule.payload_field)
        if payload is None:
            return Rejection("missing-payload", f"a {kind.lower()} event needs its {entity} data")
        values = rule.values(payload, context.settings)
    try:
        if mapping is None:
            request = build_request(entity, "Add", values)
            action = "ADD"
        else:
            request = build_request(
                entity,
                "Mod",
                values,
                qb_id=mapping.qb_id,
                edit_sequence=mapping.edit_sequence,
            )
            action = "MOD"
    except FieldError as exc:
        return Rejection("invalid-field", str(exc))
    return {
        "command_id": command_id,
        "event_id": str(envelope["event_id"]),
        "tenant_id": envelope["tenant_id"],
        "profile_id": context.profile_id,
        "entity": entity,
        "entity_id": envelope["entity_id"],
        "action": action,
        "request_xml": request,
        "created_at": now,
    }
