"""Shared helpers for the translation tests: example events and resolvers."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connectors.store import Mapping
from core.contracts import validate_event

__all__ = ["NOW", "example", "knows_everything", "mapping_of"]

NOW = datetime(2026, 11, 21, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "avro" / "examples"


def example(event_type: str, **changes: Any) -> dict[str, Any]:
    """The decoded example event of ``event_type``; ``changes`` update its payload."""
    data = json.loads((EXAMPLES / f"{event_type}.json").read_text())
    entity = event_type.split(".")[0]
    data[entity].update(changes)
    return validate_event(event_type, data, now=NOW)


def mapping_of(entity: str, external_id: str) -> Mapping:
    return Mapping("acme-hvac", entity, external_id, f"ID-{entity}-{external_id}", "17", None)


def knows_everything(entity: str, external_id: str) -> Mapping | None:
    """A resolver for which every referenced record is already in QuickBooks."""
    return mapping_of(entity, external_id)
