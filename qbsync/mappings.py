"""Record mappings for support, shared by ``qbsync map`` and the console: list, match (from
the app's records or one by hand) and unmatch, with one set of rules.

Matching is :func:`streams.two_way.matching.match_records` (pure) against the company
file's imported records; this module reads the store, applies the outcome and says what it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import QbsyncError

if TYPE_CHECKING:
    from connectors.store import Store
    from core.settings import Settings

__all__ = [
    "MatchReport",
    "confirm",
    "import_rows",
    "imports_of",
    "match",
    "profile_of",
    "refresh",
    "require_confirmed",
    "under_way",
    "unmapped",
    "unmatch",
]


@dataclass(frozen=True)
class MatchReport:
    """``matched``: (app id, QuickBooks id, key, how); ``unmatched``: (app id, why)."""

    matched: list[tuple[str, str, str | None, str]]
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "matched": [{"id": s, "qb_id": q, "key": k, "how": h} for s, q, k, h in self.matched],
            "unmatched": [{"id": s, "why": why} for s, why in self.unmatched],
            "already_mapped": self.already,
            "dry_run": self.dry_run,
        }

    def describe(self) -> str:
        verb = "would match" if self.dry_run else "matched"
        return (
            f"{verb} {len(self.matched)}, {len(self.unmatched)} unmatched,"
            f" {len(self.already)} mapped before"
        )


def profile_of(store: Store, tenant_id: str) -> str:
    """The tenant's company file (profile id), or a clear error."""
    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise QbsyncError(f"no tenant {tenant_id!r} (try `qbsync tenant list`)")
    return str(tenant.profile_id)


def match(
    store: Store,
    tenant: str,
    entity: str,
    *,
    records: Sequence[dict[str, str]] | None = None,
    one: tuple[str, str] | None = None,
    dry_run: bool = False,
    source: str = "records",
) -> MatchReport:
    """Match the app's ``records`` (rows with ``id`` and ``name``, or ``ref_number`` for a
    transaction) to the file's imported records, by exact key then normalized; or ``one``
    (app id, QuickBooks id) by hand. Nothing is saved when ``dry_run``."""
    from connectors.qbxml import ENTITIES
    from connectors.store import Mapping
    from streams.two_way.from_quickbooks import IMPORTED_AS
    from streams.two_way.matching import Candidate, SourceRecord, match_records

    if (records is None) == (one is None):
        raise QbsyncError("give the app's records, or one app id and a QuickBooks id")
    if one is not None and not (one[0] and one[1]):
        raise QbsyncError("matching by hand needs the app's id and the QuickBooks ListID/TxnID")
    is_list = ENTITIES[entity].is_list if entity in ENTITIES else True
    key = "name" if is_list else "ref_number"
    # The app's entity as QuickBooks keeps it: a cost code is an item (matched by its code,
    # the item's name), a job a customer, a payment a received payment.
    kept_as = IMPORTED_AS.get(entity, entity)
    profile_id = profile_of(store, tenant)
    imported = store.qb_records(profile_id, kept_as)
    if not imported and one is None:
        raise QbsyncError(
            f"no {entity} records imported from QuickBooks for this file yet: add"
            f" {kept_as!r} to QBSYNC_GATEWAY_IMPORTS and let the Web Connector run"
        )
    by_id = {r.qb_id: r for r in imported}
    existing = store.mappings(tenant, entity)
    if one is not None:
        source_id, qb_id = one
        found = by_id.get(qb_id)
        report = MatchReport(
            [(source_id, qb_id, found.full_name if found else None, "by hand")], dry_run=dry_run
        )
    else:
        assert records is not None
        if entity == "cost_code":  # the app's cost code is the QuickBooks item's name
            records = [{**row, "name": row.get("code") or row.get("name") or ""} for row in records]
        bad = [n for n, row in enumerate(records, 2) if not row.get("id") or not row.get(key)]
        if bad:
            raise QbsyncError(
                f"{source}: row {bad[0]} needs 'id' and '{key}' ({entity} records are"
                f" matched by {key.replace('_', ' ')})"
            )
        outcome = match_records(
            [SourceRecord(row["id"], row[key]) for row in records],
            [
                Candidate(r.qb_id, (r.full_name if is_list else r.ref_number) or "")
                for r in imported
            ],
            mapped_sources={m.external_id: m.qb_id for m in existing},
            mapped_qb_ids=[m.qb_id for m in existing],
        )
        report = MatchReport(
            [(m.source_id, m.qb_id, m.key, m.how) for m in outcome.matched],
            outcome.unmatched,
            outcome.already,
            dry_run,
        )
    if not dry_run:
        for sid, qid, name, _how in report.matched:
            record = by_id.get(qid)
            store.save_mapping(
                Mapping(
                    tenant,
                    entity,
                    sid,
                    qid,
                    record.edit_sequence if record else None,
                    name if is_list else None,
                )
            )
    return report


