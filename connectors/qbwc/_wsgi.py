"""The gateway's HTTP surface: ``/qbwc`` (SOAP, ``?wsdl``), ``/healthz``, ``/readyz``,
``/metrics``; and the process that serves it (waitress: pure Python, threaded, production
grade, no compiler needed on the Web Connector host's side of the world)."""

from __future__ import annotations

import contextlib
import io
import logging
import signal
import socket
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any
from xml.sax.saxutils import escape

from lxml import etree
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from spyne.server.wsgi import WsgiApplication

from connectors.qbwc._envelope import Refused, screen_root
from connectors.qbwc._log_policy import install_log_policy
from connectors.qbwc._wsdl import WsdlCache
from core.processes import name_this_thread

__all__ = ["GatewayServer", "WsgiApp", "build_wsgi", "serve"]

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
# The lean SOAP path (connectors.qbwc._lean.LeanSoap.answer): (status, body), or None when
# spyne answers the request.
Lean = Callable[[etree._Element, dict[str, Any]], tuple[str, bytes] | None]

_FAULT = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    "<soap:Fault><faultcode>soap:Client</faultcode><faultstring>{}</faultstring>"
    "</soap:Fault></soap:Body></soap:Envelope>"
)


_SUPPORT = (
    b"qbsync QuickBooks Web Connector gateway.\n"
    b"If the Web Connector shows an error, send its log and the error text to your"
    b" integration administrator.\n"
)


def _plain(start_response: StartResponse, status: str, body: bytes, ctype: str) -> list[bytes]:
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _fault(start_response: StartResponse, status: str, reason: str) -> list[bytes]:
    body = _FAULT.format(escape(reason)).encode()
    return _plain(start_response, status, body, "text/xml; charset=utf-8")


def build_wsgi(
    soap: WsgiApplication,
    *,
    ready: Callable[[], bool],
    registry: CollectorRegistry,
    wsdl: WsdlCache,
    public_url: str = "",
    max_body_bytes: int = 8 * 1024 * 1024,
    refused: Callable[[str], None] = lambda _reason: None,
    lean: Lean | None = None,
) -> WsgiApp:
    """Route by path; refuse oversize bodies and DTDs before spyne reads a byte of XML; a
    SOAP call goes to ``lean`` when given (routed by the body's operation element, never by
    SOAPAction, which Web Connectors fill inconsistently), else or when it declines to spyne.

    ``public_url`` is the SOAP endpoint's address as the Web Connector sees it (behind a TLS
    terminator it differs from ours); empty: the request's own host and scheme."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            return _plain(start_response, "200 OK", b"ok\n", "text/plain")
        if path == "/readyz":
            if ready():
                return _plain(start_response, "200 OK", b"ready\n", "text/plain")
            return _plain(start_response, "503 Service Unavailable", b"not ready\n", "text/plain")
        if path == "/support":
            return _plain(start_response, "200 OK", _SUPPORT, "text/plain; charset=utf-8")
        if path == "/metrics":
            body = generate_latest(registry)
            return _plain(start_response, "200 OK", body, CONTENT_TYPE_LATEST)
        if path.rstrip("/") != "/qbwc":
            return _plain(start_response, "404 Not Found", b"not found\n", "text/plain")
        if environ.get("REQUEST_METHOD") == "GET" and environ.get("QUERY_STRING", "").lower() in {
            "wsdl",
            "wsdl=",
        }:
            url = public_url or _own_url(environ)
            return _plain(start_response, "200 OK", wsdl.document(url), "text/xml; charset=utf-8")
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                root = _screened(environ, max_body_bytes)
            except Refused as refusal:
                log.info("request refused", extra={"reason": refusal.code})
                refused(refusal.code)
                return _fault(start_response, refusal.status, refusal.reason)
            answered = lean(root, environ) if lean is not None else None
            if answered is not None:
                status, body = answered
                return _plain(start_response, status, body, "text/xml; charset=utf-8")
            environ = _for_spyne(environ, root)
        return soap(environ, start_response)  # type: ignore[no-any-return]

    return app


def _screened(environ: dict[str, Any], max_body_bytes: int) -> etree._Element:
    """The request's screened envelope (see ``_envelope``)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise Refused("length", "Content-Length is not a number.", "400 Bad Request") from None
    if length > max_body_bytes:
        raise Refused(
            "too-large",
            f"Request too large: {length} bytes, at most {max_body_bytes} are accepted.",
            "413 Request Entity Too Large",
        )
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    return screen_root(body, environ.get("CONTENT_TYPE", ""))


def _for_spyne(environ: dict[str, Any], root: etree._Element) -> dict[str, Any]:
    """``environ`` with the body replaced by the screened envelope as clean UTF-8."""
    clean = bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))
    return {
        **environ,
        "wsgi.input": io.BytesIO(clean),
        "CONTENT_LENGTH": str(len(clean)),
        "CONTENT_TYPE": "text/xml; charset=utf-8",
    }


