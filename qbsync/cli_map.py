"""``qbsync map``: support's view of record mappings, and matching before a first sync."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import QbsyncError
from qbsync._cli_shell import command_group, emit_json, say
from qbsync.mappings import confirm, match, profile_of, refresh, unmapped, unmatch

__all__ = ["map_app"]

map_app = command_group("Record mappings: app ids to QuickBooks ids.")

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant.")]
EntityOption = Annotated[str, typer.Option("--entity", help="customer, vendor, invoice ...")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@map_app.command("list")
def map_list(
    tenant: TenantOption,
    entity: Annotated[str | None, typer.Option("--entity")] = None,
    as_json: JsonOption = False,
) -> None:
    """A tenant's mappings, by entity and source id."""
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        profile_of(store, tenant)
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


@map_app.command("unmapped")
def map_unmapped(tenant: TenantOption, entity: EntityOption, as_json: JsonOption = False) -> None:
    """Records in QuickBooks no app record is mapped to.

    As last read from QuickBooks (Desktop imports, or QuickBooks Online's reads).
    """
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        rows = unmapped(store, tenant, entity)
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("QuickBooks id", "name", "number", title=f"{len(rows)} unmapped {entity}")
    for row in rows:
        table.add_row(row["qb_id"], row["name"] or "", row["ref_number"] or "")
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
    source_id: Annotated[
        str | None, typer.Option("--id", help="Match one app record by hand (with --qb-id).")
    ] = None,
    qb_id: Annotated[
        str | None, typer.Option("--qb-id", help="The QuickBooks ListID or TxnID for --id.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, change nothing.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Match app records to records already in QuickBooks.

    QuickBooks records come from the file's imports; matched by exact name or RefNumber,
    then normalized; what stayed unmatched is reported.
    """
    from qbsync.runtime import open_cli_store

    if (records is None) == (source_id is None):
        raise QbsyncError("give --records FILE, or --id and --qb-id to match one by hand")
    if source_id is not None and not qb_id:
        raise QbsyncError("--id needs --qb-id: the QuickBooks ListID or TxnID to map it to")
    rows = _read_records(records) if records is not None else None
    one = (source_id, qb_id or "") if source_id is not None else None
    with open_cli_store() as store:
        report = match(
            store, tenant, entity, records=rows, one=one, dry_run=dry_run, source=str(records)
        )
    if as_json:
        sys.stdout.write(json.dumps(report.as_json()) + "\n")
    else:
        say(report.describe())
        for sid, why in report.unmatched:
            say(f"  unmatched {sid}: {why}")


@map_app.command("unmatch")
def map_unmatch(
    tenant: TenantOption,
    entity: EntityOption,
    source_id: Annotated[str, typer.Option("--id", help="The app's id of the record.")],
    as_json: JsonOption = False,
) -> None:
    """Forget one mapping.

    The record's next event adds it to QuickBooks (or it is matched again on a first sync).
    """
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        unmatch(store, tenant, entity, source_id)
    if as_json:
        emit_json({"tenant": tenant, "entity": entity, "id": source_id, "unmatched": True})
        return
    say(f"unmatched {entity} {source_id!r}")


@map_app.command("done")
def map_done(
    tenant: TenantOption,
    entity: EntityOption,
    undo: Annotated[bool, typer.Option("--undo", help="Withdraw the confirmation.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Confirm a mapping: "get all" may follow.

    An app's full read (import.everything, `qbsync tenant import --everything`) is refused
    until then: records in both places would reach the app as new ones.
    """
    import getpass

    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        changed = confirm(store, tenant, entity, by=f"cli:{getpass.getuser()}", undo=undo)
    if as_json:
        emit_json({"tenant": tenant, "entity": entity, "confirmed": not undo, "changed": changed})
        return
    if undo:
        say(f"{entity} mapping of {tenant!r}: " + ("reopened" if changed else "was not confirmed"))
    else:
        say(f"{entity} mapping of {tenant!r} confirmed: a full read of it may go to the app")


@map_app.command("refresh")
def map_refresh(tenant: TenantOption, entity: EntityOption, as_json: JsonOption = False) -> None:
    """Read every record of an entity from QuickBooks, for matching only.

    At the company's next session (Web Connector) or read (QuickBooks Online): what
    `map unmapped` lists, older records included; the app is told nothing.
    """
    from core.settings import Settings
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        imports = refresh(store, Settings(), tenant, entity)
    if as_json:
        emit_json({"tenant": tenant, "entity": entity, "reads": imports})
        return
    say(f"every {', '.join(imports)} record will be read for matching at the next session")