def unmatch(store: Store, tenant: str, entity: str, source_id: str) -> None:
    """Forget one mapping: the record's next event adds it to QuickBooks (or is matched
    again on a first sync)."""
    profile_of(store, tenant)
    if not store.delete_mapping(tenant, entity, source_id):
        raise QbsyncError(f"{tenant}: no {entity} mapping for id {source_id!r}")


def unmapped(store: Store, tenant: str, entity: str) -> list[dict[str, Any]]:
    """The company's records of ``entity`` (as last read from QuickBooks, Desktop or Online)
    that no record of the tenant is mapped to: what a match could still adopt."""
    from streams.two_way.from_quickbooks import IMPORTED_AS

    profile_id = profile_of(store, tenant)
    mapped = {m.qb_id for m in store.mappings(tenant, entity)}
    return [
        {
            "qb_id": r.qb_id,
            "name": r.full_name,
            "ref_number": r.ref_number,
            "is_active": r.is_active,
        }
        for r in store.qb_records(profile_id, IMPORTED_AS.get(entity, entity))
        if r.qb_id not in mapped
    ]


def confirm(
    store: Store, tenant: str, entity: str, *, by: str | None = None, undo: bool = False
) -> bool:
    """Support's "mapping done" for one entity: a full read ("get all") of it may then go
    to the tenant's app. ``undo`` withdraws it (False: there was none)."""
    from streams.two_way.from_quickbooks import IMPORTED_AS
    from streams.two_way.get_all import delivered_as_new

    profile_of(store, tenant)
    gated = delivered_as_new(sorted(set(IMPORTED_AS.values())))
    if entity not in gated:
        raise QbsyncError(
            f"--entity {entity!r}: a full read never delivers it as new, nothing to confirm;"
            f" one of {', '.join(gated)}"
        )
    if undo:
        return store.reopen_mapping(tenant, entity)
    store.confirm_mapping(tenant, entity, by=by)
    return True


def require_confirmed(store: Store, profile_id: str, imports: list[str]) -> None:
    """The worker's "get all" rule for a request made outside it (``qbsync tenant import
    --everything``): ``ImportRefused`` (``map-first``) until every tenant of the company
    confirmed the mappings the read could deliver as new."""
    from streams.tenant_settings import valid_settings
    from streams.two_way.get_all import require_mapped

    company = {t.id: valid_settings(t.settings) for t in store.tenants(profile_id)}
    require_mapped(imports, company, store.mapping_confirmations(list(company)))


def imports_of(store: Store, settings: Settings, tenant: str, wanted: Sequence[str]) -> list[str]:
    """The import entities for an app's names (``job`` -> ``customer``) on the tenant's
    company, checked against what this deployment reads back from it (the gateway's
    imports, or the QBO reader's entities): the worker's rule for ``import.entities``."""
    from connectors.qbo import imports_read
    from streams.two_way.from_quickbooks import imports_for

    profile_id = profile_of(store, tenant)
    if store.qbo_profiles([profile_id]):
        return imports_for(wanted, imports_read(settings.qbo.read_entity_names), "qbo")
    return imports_for(wanted, settings.gateway.import_entities)


def refresh(store: Store, settings: Settings, tenant: str, entity: str) -> list[str]:
    """Read every record of ``entity`` at the company's next session, for matching only
    (what ``unmapped`` lists and ``match`` adopts; the apps are told nothing), so records
    older than the reads' watermark can be matched before a "get all". The import entities
    asked for."""
    imports = imports_of(store, settings, tenant, [entity])
    store.request_import(profile_of(store, tenant), imports, full_read="match")
    return imports


def _stamp(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="seconds")


def import_rows(marks: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The company's reads from QuickBooks, one row per import entity (the store's
    watermark rows): when last completed, since when changes are read, how many records
    so far, what is asked, and how far a read under way got."""
    rows = []
    for entity in sorted(marks):
        mark = marks[entity]
        asked = {"match": "every record, for matching", "deliver": "every record"}.get(
            mark.full_read or "", "changes" if mark.requested_at is not None else None
        )
        rows.append(
            {
                "entity": entity,
                "last_completed": _stamp(mark.completed_at),
                "changes_since": _stamp(mark.modified_from),
                "records": mark.records or 0,
                "asked": asked,
                "under_way": None
                if mark.progress is None
                else {
                    "read": mark.progress,
                    "remaining": mark.remaining,
                    "as_of": _stamp(mark.progress_at),
                },
            }
        )
    return rows


def under_way(row: dict[str, Any]) -> str:
    """A read under way in words: "34,000 read, 66,000 left (as of ...)"; "" for none."""
    progress = row["under_way"]
    if progress is None:
        return ""
    left = "" if progress["remaining"] is None else f", {progress['remaining']:,} left"
    return f"{progress['read']:,} read{left} (as of {progress['as_of']})"
