"""``qbsync profile``: Web Connector profiles, one per QuickBooks company file.

Registered in :mod:`qbsync.cli`. Passwords are shown once, on creation or reset, never again.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from core.errors import ConfigurationError, QbsyncError
from core.settings import Settings
from qbsync._cli_shell import command_group, emit_json, say
from qbsync.cli_tenant import JsonOption, open_configured_store, queued_commands

if TYPE_CHECKING:
    from connectors.store import Profile

__all__ = ["profile_app"]

profile_app = command_group("Web Connector profiles (company files).")

NameArgument = Annotated[str, typer.Argument(help="Profile name, id or user name.")]
QB_TYPES = ("QBFS", "QBPOS")


def _view(profile: Profile) -> dict[str, Any]:
    return {
        "profile_id": profile.id,
        "name": profile.name,
        "username": profile.username,
        "enabled": profile.enabled,
        "company_file": profile.company_file,
        "owner_id": profile.owner_id,
        "file_id": profile.file_id,
        "run_every_minutes": profile.run_every_minutes,
        "created_at": profile.created_at.isoformat(),
        "last_seen_at": profile.last_seen_at.isoformat() if profile.last_seen_at else None,
        "host": profile.host_info,
    }


@profile_app.command("create")
def profile_create(
    name: Annotated[str, typer.Option(help="A name people recognise, e.g. the company.")],
    tenant: Annotated[
        list[str] | None,
        typer.Option(help="A tenant served by this file (repeat; or `qbsync tenant create`)."),
    ] = None,
    company_file: Annotated[str, typer.Option(help="Path of the .qbw file, if fixed.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a profile; its password is shown once."""
    from connectors.qbwc import create_profile

    with open_configured_store() as store:
        created = create_profile(store, name=name, tenants=tenant or [], company_file=company_file)
    payload = {
        "profile_id": created.profile.id,
        "name": created.profile.name,
        "username": created.profile.username,
        "password": created.password,
        "tenants": tenant or [],
        "command_topic": provision_command_topic(created.profile.id),
    }
    if as_json:
        emit_json(payload)
        return
    say(f"profile {name} created; the password is shown only this once:")
    for key, value in payload.items():
        say(f"  {key}: {', '.join(value) if isinstance(value, list) else value}")
    user = created.profile.username
    say(f"next: qbsync sandbox run --username {user} --password ... --until-idle (a sandbox)")
    say(f"  or: qbsync profile qwc {name!r} --output file.qwc (a real QuickBooks: docs/connect.md)")


def provision_command_topic(profile_id: str) -> str:
    """Create the file's command topic now, with its configs: it then exists, settled by the
    broker, long before the file's first command (a topic's first write moments after its
    creation costs the broker seconds; docs/performance.md). Returns its name, or "" when
    no broker answered: the worker creates it when it first meets the file."""
    from confluent_kafka import KafkaException

    from connectors.kafka import ensure_command_topics
    from qbsync._local_run import use_local_broker

    try:
        settings = use_local_broker(Settings(), say)
        ensure_command_topics(settings.kafka.client_config(), settings.topics, [profile_id])
    except (ConfigurationError, KafkaException) as exc:
        say(
            f"the file's command topic was not created now ({exc}); the worker creates it"
            " when the file's first command comes"
        )
        return ""
    return settings.topics.commands(profile_id)


@profile_app.command("list")
def profile_list(as_json: JsonOption = False) -> None:
    """The profiles and their tenants.

    With when each one's Web Connector last called.
    """
    with open_configured_store() as store:
        rows = [
            {**_view(profile), "tenants": [t.id for t in store.tenants(profile.id)]}
            for profile in store.profiles()
        ]
    if as_json:
        emit_json(rows)
        return
    table = Table("name", "profile_id", "username", "enabled", "tenants", "last seen")
    for row in rows:
        table.add_row(
            row["name"],
            row["profile_id"],
            row["username"],
            str(row["enabled"]),
            ", ".join(row["tenants"]),
            row["last_seen_at"] or "never",
        )
    Console().print(table)


@profile_app.command("show")
def profile_show(name: NameArgument, as_json: JsonOption = False) -> None:
    """One profile in full (never its password)."""
    from connectors.qbwc import find_profile

    with open_configured_store() as store:
        profile = find_profile(store, name)
        view = {**_view(profile), "tenants": [t.id for t in store.tenants(profile.id)]}
    if as_json:
        emit_json(view)
        return
    for key, value in view.items():
        Console(highlight=False).print(f"{key}: {value}", markup=False)


