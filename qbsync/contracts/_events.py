"""Build event records in the contracts' shape (for publishers, the demo and tests)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

__all__ = ["customer_event"]


def customer_event(
    tenant_id: str,
    entity_id: str,
    customer: dict[str, Any],
    *,
    kind: str = "UPSERTED",
    source_system: str = "demo",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "envelope": {
            "event_id": str(uuid.uuid4()),
            "tenant_id": tenant_id,
            "source_system": source_system,
            "entity": "customer",
            "entity_id": entity_id,
            "kind": kind,
            "occurred_at": now,
            "source_updated_at": now,
        },
        "customer": customer,
    }
