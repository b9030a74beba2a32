"""``qbsync console``: serve the support console; its staff users and setup links.

``qbsync console`` alone serves it (``QBSYNC_CONSOLE_*``, docs/console.md); ``qbsync run``
starts it too. Registered in :mod:`qbsync.cli` as ``app.add_typer(console_app, ...)``.
"""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.errors import QbsyncError
from core.settings import Settings
from qbsync._cli_shell import command_group

__all__ = ["console_app"]

console_app = typer.Typer(
    help="The support console: pages for support staff and for bookkeepers.",
    rich_markup_mode=None,
)
user_app = command_group("Staff users of the console.")
console_app.add_typer(user_app, name="user")
err = Console(stderr=True)

HostOption = Annotated[str | None, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]


@console_app.callback(invoke_without_command=True)
def console(ctx: typer.Context, host: HostOption = None, port: PortOption = None) -> None:
    """Serve the console until SIGTERM (pages under QBSYNC_CONSOLE_PATH_PREFIX)."""
    if ctx.invoked_subcommand is not None:
        return
    from qbsync.console import serve_console
    from qbsync.runtime import migrate_local_store

    settings = Settings()
    if host is not None:
        settings.console.host = host
    if port is not None:
        settings.console.port = port
    migrate_local_store(settings)
    serve_console(settings)


@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="The person's user name.")],
    role: Annotated[str, typer.Option(help="viewer (read) or operator (replay, match, reset).")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Add a staff user.

    Without --password-stdin a password is made and shown once.
    """
    from connectors.qbwc import generate_password
    from connectors.store import STAFF_ROLES, ConsoleStore
    from qbsync.console._auth import create_user
    from qbsync.runtime import open_cli_store

    if role not in STAFF_ROLES:
        raise QbsyncError(f"--role {role!r}: use one of {', '.join(STAFF_ROLES)}")
    password = sys.stdin.readline().rstrip("\n") if password_stdin else generate_password()
    with open_cli_store() as store:
        try:
            create_user(ConsoleStore(store), username, password, role)
        except ValueError as exc:
            raise QbsyncError(f"--password-stdin: {exc}") from None
        ConsoleStore(store).audit("cli", "user.add", username, {"role": role})
    if as_json:
        shown = {} if password_stdin else {"password": password}
        sys.stdout.write(json.dumps({"username": username, "role": role, **shown}) + "\n")
        return
    err.print(f"console user {username} ({role}) added")
    if not password_stdin:
        err.print(f"  password (shown only this once): {password}")


@user_app.command("list")
def user_list() -> None:
    """The staff users and their roles (never a password)."""
    from connectors.store import ConsoleStore
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        users = ConsoleStore(store).users()
    table = Table("user", "role", "enabled", "last sign-in")
    for user in users:
        seen = user.last_login_at.isoformat()[:19] if user.last_login_at else "never"
        table.add_row(user.username, user.role, str(user.enabled), seen)
    Console().print(table)


@user_app.command("disable")
def user_disable(username: Annotated[str, typer.Argument(help="The user name.")]) -> None:
    """Stop a user from signing in.

    Their open sessions end at their next request.
    """
    from connectors.store import ConsoleStore
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        ConsoleStore(store).update_user(username, enabled=False)
        ConsoleStore(store).audit("cli", "user.disable", username, {})
    err.print(f"console user {username} disabled")


@console_app.command("setup-link")
def setup_link(
    profile: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A one-time link to a file's setup page.

    For its bookkeeper; shown once.
    """
    from connectors.qbwc import find_profile
    from connectors.store import ConsoleStore
    from qbsync.console._auth import new_secret
    from qbsync.runtime import open_cli_store

    settings = Settings()
    base = settings.console.public_url.rstrip("/") or (
        f"http://{settings.console.host}:{settings.console.port}{settings.console.path_prefix}"
    )
    token = new_secret()
    with open_cli_store(settings) as store:
        found = find_profile(store, profile)
        pages = ConsoleStore(store)
        link = pages.add_setup_link(
            token,
            profile_id=found.id,
            created_by="cli",
            ttl=timedelta(seconds=settings.console.setup_link_ttl_s),
        )
        pages.audit("cli", "setup-link", found.id, {})
    url = f"{base}/setup/{token}"
    if as_json:
        payload = {"profile_id": found.id, "url": url, "expires_at": link.expires_at.isoformat()}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    err.print(
        f"setup link for {found.name} (works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):"
    )
    err.print(f"  {url}")
