"""A tiny scripted gateway: answers the Web Connector's SOAP calls in-process.

It is the other end of the :class:`Transport` seam (and, wrapped in :func:`wsgi`, a real HTTP
server for :class:`HttpTransport`). Each test scripts what the gateway answers; the gateway
records every call it received, in order, with its parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from connectors.qbxml import parse_response, parse_xml
from connectors.sandbox._transport import INTUIT_NS, SOAP_NS

__all__ = ["FakeGateway", "wsgi"]

Answer = str | list[str]


@dataclass
class FakeGateway:
    """``requests``: what ``sendRequestXML`` hands out, in order ("" and "NoOp" included;
    "" once exhausted). ``progress``: what ``receiveResponseXML`` answers (default: 100 when
    no request is left, else 50). ``last_errors``: ``getLastError`` answers in order.
    ``idle_when_empty``: ``authenticate`` answers ``none`` once every request is sent."""

    authenticate: list[str] = field(default_factory=lambda: ["ticket-1", ""])
    client_version: str = ""
    requests: list[str] = field(default_factory=list)
    progress: list[int] | None = None
    last_errors: list[str] = field(default_factory=list)
    connection_errors: list[str] = field(default_factory=lambda: ["done"])
    fault_on: str | None = None
    idle_when_empty: bool = False
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    received: list[tuple[str, str, str]] = field(default_factory=list)
    closed: int = 0

    @property
    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def statuses(self) -> list[int]:
        """Status codes of every request answered so far."""
        return [s.status_code for response, _, _ in self.received for s in parse_response(response)]

    # -- the eight operations ------------------------------------------------------------

    def serverVersion(self) -> Answer:  # noqa: N802 - Intuit's names
        return "fake gateway 1.0"

    def clientVersion(self, strVersion: str) -> Answer:  # noqa: N802, N803
        del strVersion
        return self.client_version

    def authenticate_(self, strUserName: str, strPassword: str) -> Answer:  # noqa: N803
        del strUserName, strPassword
        if self.idle_when_empty and not self.requests:
            return [self.authenticate[0], "none"]
        return self.authenticate

    def sendRequestXML(self, **params: str) -> Answer:  # noqa: N802
        del params
        return self.requests.pop(0) if self.requests else ""

    def receiveResponseXML(self, ticket: str, response: str, hresult: str, message: str) -> Answer:  # noqa: N802
        del ticket
        self.received.append((response, hresult, message))
        if self.progress:
            return str(self.progress.pop(0))
        return "100" if not self.requests else "50"

    def getLastError(self, ticket: str) -> Answer:  # noqa: N802
        del ticket
        return self.last_errors.pop(0) if self.last_errors else "No error."

    def connectionError(self, ticket: str, hresult: str, message: str) -> Answer:  # noqa: N802
        del ticket, hresult, message
        return self.connection_errors.pop(0) if self.connection_errors else "done"

    def closeConnection(self, ticket: str) -> Answer:  # noqa: N802
        del ticket
        self.closed += 1
        return "OK, bye."

    # -- the Transport protocol ----------------------------------------------------------

    def post(self, body: bytes, soap_action: str) -> bytes:
        root = parse_xml(body)
        operation = root.find(f"{{{SOAP_NS}}}Body")[0]  # type: ignore[index]
        name = etree.QName(operation).localname
        assert soap_action == INTUIT_NS + name
        params = {etree.QName(p).localname: p.text or "" for p in operation}
        self.calls.append((name, params))
        if name == self.fault_on:
            return _fault("scripted fault")
        handler: Callable[..., Answer] | None = getattr(
            self, "authenticate_" if name == "authenticate" else name, None
        )
        if handler is None:
            return _fault(f"no operation {name}")
        return _envelope(name, handler(**params))

    def close(self) -> None:
        pass


def _envelope(operation: str, answer: Answer) -> bytes:
    envelope = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    body = etree.SubElement(envelope, f"{{{SOAP_NS}}}Body")
    response = etree.SubElement(
        body, f"{{{INTUIT_NS}}}{operation}Response", nsmap={None: INTUIT_NS}
    )
    result = etree.SubElement(response, f"{{{INTUIT_NS}}}{operation}Result")
    if isinstance(answer, list):
        for value in answer:
            etree.SubElement(result, f"{{{INTUIT_NS}}}string").text = value
    else:
        result.text = answer
    return bytes(etree.tostring(envelope, xml_declaration=True, encoding="utf-8"))


def _fault(text: str) -> bytes:
    return (
        f'<soap:Envelope xmlns:soap="{SOAP_NS}"><soap:Body><soap:Fault>'
        f"<faultcode>soap:Server</faultcode><faultstring>{text}</faultstring>"
        "</soap:Fault></soap:Body></soap:Envelope>"
    ).encode()


def wsgi(gateway: FakeGateway) -> Callable[[dict[str, Any], Any], Iterable[bytes]]:
    """The fake gateway as a WSGI app, to serve it over real HTTP."""

    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        action = environ.get("HTTP_SOAPACTION", "").strip('"')
        answer = gateway.post(body, action)
        status = "500 Internal Server Error" if b"Fault" in answer else "200 OK"
        start_response(status, [("Content-Type", "text/xml; charset=utf-8")])
        return [answer]

    return app
