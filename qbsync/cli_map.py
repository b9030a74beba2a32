"""``qbsync map``: support's view of record mappings, and matching before a first sync."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qbsync.errors import QbsyncError
from qbsync.settings import Settings

__all__ = ["map_app"]

map_app = typer.Typer(
    no_args_is_help=True,
    help="Record mappings (app id <-> QuickBooks ListID/TxnID): list, match, unmatch.",
)
err = Console(stderr=True)

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant.")]
EntityOption = Annotated[str, typer.Option("--entity", help="customer, vendor, invoice ...")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _profile_of(store: Any, tenant_id: str) -> str:
    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise QbsyncError(f"no tenant {tenant_id!r} (qbsync tenant create ...)")
    return str(tenant.profile_id)


@map_app.command("list")
def map_list(
    tenant: TenantOption,
    entity: Annotated[str | None, typer.Option("--entity")] = None,
    as_json: JsonOption = False,
) -> None:
    """A tenant's mappings, by entity and source id."""
    from connectors.store import open_store

    with open_store(Settings().database_url) as store:
        _profile_of(store, tenant)
        rows = [
            {
                "entity": m.entity,
                "id": m.external_id,
                "qb_id": m.qb_id,
                "name": m.full_name,
                "edit_sequence": m.edit_sequence,
            }
            for m in store.mappings(tenant, entity)
        ]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("entity", "id", "QuickBooks id", "name", title=f"{len(rows)} mappings")
    for row in rows:
        table.add_row(row["entity"], row["id"], row["qb_id"], row["name"] or "")
    Console().print(table)


def _read_records(path: Path) -> list[dict[str, str]]:
    """CSV with a header (``id`` and ``name`` or ``ref_number``) or a JSON array."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise QbsyncError(f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise QbsyncError(f"{path}: not JSON ({exc.msg}, line {exc.lineno})") from exc
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise QbsyncError(f"{path}: expected a JSON array of objects")
        return [{str(k): str(v) for k, v in r.items() if v is not None} for r in data]
    return [dict(row) for row in csv.DictReader(text.splitlines())]


@map_app.command("match")
def map_match(
    tenant: TenantOption,
    entity: EntityOption,
    records: Annotated[
        Path | None,
        typer.Option(help="The app's records: CSV (id,name or id,ref_number) or JSON array."),
    ] = None,
    source_id: Annotated[str | None, typer.Option("--id", help="Match one by hand...")] = None,
    qb_id: Annotated[str | None, typer.Option("--qb-id", help="...to this ListID/TxnID.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Match the app's records to records already in QuickBooks (from the file's imports):
    by exact name or RefNumber, then normalized; report what stayed unmatched."""
    from connectors.qbxml import ENTITIES
    from connectors.store import Mapping, open_store
    from qbsync.matching import Candidate, SourceRecord, match_records
    from streams.from_quickbooks import IMPORTED_AS

    if (records is None) == (source_id is None):
        raise QbsyncError("give --records FILE, or --id and --qb-id to match one by hand")
    if source_id is not None and not qb_id:
        raise QbsyncError("--id needs --qb-id: the QuickBooks ListID or TxnID to map it to")
    is_list = ENTITIES[entity].is_list if entity in ENTITIES else True
    field = "name" if is_list else "ref_number"
    # The app's entity as QuickBooks keeps it: a cost code is an item (matched by its code,
    # the item's name), a job a customer, a payment a received payment.
    kept_as = IMPORTED_AS.get(entity, entity)
    with open_store(Settings().database_url) as store:
        profile_id = _profile_of(store, tenant)
        imported = store.qb_records(profile_id, kept_as)
        if not imported and source_id is None:
            raise QbsyncError(
                f"no {entity} records imported from QuickBooks for this file yet: add"
                f" {kept_as!r} to QBSYNC_GATEWAY_IMPORTS and let the Web Connector run"
            )
        by_id = {r.qb_id: r for r in imported}
        existing = store.mappings(tenant, entity)
        if source_id is not None:
            assert qb_id is not None
            found = by_id.get(qb_id)
            matched = [(source_id, qb_id, found.full_name if found else None, "by hand")]
            unmatched: list[tuple[str, str]] = []
            already: list[str] = []
        else:
            assert records is not None
            rows = _read_records(records)
            if entity == "cost_code":  # the app's cost code is the QuickBooks item's name
                rows = [{**row, "name": row.get("code") or row.get("name") or ""} for row in rows]
            bad = [n for n, row in enumerate(rows, 2) if not row.get("id") or not row.get(field)]
            if bad:
                raise QbsyncError(
                    f"{records}: row {bad[0]} needs 'id' and '{field}' ({entity} records are"
                    f" matched by {field.replace('_', ' ')})"
                )
            outcome = match_records(
                [SourceRecord(row["id"], row[field]) for row in rows],
                [
                    Candidate(r.qb_id, (r.full_name if is_list else r.ref_number) or "")
                    for r in imported
                ],
                mapped_sources={m.external_id: m.qb_id for m in existing},
                mapped_qb_ids=[m.qb_id for m in existing],
            )
            matched = [(m.source_id, m.qb_id, m.key, m.how) for m in outcome.matched]
            unmatched, already = outcome.unmatched, outcome.already
        if not dry_run:
            for sid, qid, name, _how in matched:
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
    report = {
        "matched": [{"id": s, "qb_id": q, "key": k, "how": h} for s, q, k, h in matched],
        "unmatched": [{"id": s, "why": why} for s, why in unmatched],
        "already_mapped": already,
        "dry_run": dry_run,
    }
    if as_json:
        sys.stdout.write(json.dumps(report) + "\n")
    else:
        verb = "would match" if dry_run else "matched"
        err.print(
            f"{verb} {len(matched)}, {len(unmatched)} unmatched, {len(already)} mapped before"
        )
        for sid, why in unmatched:
            err.print(f"  unmatched {sid}: {why}")


@map_app.command("unmatch")
def map_unmatch(
    tenant: TenantOption,
    entity: EntityOption,
    source_id: Annotated[str, typer.Option("--id", help="The app's id of the record.")],
) -> None:
    """Forget one mapping: the record's next event adds it to QuickBooks (or is matched
    again on a first sync)."""
    from connectors.store import open_store

    with open_store(Settings().database_url) as store:
        _profile_of(store, tenant)
        if not store.delete_mapping(tenant, entity, source_id):
            raise QbsyncError(f"{tenant}: no {entity} mapping for id {source_id!r}")
    err.print(f"unmatched {entity} {source_id!r}")
