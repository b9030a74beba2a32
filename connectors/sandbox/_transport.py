"""The wire between the simulated Web Connector and a gateway: SOAP 1.1 over HTTP.

:class:`Transport` is the seam: tests pass a fake that answers the SOAP calls in-process;
:class:`HttpTransport` speaks real HTTP to any gateway URL, as QBWC does.
"""

from __future__ import annotations

import http.client
import threading
from typing import Protocol
from urllib.parse import urlsplit

from lxml import etree

from connectors.qbxml import UnsafeXml, parse_xml
from connectors.sandbox._errors import SandboxError

__all__ = [
    "INTUIT_NS",
    "SOAP_NS",
    "HttpTransport",
    "SoapFault",
    "Transport",
    "soap_request",
    "soap_result",
]

INTUIT_NS = "http://developer.intuit.com/"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


class SoapFault(SandboxError):
    """The server answered with a SOAP fault (or not with SOAP at all)."""


class Transport(Protocol):
    """The seam between the Web Connector and the network; tests may pass their own."""

    def post(self, body: bytes, soap_action: str) -> bytes: ...

    def close(self) -> None: ...


def soap_request(operation: str, params: dict[str, str]) -> bytes:
    """A document/literal SOAP 1.1 call, as QBWC writes it."""
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    op = etree.SubElement(body, f"{{{INTUIT_NS}}}{operation}", nsmap={None: INTUIT_NS})
    for name, value in params.items():
        etree.SubElement(op, f"{{{INTUIT_NS}}}{name}").text = value
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def soap_result(raw: bytes, operation: str) -> etree._Element:
    """The ``<operation>Result`` element of an answer; :class:`SoapFault` otherwise."""
    try:
        root = parse_xml(raw)
    except UnsafeXml as exc:
        raise SoapFault(f"the answer to {operation} is not XML: {exc}") from exc
    fault = root.find(f".//{{{SOAP_NS}}}Fault")
    if fault is not None:
        raise SoapFault(fault.findtext("faultstring") or "SOAP fault")
    result = root.find(f".//{{{INTUIT_NS}}}{operation}Result")
    if result is None:
        raise SoapFault(f"no {operation}Result in the answer")
    return result


class HttpTransport:
    """SOAP 1.1 over one persistent HTTP connection."""

    def __init__(self, url: str, *, timeout: float = 30.0, user_agent: str = "") -> None:
        """``user_agent``: sent with every call when given (QBWC sends its own; the gateway
        tells Web Connectors apart by address and agent)."""
        parts = urlsplit(url)
        self._user_agent = user_agent
        self._path = parts.path or "/"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        self._https = parts.scheme == "https"
        self._timeout = timeout
        self._connection: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            self._connection = cls(self._host, self._port, timeout=self._timeout)
        return self._connection

    def post(self, body: bytes, soap_action: str) -> bytes:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{soap_action}"',
        }
        if self._user_agent:
            headers["User-Agent"] = self._user_agent
        with self._lock:
            for attempt in (1, 2):
                connection = self._connect()
                try:
                    connection.request("POST", self._path, body, headers)
                    response = connection.getresponse()
                    data = response.read()
                except (http.client.HTTPException, ConnectionError):
                    # A keep-alive connection the server closed: reconnect once.
                    self._drop()
                    if attempt == 2:
                        raise
                    continue
                if response.status >= 500 and b"Fault" not in data:
                    raise SoapFault(f"HTTP {response.status} from the gateway")
                return data
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def close(self) -> None:
        with self._lock:
            self._drop()
