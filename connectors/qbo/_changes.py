"""Reading changes back from QBO: Change Data Capture since a watermark
(``../shared/qbo/README.md``, "Reading changes back"): full records of what changed,
deleted ones as ``"status": "Deleted"``, at most 30 days back and 1,000 objects an answer;
the answer's ``time`` is the next watermark (Intuit's clock, not ours).

The page is read and typed here; :mod:`connectors.qbo._reader` runs it per company and feeds
``<prefix>.imports`` (``docs/qbo.md``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors.qbo._client import QboClient
from connectors.qbo._records import QboRequest
from core.errors import QbsyncError

__all__ = ["CDC_LIMIT", "NOT_IN_CDC", "CdcRefused", "ChangePage", "ChangedRecord", "read_changes"]

CDC_LIMIT = 1000
# Not available through CDC: query these by Metadata.LastUpdatedTime instead.
NOT_IN_CDC = frozenset({"TimeActivity", "TaxCode", "TaxRate", "TaxAgency", "JournalCode"})


class CdcRefused(QbsyncError):
    """Intuit refused the CDC request (the fault's code and message are in the text)."""


@dataclass(frozen=True)
class ChangedRecord:
    entity: str
    entity_id: str
    deleted: bool
    last_updated: datetime | None
    record: Mapping[str, Any]


@dataclass(frozen=True)
class ChangePage:
    records: tuple[ChangedRecord, ...]
    watermark: datetime
    # 1,000 objects came back: there may be more; read again with a shorter window.
    truncated: bool


def _time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_changes(
    client: QboClient, realm_id: str, entities: Sequence[str], since: datetime
) -> ChangePage:
    excluded = sorted(set(entities) & NOT_IN_CDC)
    if excluded:
        raise ValueError(
            f"CDC does not return {', '.join(excluded)}: query them by Metadata.LastUpdatedTime"
        )
    response = client.send(
        QboRequest(
            realm_id,
            "GET",
            "cdc",
            (("entities", ",".join(entities)), ("changedSince", since.isoformat())),
        )
    )
    if not response.ok:
        first = response.errors[0] if response.errors else None
        raise CdcRefused(
            f"realm {realm_id}: CDC refused ({response.status}"
            + (f", {first.code} {first.message}: {first.detail})" if first else ")")
        )
    records: list[ChangedRecord] = []
    for answer in response.body.get("CDCResponse") or []:
        for group in answer.get("QueryResponse") or []:
            for entity, rows in group.items():
                if not isinstance(rows, list):
                    continue
                for row in rows:
                    meta = row.get("MetaData") or {}
                    records.append(
                        ChangedRecord(
                            entity=entity,
                            entity_id=str(row.get("Id", "")),
                            deleted=row.get("status") == "Deleted",
                            last_updated=_time(meta.get("LastUpdatedTime")),
                            record=row,
                        )
                    )
    watermark = _time(response.body.get("time"))
    if watermark is None:
        raise CdcRefused(f"realm {realm_id}: the CDC answer has no time to continue from")
    return ChangePage(tuple(records), watermark, len(records) >= CDC_LIMIT)
