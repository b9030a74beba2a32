"""qbsync: the one command line for operators, support and developers.

Exit codes: 0 done, 1 the work failed, 2 usage or configuration (see docs/cli.md).
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import threading
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core import __version__
from core.errors import ConfigurationError
from core.settings import Settings
from qbsync._cli_shell import DEBUG_KEY, QbsyncGroup, command_group, emit_json, say
from qbsync.cli_console import console_app
from qbsync.cli_contracts import publish, schemas_app
from qbsync.cli_dlq import dlq_app
from qbsync.cli_feed import feed_app
from qbsync.cli_log import log_app
from qbsync.cli_map import map_app
from qbsync.cli_parked import parked_app
from qbsync.cli_profile import profile_app
from qbsync.cli_qbo import qbo_app
from qbsync.cli_sandbox import sandbox_app
from qbsync.cli_tenant import JsonOption, tenant_app
from qbsync.logs import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    cls=QbsyncGroup,
    no_args_is_help=True,
    help=__doc__,
    rich_markup_mode=None,
    # Locals may hold secrets: a traceback (--debug only) never shows them.
    pretty_exceptions_enable=False,
)
db_app = command_group("The store's schema: upgrade.")
app.add_typer(db_app, name="db")

log = logging.getLogger("qbsync")

# The settings a taken port is fixed with.
_GATEWAY_PORT = "QBSYNC_GATEWAY_PORT or --port"
_WORKER_PORT = "QBSYNC_WORKER_WEB_PORT (0 turns the worker's web server off)"

HostOption = Annotated[str | None, typer.Option("--host", help="Interface to listen on.")]
PortOption = Annotated[int | None, typer.Option("--port", help="Port to listen on.")]


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = Settings()
    if host is not None:
        settings.gateway.host = host
    if port is not None:
        settings.gateway.port = port
    return settings


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"qbsync {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[
        str, typer.Option(envvar="QBSYNC_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "INFO",
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    log_format: Annotated[
        str, typer.Option(envvar="QBSYNC_LOG_FORMAT", help="text or json (one object a line).")
    ] = "text",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    ctx.meta[DEBUG_KEY] = debug
    try:
        configure_logging(log_level.upper(), log_format.lower())
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


@db_app.command("upgrade")
def db_upgrade(as_json: JsonOption = False) -> None:
    """Apply the migrations to the store.

    The store is QBSYNC_DATABASE_URL, or the SQLite file in the data dir. The only command
    that migrates a configured database (the chart runs it as its migration Job).
    """
    from connectors.store import current_revision, head_revision, upgrade

    url = _settings().database_url
    before = current_revision(url)
    upgrade(url)
    after = head_revision()
    if as_json:
        emit_json({"database": "up to date", "from_revision": before, "revision": after})
        return
    if before == after:
        say(f"database is up to date (revision {after})")
    else:
        say(f"database upgraded from revision {before or 'none'} to {after}")


@app.command()
def worker() -> None:
    """Run the stream worker (Faust) until SIGTERM."""
    from connectors.store import check_schema
    from qbsync.runtime import prepare_topics, require_free_port
    from streams import WorkerProcess, create_app

    settings = _settings()
    _require_broker(settings)
    if settings.worker.web_port:
        require_free_port(settings.worker.web_host, settings.worker.web_port, _WORKER_PORT)
    check_schema(settings.database_url)
    started = time.monotonic()
    # The shared topics with their configs; drifted ones set back, logged. The command
    # topics' configs (one per company file: thousands) are checked beside the start.
    prepare_topics(settings, command_topics=False)
    threading.Thread(
        target=_reconcile_command_topics, args=(settings,), name="command-topics", daemon=True
    ).start()
    log.info("topics prepared", extra={"seconds": round(time.monotonic() - started, 3)})
    faust_app = create_app(settings)
    # What start-up made (modules, schemas, the app) lives as long as the process: frozen,
    # full collections no longer walk it again and again at the event stream's pace.
    gc.freeze()
    # Our handler (text or JSON, UTC) stays: Faust would replace it with its own.
    WorkerProcess(
        faust_app, loglevel=logging.getLogger().level, quiet=True, override_logging=False
    ).execute_from_commandline()


def _reconcile_command_topics(settings: Settings) -> None:
    """Set back the command topics' drifted configs (each change logged); a failure is
    logged, not fatal: the next start tries again."""
    from qbsync.runtime import reconcile_command_topics

    started = time.monotonic()
    try:
        # Beside the start, not before it: no hurry, and a loaded broker may be slow.
        changes = reconcile_command_topics(settings, timeout=120)
    except Exception as exc:  # the broker or its ACLs: the worker still serves
        log.warning(
            "command topics' configs not checked; the next start tries again",
            extra={"error": type(exc).__name__},
        )
        return
    log.info(
        "command topics' configs checked",
        extra={"changes": len(changes), "seconds": round(time.monotonic() - started, 3)},
    )


@app.command()
def gateway(host: HostOption = None, port: PortOption = None) -> None:
    """Run the Web Connector gateway: SOAP at /qbwc, WSDL at /qbwc?wsdl."""
    from connectors.qbwc import create_gateway, serve
    from connectors.store import check_schema
    from qbsync.runtime import require_free_port

    settings = _settings(host, port)
    _require_broker(settings)
    if not settings.gateway.reuse_port:  # else shared with the other processes binding it so
        require_free_port(settings.gateway.host, settings.gateway.port, _GATEWAY_PORT)
    check_schema(settings.database_url)
    if settings.gateway.processes > 1:
        from qbsync._gateway_processes import serve_processes

        serve_processes(settings)
        return
    built = create_gateway(settings)
    # As the worker's: what start-up made lives as long as the process. Unfrozen, each full
    # collection walked it (~190,000 objects: ~100 ms with every request thread stopped,
    # twice in a 16-session minute of bench/gateway_peer.py).
    gc.freeze()
    try:
        serve(
            built.wsgi,
            host=settings.gateway.host,
            port=settings.gateway.port,
            threads=settings.gateway.threads,
            connection_limit=settings.gateway.connection_limit,
            reuse_port=settings.gateway.reuse_port,
        )
    finally:
        built.close()


@app.command()
def run(host: HostOption = None, port: PortOption = None) -> None:
    """Run the worker, gateway and console; restart any that exits.

    With no broker configured, a local Apache Kafka too, its data kept in the data dir.
    Other commands started from the same directory (or with the same QBSYNC_DATA_DIR) find
    this run's broker and gateway through <data dir>/run.json. SIGTERM stops all.
    """
    from qbsync._local_run import read_run_file
    from qbsync.runtime import require_free_port, serve

    settings = _settings(host, port)
    other = read_run_file(settings.data_dir)
    if other is not None:
        raise ConfigurationError(
            f"`qbsync run` (pid {other.pid}) already serves data dir {settings.data_dir};"
            " stop it, or give this one its own QBSYNC_DATA_DIR"
        )
    require_free_port(settings.gateway.host, settings.gateway.port, _GATEWAY_PORT)
    if settings.worker.web_port:
        require_free_port(settings.worker.web_host, settings.worker.web_port, _WORKER_PORT)
    if settings.console.enabled:
        require_free_port(settings.console.host, settings.console.port, "QBSYNC_CONSOLE_PORT")
    stop = threading.Event()
    interrupted = threading.Event()

    def on_interrupt(*_: object) -> None:
        interrupted.set()
        stop.set()

    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, on_interrupt)
    serve(settings, stop, say)
    if interrupted.is_set():
        raise typer.Exit(130)  # Ctrl-C: stopped cleanly, reported as interrupted (docs/cli.md)


# In the demo's words below its table, not in the table.
_EXPLAINED = {"dead_letter_list", "topic_prefix", "kept", "companies", "qbo"}


@app.command()
def demo(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON summary on stdout.")
    ] = False,
    customers: Annotated[int, typer.Option(help="Customers per tenant.", min=1)] = 4,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 180.0,
    keep: Annotated[
        bool, typer.Option("--keep", help="Keep the demo's data folder (its path is printed).")
    ] = False,
) -> None:
    """Run the whole pipeline on sandbox company files.

    Reports what happened, in figures and in words.
    """
    from qbsync.demo import explain, run_demo

    summary = run_demo(
        _settings(),
        customers_per_tenant=customers,
        timeout_s=timeout,
        keep=keep,
        console=Console(stderr=True),
        show_progress=True,
    )
    if as_json:
        emit_json(summary)
    else:
        table = Table("what", "value", title="qbsync demo")
        for key, value in summary.items():
            if key in _EXPLAINED:
                continue
            table.add_row(key, json.dumps(value) if isinstance(value, dict) else str(value))
        Console().print(table)
        side = Table("kind", "company", "tenants", "customers", "twice", title="side by side")
        for company in summary["companies"]:
            side.add_row(
                company["kind"],
                company["name"],
                str(company["tenants"]),
                str(company["records"]),
                str(company["duplicates"]),
            )
        Console().print(side)
        typer.echo("\n".join(explain(summary)))
    if not summary["settled"]:
        raise typer.Exit(1)


# Event contracts: `qbsync publish`, `qbsync schemas list|docs|check`.
app.command("publish")(publish)
app.add_typer(schemas_app, name="schemas")
# Support: `qbsync dlq list|show|replay`.
app.add_typer(dlq_app, name="dlq")
app.add_typer(log_app, name="log")
# Web Connector profiles: `qbsync profile create|list|show|qwc|disable|enable|remove` ...
app.add_typer(profile_app, name="profile")
# Tenants and their sync settings: `qbsync tenant create|list|show|set|import|remove`.
app.add_typer(tenant_app, name="tenant")
# Record mappings and matching before a first sync: `qbsync map list|match|unmatch`.
app.add_typer(map_app, name="map")
# The simulated company file and Web Connector: `qbsync sandbox run|show`.
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(console_app, name="console")  # the support console (qbsync/cli_console.py)
# QuickBooks Online companies: `qbsync qbo add|connect|complete|status|send`.
app.add_typer(qbo_app, name="qbo")
app.add_typer(feed_app, name="feed")  # What apps read back: `qbsync feed changes|status`.
app.add_typer(parked_app, name="parked")  # What waits, why, since when: `qbsync parked ...`.


def _require_broker(settings: Settings) -> None:
    if not settings.kafka.bootstrap_servers:
        raise ConfigurationError(
            "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty; set it, or use `qbsync run` which starts"
            " the embedded broker"
        )


def main() -> None:
    """The ``qbsync`` entry point (errors and exit codes: :class:`QbsyncGroup`)."""
    app(prog_name="qbsync")


if __name__ == "__main__":  # pragma: no cover
    main()