def _own_url(environ: dict[str, Any]) -> str:
    scheme = environ.get("HTTP_X_FORWARDED_PROTO") or environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST") or f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']}"
    return f"{scheme}://{host}/qbwc"


def _request_threads(threads: int) -> Any:
    """waitress's task dispatcher with ``threads`` request threads, each named
    ``qbsync-req-N`` in the kernel (:func:`core.processes.name_this_thread`): the process's
    CPU by thread (``top -H``, ``bench/gateway_peer.py``) then tells the requests' own work
    from waitress's loop (the main thread), the Kafka clients' threads and qbsync's others.
    Handed to ``create_server`` as its ``_dispatcher``, which waitress then uses as it is
    (its thread count set here); ``tests/connectors/qbwc/test_thread_names.py`` checks
    the names."""
    from waitress.task import ThreadedTaskDispatcher

    class NamedRequestThreads(ThreadedTaskDispatcher):  # type: ignore[misc]
        def start_new_thread(self, target: Callable[[int], None], thread_no: int) -> None:
            def named(number: int) -> None:
                name_this_thread(f"qbsync-req-{number}")
                target(number)

            super().start_new_thread(named, thread_no)

    dispatcher = NamedRequestThreads()
    dispatcher.set_thread_count(threads)
    return dispatcher


class GatewayServer:
    """waitress serving one WSGI app; :meth:`stop` may be called from any thread or from a
    signal handler and returns once the listening socket and every connection are closed."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        host: str,
        port: int,
        threads: int,
        connection_limit: int = 1000,
        reuse_port: bool = False,
    ) -> None:
        from waitress.server import create_server

        # waitress binds host and port itself, or serves a socket bound here with
        # SO_REUSEPORT: several processes then share the port, the kernel handing each new
        # connection to one of them (a Web Connector's keep-alive connection stays put).
        where: dict[str, Any] = (
            {"sockets": [_shared_socket(host, port)]}
            if reuse_port
            else {"host": host, "port": port}
        )
        # waitress' default of 100 open connections stalls a gateway whose Web Connectors
        # keep connections alive (measured in bench/e2e.py with 100 files).
        dispatcher = _request_threads(threads)
        try:
            self._server: Any = create_server(
                app,
                **where,
                threads=threads,
                ident="qbsync",
                connection_limit=connection_limit,
                _dispatcher=dispatcher,
            )
        except BaseException:
            dispatcher.shutdown(cancel_pending=True, timeout=5)
            raise
        self._stopping = threading.Event()
        self._stop_once = threading.Lock()
        install_log_policy()  # waitress' loggers exist now

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    def run(self) -> None:
        """Serve until :meth:`stop` (blocking)."""
        try:
            self._server.run()
        except (OSError, ValueError):
            # select() on a socket that stop() closed from another thread.
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        # Once: Ctrl-C sends SIGINT from the terminal and then SIGTERM from `qbsync run`, and
        # the second handler runs inside the first one's shutdown(), whose lock is not
        # re-entrant (the process hung until SIGKILL). An atomic try-acquire, not a check.
        if not self._stop_once.acquire(blocking=False):
            return
        self._stopping.set()
        channels = list(self._server._map.values())
        # Leave the port first. close() alone does not: while waitress' loop thread sits in
        # select() on the listening socket, Linux keeps it open (and, with SO_REUSEPORT,
        # still handed new connections, reset once select returns). shutdown() takes it out
        # of the listening table at once, so the processes sharing the port get them all.
        # And out of the loop's select first: a listener shut down reads as ready, and until
        # the close below each turn of the loop called accept() on it and logged its
        # EINVAL (100-300 warnings a stop, when the loop turned in between).
        for channel in channels:
            if getattr(channel, "accepting", False):
                channel.accepting = False
                with contextlib.suppress(OSError):
                    channel.socket.shutdown(socket.SHUT_RDWR)
        # Calls in progress finish first, for up to 5 s (their threads write their answers):
        # closed under it, a call's thread failed with OSError ("Exception when servicing")
        # and its Web Connector read a reset instead of the answer to work already done.
        # Requests not yet begun are dropped with their connections below.
        self._server.task_dispatcher.shutdown(timeout=5)
        # Keep-alive connections hold waitress' loop open; close them with the listener.
        for channel in channels:
            channel.close()


def _shared_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host``:``port`` with SO_REUSEPORT (Linux): the port is shared
    with the other processes that bind it so, and refused to any other."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def serve(
    app: WsgiApp,
    *,
    host: str,
    port: int,
    threads: int,
    connection_limit: int = 1000,
    name: str = "gateway",
    reuse_port: bool = False,
) -> None:
    """Serve in this (main) thread until SIGTERM or SIGINT; ``name`` is what the log calls
    the server (the support console is served the same way)."""
    server = GatewayServer(
        app,
        host=host,
        port=port,
        threads=threads,
        connection_limit=connection_limit,
        reuse_port=reuse_port,
    )
    log.info(f"{name} listening", extra={"host": host, "port": server.port})

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        server.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.run()
    log.info(f"{name} stopped")
