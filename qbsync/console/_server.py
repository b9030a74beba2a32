"""Serving the console: under its path prefix, with ``/healthz`` at the root for probes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from core.settings import Settings

__all__ = ["prefixed", "serve_console"]

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def prefixed(app: WsgiApp, prefix: str) -> WsgiApp:
    """``app`` mounted at ``prefix`` (``/console``): it sees ``SCRIPT_NAME`` set, so every
    link and cookie it makes carries the prefix; other paths are 404 but ``/healthz``."""
    prefix = prefix.rstrip("/")

    def mounted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok\n"]
        if prefix and path != prefix and not path.startswith(prefix + "/"):
            if path in ("", "/"):
                start_response("302 Found", [("Location", prefix + "/")])
                return [b""]
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found\n"]
        environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
        environ["PATH_INFO"] = path[len(prefix) :] or "/"
        return app(environ, start_response)

    return mounted


def serve_console(settings: Settings) -> None:
    """Serve until SIGTERM or SIGINT (the gateway's waitress loop)."""
    from connectors.qbwc import serve
    from qbsync.console._app import create_console

    console = create_console(settings)
    try:
        serve(
            prefixed(console.app, settings.console.path_prefix),
            host=settings.console.host,
            port=settings.console.port,
            threads=settings.console.threads,
            name="console",
        )
    finally:
        console.close()
