"""Build event records in the contracts' shape (for publishers, the demo and tests)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from core.contracts._catalog import EventType, event_type

__all__ = ["customer_event", "new_event"]


def new_event(
    kind: str | EventType,
    *,
    tenant_id: str,
    entity_id: str,
    source_system: str,
    payload: Mapping[str, Any] | None = None,
    source_updated_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An event of type ``kind`` (``"invoice.upserted"``) with a fresh envelope.

    ``source_updated_at`` should be when the record changed in the source app: qbsync lets
    the last update win, so defaulting it to ``now`` is only right for a change made now.
    """
    chosen = event_type(kind) if isinstance(kind, str) else kind
    moment = now or datetime.now(UTC)
    return {
        "envelope": {
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "source_system": source_system,
            "entity": chosen.entity,
            "entity_id": entity_id,
            "kind": chosen.kind,
            "occurred_at": moment,
            "source_updated_at": source_updated_at or moment,
        },
        chosen.payload_field: dict(payload) if payload is not None else None,
    }


def customer_event(
    tenant_id: str,
    entity_id: str,
    customer: dict[str, Any],
    *,
    kind: str = "UPSERTED",
    source_system: str = "demo",
) -> dict[str, Any]:
    """A ``customer.*`` event; ``kind`` is the envelope's symbol (``UPSERTED``, ...)."""
    return new_event(
        f"customer.{kind.lower()}",
        tenant_id=tenant_id,
        entity_id=entity_id,
        source_system=source_system,
        payload=customer,
    )