@profile_app.command("qwc")
def profile_qwc(
    name: NameArgument,
    url: Annotated[
        str | None,
        typer.Option(
            help="The gateway's public SOAP URL, https://.../qbwc (default:"
            " QBSYNC_GATEWAY_PUBLIC_URL)."
        ),
    ] = None,
    support_url: Annotated[str | None, typer.Option(help="AppSupport page (same host).")] = None,
    schedule_minutes: Annotated[
        int | None,
        typer.Option(
            min=1, help="How often the Web Connector runs, in minutes (kept on the profile)."
        ),
    ] = None,
    qb_type: Annotated[
        str, typer.Option(help="QBFS (QuickBooks Financial Software) or QBPOS (Point of Sale).")
    ] = "QBFS",
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """The .qwc file to add to the Web Connector.

    The password is typed there, never written in the file.
    """
    from connectors.qbwc import QwcError, find_profile, render_qwc

    kind = qb_type.upper()
    if kind not in QB_TYPES:
        raise typer.BadParameter(f"{qb_type!r}: choose QBFS or QBPOS", param_hint="--qb-type")
    address = url or Settings().gateway.public_url
    if not address:
        raise ConfigurationError(
            "no URL for the .qwc: pass --url https://<host>/qbwc or set QBSYNC_GATEWAY_PUBLIC_URL"
        )
    with open_configured_store() as store:
        profile = find_profile(store, name)
        if schedule_minutes is not None and schedule_minutes != profile.run_every_minutes:
            profile = store.update_profile(profile.id, run_every_minutes=schedule_minutes)
    try:
        text = render_qwc(profile, url=address, support_url=support_url, qb_type=kind)
    except QwcError as exc:
        raise QbsyncError(f"{exc} (--url or QBSYNC_GATEWAY_PUBLIC_URL)") from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        say(f"wrote {output}: add it in the Web Connector (Add an application); docs/connect.md")


@profile_app.command("reset-password")
def profile_reset_password(name: NameArgument, as_json: JsonOption = False) -> None:
    """A new password, shown once.

    The old one stops working at once.
    """
    from connectors.qbwc import reset_password

    with open_configured_store() as store:
        created = reset_password(store, name)
    if as_json:
        payload = {"profile_id": created.profile.id, "username": created.profile.username}
        emit_json({**payload, "password": created.password})
        return
    say(f"new password for {created.profile.name} (shown only this once):")
    say(f"  username: {created.profile.username}\n  password: {created.password}")


def _set_enabled(name: str, *, enabled: bool, as_json: bool) -> None:
    from connectors.qbwc import set_enabled

    with open_configured_store() as store:
        profile = set_enabled(store, name, enabled=enabled)
    if as_json:
        emit_json({"profile_id": profile.id, "name": profile.name, "enabled": profile.enabled})
    elif enabled:
        say(f"profile {profile.name} enabled")
    else:
        say(f"profile {profile.name} disabled; commands keep queueing")


@profile_app.command("disable")
def profile_disable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Stop syncing this file.

    The Web Connector is told there is no work; commands keep queueing.
    """
    _set_enabled(name, enabled=False, as_json=as_json)


@profile_app.command("enable")
def profile_enable(name: NameArgument, as_json: JsonOption = False) -> None:
    """Resume syncing this file from where it stopped."""
    _set_enabled(name, enabled=True, as_json=as_json)


@profile_app.command("remove")
def profile_remove(
    name: NameArgument,
    force: Annotated[
        bool,
        typer.Option("--force", help="Remove even with commands queued (they are never sent)."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Forget a profile and its tenants.

    Here only (mappings, sync log, imports): nothing is deleted in QuickBooks. Refused
    while commands wait for the file, unless --force.
    """
    from connectors.qbwc import find_profile

    with open_configured_store() as store:
        profile = find_profile(store, name)
        tenants = [t.id for t in store.tenants(profile.id)]
        queued = None if force else queued_commands(profile.id)
        removed = store.remove_profile(profile.id)
    report = {
        "profile_id": profile.id,
        "name": profile.name,
        "tenants_removed": tenants,
        "rows_removed": removed,
        "queued_commands": queued,
        "forced": force,
    }
    if as_json:
        emit_json(report)
        return
    say(
        f"removed profile {profile.name} ({profile.id}) and {len(tenants)} tenant(s);"
        " nothing was deleted in QuickBooks. Remove its application from the Web Connector."
    )
