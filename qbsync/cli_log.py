"""``qbsync log export``: a tenant's sync log, for support and the tenant's accountant."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from core.errors import QbsyncError
from qbsync._cli_shell import command_group, emit_json, say
from qbsync.sync_log import log_rows, write_csv

__all__ = ["log_app"]

log_app = command_group("The sync log: what reached QuickBooks, when.")


EntityOption = Annotated[
    str | None, typer.Option("--entity", help="Only this entity (customer, invoice ...).")
]
IdOption = Annotated[
    str | None, typer.Option("--id", help="Only this record: the app's id (with --entity).")
]


@log_app.command("export")
def export(
    tenant: Annotated[str, typer.Option(help="The tenant whose log to export.")],
    since: Annotated[
        datetime | None, typer.Option(help="ISO date or time (UTC when no zone).")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv/--json", help="CSV (default) or JSON.")] = True,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    entity: EntityOption = None,
    entity_id: IdOption = None,
) -> None:
    """Every settled command of a tenant (or of one record), oldest first."""
    from qbsync.runtime import open_cli_store

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with open_cli_store() as store:
        rows = log_rows(store, tenant, since, entity=entity, entity_id=entity_id)
        if not rows and store.tenant(tenant) is None:
            raise QbsyncError(f"--tenant {tenant}: no such tenant (try `qbsync tenant list`)")
    target = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
    try:
        if as_csv:
            write_csv(rows, target)
        else:
            target.write(json.dumps(rows) + "\n")
    finally:
        if output:
            target.close()
    say(f"{len(rows)} entries")


@log_app.command("clear")
def clear(
    tenant: Annotated[str, typer.Option(help="The tenant whose log to clear.")],
    entity: EntityOption = None,
    entity_id: IdOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Delete a tenant's log entries (or one record's).

    Mappings and QuickBooks are untouched: only the history goes.
    """
    from qbsync.runtime import open_cli_store

    if entity_id is not None and entity is None:
        raise QbsyncError("--id needs --entity: the app's id is unique within an entity")
    with open_cli_store() as store:
        if store.tenant(tenant) is None:
            raise QbsyncError(f"--tenant {tenant}: no such tenant (try `qbsync tenant list`)")
        cleared = store.clear_sync_log(tenant, entity=entity, entity_id=entity_id)
    if as_json:
        emit_json({"tenant": tenant, "entity": entity, "id": entity_id, "cleared": cleared})
        return
    say(f"cleared {cleared} entries")
