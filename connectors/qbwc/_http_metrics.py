"""HTTP responses of the gateway by status class and route, around the whole WSGI app
(SOAP faults are HTTP 500s, refusals 4xx): what the gateway 5xx alert reads. Routes are a
fixed set, never a raw path."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from prometheus_client import CollectorRegistry, Counter

from connectors.qbwc._wsgi import StartResponse, WsgiApp

__all__ = ["ROUTES", "count_responses"]

ROUTES: Final = {
    "/qbwc": "qbwc",
    "/support": "support",
    "/metrics": "metrics",
    "/healthz": "health",
    "/readyz": "health",
}


def count_responses(app: WsgiApp, registry: CollectorRegistry) -> WsgiApp:
    responses = Counter(
        "qbsync_gateway_http_responses_total",
        "HTTP responses by status class (2xx, 4xx, 5xx ...) and route.",
        ["status_class", "route"],
        registry=registry,
    )
    for route in sorted(set(ROUTES.values()) | {"other"}):
        for status_class in ("2xx", "4xx", "5xx"):
            responses.labels(status_class, route)  # present at 0 from the start

    def counted(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        route = ROUTES.get(environ.get("PATH_INFO", "").rstrip("/") or "/", "other")

        def recording(status: str, headers: Any, *args: Any) -> Any:
            responses.labels(f"{status[:1]}xx", route).inc()
            return start_response(status, headers, *args)

        return app(environ, recording)

    return counted
