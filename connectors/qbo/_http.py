"""The sender's HTTP endpoint, one WSGI app for what Intuit sends to qbsync:

- ``POST /qbo/webhooks``: Intuit's signed notifications (:func:`webhook_app`: a hint to read);
- ``GET /qbo/callback``: the OAuth redirect after an administrator's "Connect to QuickBooks"
  (``code``, ``state``, ``realmId``): the code is exchanged and the tokens stored encrypted;
- ``GET /healthz``: for ``qbsync run``'s supervisor and the chart's probes.

Why the sender serves the callback (and not the console): the sender already holds what the
exchange needs (the app's client secret and the token keys) and already has an endpoint
Intuit reaches (the webhooks, behind the same TLS terminator and host); the console is off by
default, behind a staff login, and would need the OAuth secrets too. The administrator who
connects is sent back here by Intuit's browser redirect, so the page is plain and says what
happened, never a token.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlunsplit

from connectors.qbo._connections import QboCompany, UnknownConnect
from connectors.qbo._oauth import OAuthFailed, ReconnectNeeded
from connectors.qbo._webhooks import StartResponse, WebhookApp

log = logging.getLogger(__name__)

__all__ = ["CALLBACK_PATH", "HEALTH_PATH", "WEBHOOKS_PATH", "sender_http_app"]

WEBHOOKS_PATH = "/qbo/webhooks"
CALLBACK_PATH = "/qbo/callback"
HEALTH_PATH = "/healthz"

Complete = Callable[[str], QboCompany]


def _page(start_response: StartResponse, status: str, title: str, text: str) -> list[bytes]:
    body = (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p></body></html>"
    ).encode()
    start_response(
        status,
        [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            # The callback URL carries a one-time code: no referrer leaks it onward.
            ("Referrer-Policy", "no-referrer"),
        ],
    )
    return [body]


def _request_url(environ: dict[str, Any]) -> str:
    host = environ.get("HTTP_HOST") or environ.get("SERVER_NAME", "localhost")
    scheme = environ.get("wsgi.url_scheme", "http")
    query = str(environ.get("QUERY_STRING", ""))
    return urlunsplit((str(scheme), str(host), str(environ.get("PATH_INFO", "")), query, ""))


def sender_http_app(
    *, complete: Complete, webhooks: WebhookApp | None
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI app: ``complete`` finishes a connect from the callback's whole URL
    (:meth:`QboConnections.complete_callback` with the app's OAuth client); ``webhooks`` is
    None when no verifier is configured (the path then answers 404)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        method = environ.get("REQUEST_METHOD", "")
        if path == HEALTH_PATH and method in {"GET", "HEAD"}:
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        if path == WEBHOOKS_PATH and webhooks is not None:
            return webhooks(environ, start_response)
        if path == CALLBACK_PATH:
            if method != "GET":
                start_response("405 Method Not Allowed", [("Content-Length", "0")])
                return [b""]
            return _callback(environ, start_response)
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]

    def _callback(environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        try:
            company = complete(_request_url(environ))
        except (UnknownConnect, ReconnectNeeded) as exc:
            log.warning("qbo connect refused", extra={"code": "unknown-connect"})
            return _page(start_response, "400 Bad Request", "Not connected", str(exc))
        except OAuthFailed as exc:
            log.warning("qbo code exchange failed", extra={"code": "oauth-failed"})
            return _page(
                start_response,
                "502 Bad Gateway",
                "Not connected",
                f"{exc}; start again with qbsync qbo connect",
            )
        log.info(
            "qbo company connected",
            extra={"profile": company.profile_id, "realm": company.realm_id},
        )
        return _page(
            start_response,
            "200 OK",
            "Connected to QuickBooks",
            f"QuickBooks Online company {company.realm_id} is connected to qbsync profile "
            f"{company.profile_id}; its queued records are sent now. You can close this page.",
        )

    return app
