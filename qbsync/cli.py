"""``qbsync``: the one command line for operators, support and developers."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qbsync.cli_contracts import publish, schemas_app
from qbsync.cli_dlq import dlq_app
from qbsync.cli_feed import feed_app
from qbsync.cli_log import log_app
from qbsync.cli_map import map_app
from qbsync.cli_parked import parked_app
from qbsync.cli_sandbox import sandbox_app
from qbsync.cli_tenant import tenant_app
from qbsync.errors import QbsyncError
from qbsync.logs import configure_logging
from qbsync.settings import Settings

if TYPE_CHECKING:
    from connectors.store import Profile, Store

__all__ = ["app", "main"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="The store's schema.")
profile_app = typer.Typer(no_args_is_help=True, help="Web Connector profiles (company files).")
app.add_typer(db_app, name="db")
app.add_typer(profile_app, name="profile")

err = Console(stderr=True)
log = logging.getLogger("qbsync")

HostOption = Annotated[str | None, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = Settings()
    if host is not None:
        settings.gateway.host = host
    if port is not None:
        settings.gateway.port = port
    return settings


@app.callback()
def _root(
    log_level: Annotated[str, typer.Option(envvar="QBSYNC_LOG_LEVEL")] = "INFO",
) -> None:
    configure_logging(log_level.upper())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply the migrations to QBSYNC_DATABASE_URL (or the default SQLite file)."""
    from connectors.store import upgrade

    upgrade(_settings().database_url)
    err.print("database is up to date")


