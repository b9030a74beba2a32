"""``qbsync tenant create|list|show|set|import|import-status|remove``: a tenant's company
file, sync settings, and read-backs from QuickBooks on request (and how they stand).

Settings are validated by :class:`streams.tenant_settings.TenantSettings` before anything is
written, so a typo never reaches the worker (see ``docs/settings.md``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ConfigurationError, WorkFailed
from core.settings import Settings
from qbsync._cli_shell import command_group, emit_json, say
from qbsync._local_run import use_local_broker

if TYPE_CHECKING:
    from connectors.store import Store, Tenant

__all__ = ["JsonOption", "open_configured_store", "queued_commands", "tenant_app"]

tenant_app = command_group("Tenants and their sync settings.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")]


@contextmanager
def open_configured_store() -> Iterator[Store]:
    """The configured store, migrated, closed after use."""
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        yield store


def queued_commands(profile_id: str) -> int:
    """0, or an error: commands wait for this company file (or nobody can tell)."""
    from connectors.kafka import CommandQueue

    try:
        settings = use_local_broker(Settings(), say)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"cannot tell whether commands wait for file {profile_id}: {exc}; or pass --force"
        ) from None
    commands = CommandQueue(
        settings.kafka.client_config(),
        group_id="qbsync-gateway",
        topic_for=settings.topics.commands,
        exact_watermarks=False,  # "at least this many" is all a refusal needs
        consumers=1,
    )
    try:
        waiting = commands.pending(profile_id)
    finally:
        commands.close()
    if waiting:
        raise WorkFailed(
            f"{waiting} command(s) wait for company file {profile_id}: let its Web Connector"
            " run first, or pass --force (they would never reach QuickBooks)"
        )
    return 0


def _view(tenant: Tenant) -> dict[str, Any]:
    from streams.tenant_settings import load_settings

    return {
        "id": tenant.id,
        "name": tenant.name,
        "profile_id": tenant.profile_id,
        "settings": load_settings(tenant.settings).model_dump(mode="json"),
    }


def _tenant(store: Store, tenant_id: str) -> Tenant:
    from connectors.store import StoreError

    tenant = store.tenant(tenant_id)
    if tenant is None:
        raise StoreError(f"no tenant {tenant_id!r} (try `qbsync tenant list`)")
    return tenant


def _print(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(view)
        return
    out = Console()
    for key in ("id", "name", "profile_id"):
        out.print(f"{key}: {view[key]}")
    for key, value in view["settings"].items():
        out.print(f"{key}: {json.dumps(value)}")


@tenant_app.command("create")
def tenant_create(
    tenant_id: Annotated[str, typer.Option("--id", help="The source app's tenant id.")],
    profile: Annotated[str, typer.Option(help="The company file: profile name or id.")],
    name: Annotated[str | None, typer.Option(help="A name people recognise.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Connect a tenant to a company file, with default settings."""
    from connectors.qbwc import find_profile
    from connectors.store import Tenant

    with open_configured_store() as store:
        found = find_profile(store, profile)
        tenant = store.add_tenant(
            Tenant(
                id=tenant_id,
                name=name or tenant_id,
                profile_id=found.id,
                settings={},
                created_at=datetime.now(UTC),
            )
        )
        view = _view(tenant)
    _print(view, as_json)


@tenant_app.command("show")
def tenant_show(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    as_json: JsonOption = False,
) -> None:
    """A tenant and every setting (defaults included)."""
    with open_configured_store() as store:
        view = _view(_tenant(store, tenant_id))
    _print(view, as_json)


@tenant_app.command("set")
def tenant_set(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    assignments: Annotated[
        list[str], typer.Argument(help="key=value ... e.g. upper_case=true entities.payments=false")
    ],
    as_json: JsonOption = False,
) -> None:
    """Change settings.

    All pairs are validated together; nothing changes on an error.
    """
    from streams.tenant_settings import apply_changes

    with open_configured_store() as store:
        tenant = _tenant(store, tenant_id)
        changed = apply_changes(tenant.settings or {}, assignments)
        updated = store.update_tenant_settings(
            tenant_id, changed.model_dump(mode="json", exclude_defaults=True)
        )
        view = _view(updated)
    _print(view, as_json)


