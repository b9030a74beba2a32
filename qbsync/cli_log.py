"""``qbsync log export``: a tenant's sync log, for support and the tenant's accountant."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from core.errors import QbsyncError
from qbsync._cli_shell import command_group, say
from qbsync.sync_log import log_rows, write_csv

__all__ = ["log_app"]

log_app = command_group("The sync log: what reached QuickBooks, when.")


@log_app.command("export")
def export(
    tenant: Annotated[str, typer.Option(help="The tenant whose log to export.")],
    since: Annotated[
        datetime | None, typer.Option(help="ISO date or time (UTC when no zone).")
    ] = None,
    as_csv: Annotated[bool, typer.Option("--csv/--json", help="CSV (default) or JSON.")] = True,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Every settled command of a tenant, oldest first."""
    from qbsync.runtime import open_cli_store

    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    with open_cli_store() as store:
        rows = log_rows(store, tenant, since)
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