@profile_app.command("create")
def profile_create(
    name: Annotated[str, typer.Option(help="A name people recognise, e.g. the company.")],
    tenant: Annotated[list[str], typer.Option(help="A tenant served by this file (repeat).")],
    company_file: Annotated[str, typer.Option(help="Path of the .qbw file, if fixed.")] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Create a profile; its password is shown once."""
    from connectors.qbwc import create_profile

    with _store() as store:
        created = create_profile(store, name=name, tenants=tenant, company_file=company_file)
    payload = {
        "profile_id": created.profile.id,
        "name": created.profile.name,
        "username": created.profile.username,
        "password": created.password,
        "tenants": tenant,
    }
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    err.print(f"profile [bold]{name}[/] created; the password is shown only this once:")
    for key, value in payload.items():
        err.print(f"  {key}: {value}")


@profile_app.command("list")
def profile_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """The profiles, their tenants and when their Web Connector last called."""
    with _store() as store:
        rows = [
            {**_profile_view(profile), "tenants": [t.id for t in store.tenants(profile.id)]}
            for profile in store.profiles()
        ]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
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
def profile_show(
    name: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """One profile in full (never its password)."""
    from connectors.qbwc import find_profile

    with _store() as store:
        profile = find_profile(store, name)
        view = {**_profile_view(profile), "tenants": [t.id for t in store.tenants(profile.id)]}
    if as_json:
        sys.stdout.write(json.dumps(view) + "\n")
        return
    for key, value in view.items():
        Console().print(f"{key}: {value}")


@profile_app.command("qwc")
def profile_qwc(
    name: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
    url: Annotated[str, typer.Option(help="The gateway's public SOAP URL, https://.../qbwc.")],
    support_url: Annotated[str | None, typer.Option(help="AppSupport page (same host).")] = None,
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """The .qwc file to add to the Web Connector (the password is typed there, not stored)."""
    from connectors.qbwc import QwcError, find_profile, render_qwc

    with _store() as store:
        profile = find_profile(store, name)
    try:
        text = render_qwc(profile, url=url, support_url=support_url)
    except QwcError as exc:
        raise QbsyncError(str(exc)) from None
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        err.print(f"wrote {output}")


@profile_app.command("reset-password")
def profile_reset_password(
    name: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """A new password, shown once; the old one stops working at once."""
    from connectors.qbwc import reset_password

    with _store() as store:
        created = reset_password(store, name)
    if as_json:
        payload = {"profile_id": created.profile.id, "username": created.profile.username}
        sys.stdout.write(json.dumps({**payload, "password": created.password}) + "\n")
        return
    err.print(f"new password for [bold]{created.profile.name}[/] (shown only this once):")
    err.print(f"  username: {created.profile.username}\n  password: {created.password}")


@profile_app.command("disable")
def profile_disable(
    name: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
) -> None:
    """Stop syncing this file: the Web Connector is told there is no work; commands queue."""
    from connectors.qbwc import set_enabled

    with _store() as store:
        profile = set_enabled(store, name, enabled=False)
    err.print(f"profile {profile.name} disabled; commands keep queueing")


@profile_app.command("enable")
def profile_enable(
    name: Annotated[str, typer.Argument(help="Profile name, id or user name.")],
) -> None:
    """Resume syncing this file from where it stopped."""
    from connectors.qbwc import set_enabled

    with _store() as store:
        profile = set_enabled(store, name, enabled=True)
    err.print(f"profile {profile.name} enabled")


def _store() -> AbstractContextManager[Store]:
    """The configured store, migrated, closed after use."""
    from connectors.store import open_store

    return open_store(_settings().database_url)


def _profile_view(profile: Profile) -> dict[str, Any]:
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


@app.command()
def worker() -> None:
    """Run the stream worker (Faust) until SIGTERM."""
    import faust

    from streams import create_app

    settings = _settings()
    _require_broker(settings)
    faust_app = create_app(settings)
    faust.Worker(
        faust_app, loglevel=logging.getLogger().level, quiet=True
    ).execute_from_commandline()


@app.command()
def gateway(host: HostOption = None, port: PortOption = None) -> None:
    """Run the Web Connector gateway: SOAP at /qbwc, WSDL at /qbwc?wsdl."""
    from connectors.qbwc import create_gateway, serve
    from connectors.store import upgrade

    settings = _settings(host, port)
    _require_broker(settings)
    upgrade(settings.database_url)
    built = create_gateway(settings)
    try:
        serve(
            built.wsgi,
            host=settings.gateway.host,
            port=settings.gateway.port,
            threads=settings.gateway.threads,
            connection_limit=settings.gateway.connection_limit,
        )
    finally:
        built.close()


@app.command()
def run(host: HostOption = None, port: PortOption = None) -> None:
    """Run the worker and the gateway (and the embedded broker when none is configured)."""
    from contextlib import ExitStack

    from connectors.kafka.brokers import running_broker
    from connectors.store import upgrade
    from qbsync.runtime import prepare_topics, running_services, use_broker

    settings = _settings(host, port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with ExitStack() as stack:
        if not settings.kafka.bootstrap_servers:
            broker = stack.enter_context(
                running_broker("tansu", data_dir=settings.data_dir / "broker")
            )
            use_broker(settings, broker)
            err.print(f"started the embedded broker: {broker.describe()}")
        upgrade(settings.database_url)
        prepare_topics(settings)
        logs = settings.data_dir / "logs"
        services = stack.enter_context(running_services(settings, logs))
        err.print(
            f"gateway on {services.url}/qbwc; logs in {logs}; Ctrl-C or SIGTERM stops everything"
        )
        while not stop.wait(1.0):
            services.check_alive()


@app.command()
def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary on stdout.")
    ] = False,
    customers: Annotated[int, typer.Option(help="Customers per tenant.", min=1)] = 4,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 180.0,
    keep: Annotated[bool, typer.Option(help="Keep the demo's data folder.")] = False,
) -> None:
    """Run the whole pipeline against sandbox company files and report what happened."""
    from qbsync.demo import run_demo

    summary = run_demo(
        _settings(),
        customers_per_tenant=customers,
        timeout_s=timeout,
        keep=keep,
        console=err,
        show_progress=True,
    )
    if as_json:
        sys.stdout.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        table = Table("what", "value", title="qbsync demo")
        for key, value in summary.items():
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
        Console().print(table)
    if not summary["settled"]:
        raise typer.Exit(1)


# Event contracts: `qbsync publish`, `qbsync schemas list|docs|check`.
app.command("publish")(publish)
app.add_typer(schemas_app, name="schemas")
# Support: `qbsync dlq list|show|replay`.
app.add_typer(dlq_app, name="dlq")
app.add_typer(log_app, name="log")
# Tenants and their sync settings: `qbsync tenant create|show|set`.
app.add_typer(tenant_app, name="tenant")
# Record mappings and matching before a first sync: `qbsync map list|match|unmatch`.
app.add_typer(map_app, name="map")
# The simulated company file and Web Connector: `qbsync sandbox run|show`.
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(feed_app, name="feed")  # What apps read back: `qbsync feed changes|status`.
app.add_typer(parked_app, name="parked")  # What waits, why, since when: `qbsync parked ...`.


def _require_broker(settings: Settings) -> None:
    if not settings.kafka.bootstrap_servers:
        raise QbsyncError(
            "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty; set it, or use `qbsync run` which starts"
            " the embedded broker"
        )


def main() -> None:
    try:
        app()
    except QbsyncError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise SystemExit(2) from None


if __name__ == "__main__":  # pragma: no cover
    main()