@tenant_app.command("list")
def tenant_list(
    profile: Annotated[str | None, typer.Option(help="Only this company file's tenants.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The tenants and the company file each syncs with."""
    from connectors.qbwc import find_profile

    with open_configured_store() as store:
        profile_id = find_profile(store, profile).id if profile else None
        names = {p.id: p.name for p in store.profiles()}
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "profile_id": t.profile_id,
                "profile": names.get(t.profile_id, ""),
            }
            for t in store.tenants(profile_id)
        ]
    if as_json:
        emit_json(rows)
        return
    table = Table("id", "name", "profile", "profile_id", title=f"{len(rows)} tenants")
    for row in rows:
        table.add_row(row["id"], row["name"], row["profile"], row["profile_id"])
    Console().print(table)


@tenant_app.command("import")
def tenant_import(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    entities: Annotated[
        list[str], typer.Argument(help="What to read back, e.g. account item customer bill")
    ],
    everything: Annotated[
        bool,
        typer.Option(
            "--everything",
            help="Every record, whatever its age (get all); needs `qbsync map done` first.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Read records back from the tenant's QuickBooks.

    At its file's next Web Connector session, due or not (what an app's
    import.sync_requested event does).
    """
    from qbsync.mappings import imports_of, require_confirmed

    with open_configured_store() as store:
        tenant = _tenant(store, tenant_id)
        imports = imports_of(store, Settings(), tenant_id, entities)
        if everything:
            require_confirmed(store, tenant.profile_id, imports)
        store.request_import(
            tenant.profile_id, imports, full_read="deliver" if everything else None
        )
    if as_json:
        emit_json(
            {
                "tenant": tenant_id,
                "profile_id": tenant.profile_id,
                "requested": imports,
                "everything": everything,
            }
        )
        return
    what = "every record of" if everything else "changes of"
    say(f"requested: {what} {', '.join(imports)} at the next session of {tenant.profile_id}")


@tenant_app.command("import-status")
def tenant_import_status(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    as_json: JsonOption = False,
) -> None:
    """How the reads from the tenant's QuickBooks stand.

    Per entity: when last read, since when changes are read, records read, what is asked
    (`tenant import`, `map refresh`, an app's request, a webhook), and how far a long read
    under way got (records read, what QuickBooks says is left).
    """
    from qbsync.mappings import import_rows, under_way

    with open_configured_store() as store:
        tenant = _tenant(store, tenant_id)
        rows = import_rows(store.watermarks(tenant.profile_id))
    if as_json:
        emit_json({"tenant": tenant_id, "profile_id": tenant.profile_id, "imports": rows})
        return
    table = Table(
        "entity",
        "last completed",
        "changes since",
        "records",
        "asked",
        "under way",
        title=f"reads from {tenant.profile_id}",
    )
    for row in rows:
        table.add_row(
            row["entity"],
            row["last_completed"] or "never",
            row["changes_since"] or "",
            f"{row['records']:,}",
            row["asked"] or "",
            under_way(row),
        )
    Console().print(table)


@tenant_app.command("remove")
def tenant_remove(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Remove even with commands queued for its file (never sent then)."
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Forget a tenant.

    Here only (its settings, mappings and sync log): nothing is deleted in QuickBooks.
    Refused while commands wait for its company file, unless --force.
    """
    with open_configured_store() as store:
        tenant = _tenant(store, tenant_id)
        queued = None if force else queued_commands(tenant.profile_id)
        removed = store.remove_tenant(tenant_id)
    report = {
        "tenant": tenant_id,
        "profile_id": tenant.profile_id,
        "rows_removed": removed,
        "queued_commands": queued,
        "forced": force,
    }
    if as_json:
        emit_json(report)
        return
    say(f"removed tenant {tenant_id} ({removed} rows); nothing was deleted in QuickBooks")
