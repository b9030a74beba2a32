"""``qbsync tenant create|show|set|import``: a tenant's company file, sync settings, and
read-backs from QuickBooks on request.

Settings are validated by :class:`streams.tenant_settings.TenantSettings` before anything is
written, so a typo never reaches the worker (see ``docs/settings.md``).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from qbsync.errors import QbsyncError
from qbsync.settings import Settings

if TYPE_CHECKING:
    from connectors.store import Store, Tenant

__all__ = ["tenant_app"]

tenant_app = typer.Typer(no_args_is_help=True, help="Tenants and their sync settings.")
err = Console(stderr=True)


@contextmanager
def _store() -> Iterator[Store]:
    """The configured store, migrated, closed after use; qbsync errors exit 1 with the reason."""
    from connectors.store import open_store

    with open_store(Settings().database_url) as store:
        try:
            yield store
        except QbsyncError as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(1) from exc


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
        raise StoreError(f"no tenant {tenant_id!r}")
    return tenant


def _print(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(view, sort_keys=True) + "\n")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Connect a tenant to a company file, with default settings."""
    from connectors.qbwc import find_profile
    from connectors.store import Tenant

    with _store() as store:
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
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A tenant and every setting (defaults included)."""
    with _store() as store:
        view = _view(_tenant(store, tenant_id))
    _print(view, as_json)


@tenant_app.command("set")
def tenant_set(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    assignments: Annotated[
        list[str], typer.Argument(help="key=value ... e.g. upper_case=true entities.payments=false")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Change settings; all pairs are validated together and nothing changes on an error."""
    from streams.tenant_settings import apply_changes

    with _store() as store:
        tenant = _tenant(store, tenant_id)
        changed = apply_changes(tenant.settings or {}, assignments)
        updated = store.update_tenant_settings(
            tenant_id, changed.model_dump(mode="json", exclude_defaults=True)
        )
        view = _view(updated)
    _print(view, as_json)


@tenant_app.command("import")
def tenant_import(
    tenant_id: Annotated[str, typer.Argument(help="The tenant id.")],
    entities: Annotated[
        list[str], typer.Argument(help="What to read back, e.g. account item customer bill")
    ],
) -> None:
    """Read records back from the tenant's QuickBooks at its file's next Web Connector
    session, due or not (what an app's import.sync_requested event does)."""
    from streams.from_quickbooks import ImportRefused, imports_for

    with _store() as store:
        tenant = _tenant(store, tenant_id)
        try:
            imports = imports_for(entities, Settings().gateway.import_entities)
        except ImportRefused as exc:
            err.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from exc
        store.request_import(tenant.profile_id, imports)
    typer.echo(f"requested: {', '.join(imports)} at the next session of {tenant.profile_id}")
