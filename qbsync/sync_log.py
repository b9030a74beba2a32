"""A tenant's sync log as rows and as CSV: what ``qbsync log export`` writes and what the
console's CSV download serves, the same columns in the same order."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connectors.store import Store, SyncLogEntry

__all__ = ["COLUMNS", "log_rows", "rows_of", "write_csv"]

COLUMNS = [
    "at",
    "tenant_id",
    "entity",
    "entity_id",
    "action",
    "status",
    "code",
    "message",
    "qb_id",
    "command_id",
    "profile_id",
]


def rows_of(entries: Iterable[SyncLogEntry]) -> list[dict[str, Any]]:
    """Entries as export rows (times as ISO text)."""
    return [
        {
            column: (
                value.isoformat()
                if isinstance(value := getattr(entry, column), datetime)
                else value
            )
            for column in COLUMNS
        }
        for entry in entries
    ]


def log_rows(
    store: Store,
    tenant: str,
    since: datetime | None = None,
    *,
    entity: str | None = None,
    entity_id: str | None = None,
) -> list[dict[str, Any]]:
    """Every settled command of ``tenant`` (since ``since``; of one entity, one record),
    oldest first."""
    return rows_of(store.sync_log(tenant, since, entity=entity, entity_id=entity_id))


def write_csv(rows: Iterable[dict[str, Any]], target: IO[str]) -> None:
    writer = csv.DictWriter(target, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
