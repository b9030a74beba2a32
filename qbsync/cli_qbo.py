"""``qbsync qbo add|connect|complete|status|send``: QuickBooks Online companies
(``docs/qbo.md``)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from core.errors import ConfigurationError, QbsyncError
from core.settings import Settings
from qbsync._cli_shell import command_group

if TYPE_CHECKING:
    from connectors.qbo import WebhookApp

__all__ = ["qbo_app", "serving_http"]

qbo_app = command_group("QuickBooks Online companies.")


@qbo_app.command("add")
def add(
    name: Annotated[str, typer.Option(help="A name for the company, unique.")],
    tenant: Annotated[list[str], typer.Option(help="A tenant synced to it (repeatable).")],
) -> None:
    """Create a QBO company and its tenants.

    A profile without a Web Connector login.
    """
    from connectors.qbo import create_company
    from qbsync.runtime import open_cli_store

    with open_cli_store() as store:
        typer.echo(create_company(store, name=name, tenants=tenant))


@qbo_app.command("connect")
def connect(profile: Annotated[str, typer.Argument(help="The company's profile id.")]) -> None:
    """Print the URL that connects a company.

    Its administrator grants access there ("Connect to QuickBooks"); Intuit then redirects
    to QBSYNC_QBO_REDIRECT_URI with a code.
    """
    from connectors.qbo import QboConnections, TokenCipher, authorize_url, oauth_app
    from qbsync.runtime import open_cli_store

    settings = Settings()
    app = oauth_app(settings)
    with open_cli_store(settings) as store:
        if store.profile(profile) is None:
            raise QbsyncError(f"no profile {profile!r}: create it with qbsync qbo add")
        state = QboConnections(store.engine, TokenCipher(settings.qbo.token_keys)).begin_connect(
            profile
        )
    typer.echo(authorize_url(app, state))


@qbo_app.command("complete")
def complete(
    callback: Annotated[str, typer.Argument(help="The URL Intuit redirected to.")],
) -> None:
    """Finish a connect.

    Exchanges the callback's code and stores the tokens encrypted.
    """
    import httpx2

    from connectors.qbo import OAuthClient, QboConnections, TokenCipher, oauth_app
    from qbsync.runtime import open_cli_store

    settings = Settings()
    with (
        httpx2.Client(timeout=settings.qbo.timeout_s) as http,
        open_cli_store(settings) as store,
    ):
        company = QboConnections(
            store.engine, TokenCipher(settings.qbo.token_keys)
        ).complete_callback(callback, OAuthClient(oauth_app(settings), http))
    typer.echo(f"profile {company.profile_id} connected to realm {company.realm_id}")


@qbo_app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every QBO company and its connection.

    Realm, connection status, when its access token expires.
    """
    from connectors.qbo import QboConnections, TokenCipher
    from qbsync.runtime import open_cli_store

    settings = Settings()
    with open_cli_store(settings) as store:
        companies = QboConnections(store.engine, TokenCipher(settings.qbo.token_keys)).companies()
    rows = [
        {
            "profile_id": c.profile_id,
            "realm_id": c.realm_id,
            "status": c.status,
            "access_expires_at": c.tokens.access_expires_at.isoformat() if c.tokens else None,
            "refresh_expires_at": c.tokens.refresh_expires_at.isoformat() if c.tokens else None,
            "last_error": c.last_error,
        }
        for c in companies
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(
            f"{row['profile_id']}  realm {row['realm_id'] or '-'}  {row['status']}"
            + (f"  ({row['last_error']})" if row["last_error"] else "")
        )


@qbo_app.command("send")
def send(
    once: Annotated[bool, typer.Option(help="One drain of every company, then exit.")] = False,
    idle_s: Annotated[float, typer.Option(help="Pause when nothing was sent.")] = 1.0,
) -> None:
    """Run the QBO sender until SIGTERM.

    Drains every connected company's command topic and reads its changes back; serves the
    OAuth callback, Intuit's webhooks and /healthz on QBSYNC_QBO_LISTEN if set.
    """
    from connectors.qbo import create_qbo_runtime
    from qbsync.runtime import open_cli_store

    settings = Settings()
    if not settings.kafka.bootstrap_servers:
        raise QbsyncError("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: the sender needs the broker")
    stop = threading.Event()

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        with open_cli_store(settings) as store, ExitStack() as serving:
            runtime = create_qbo_runtime(settings, store)
            serving.callback(runtime.close)
            if settings.qbo.listen:
                port = serving.enter_context(
                    serving_http(
                        runtime.http_app(settings.qbo.webhook_verifier, store),
                        settings.qbo.listen,
                    )
                )
                typer.echo(f"callback, webhooks and /healthz served on port {port}", err=True)
            while not stop.is_set():
                reports = runtime.drain_all()
                if once:
                    typer.echo(json.dumps({p: vars(r) for p, r in reports.items()}))
                    return
                if not any(r.sent or r.dead_lettered for r in reports.values()):
                    stop.wait(idle_s)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def serving_http(app: WebhookApp, listen: str) -> Iterator[int]:
    """Serve ``app`` on ``listen`` (``host:port``, port 0: a free one) in a thread; yields
    the port. Intuit posts and redirects over HTTPS: put a TLS terminator in front."""
    from connectors.qbwc import GatewayServer

    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"QBSYNC_QBO_LISTEN is {listen!r}: give host:port, e.g. 127.0.0.1:8090"
        )
    server = GatewayServer(app, host=host, port=int(port), threads=2)
    thread = threading.Thread(target=server.run, name="qbo-webhooks", daemon=True)
    thread.start()
    try:
        yield server.port
    finally:
        server.stop()
        thread.join(10)
