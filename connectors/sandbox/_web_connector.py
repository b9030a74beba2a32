"""A Web Connector that runs on this machine: it speaks SOAP over HTTP to a gateway exactly
in the order Intuit's QBWC does, and runs the requests against a :class:`CompanyFile`.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox._company import CompanyFile

__all__ = ["HttpTransport", "SandboxWebConnector", "SessionReport", "SoapFault", "Transport"]

_NS = "http://developer.intuit.com/"
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_CLIENT_VERSION = "2.3.0.215"
_HCP_TEMPLATE = """<?xml version="1.0" ?>
<QBXML><QBXMLMsgsRs><HostQueryRs requestID="0" statusCode="0" statusSeverity="Info"
statusMessage="Status OK"><HostRet><ProductName>QuickBooks Enterprise Solutions 24.0 (sandbox)
</ProductName><MajorVersion>34</MajorVersion><MinorVersion>0</MinorVersion><Country>US</Country>
{versions}<IsAutomaticLogin>false</IsAutomaticLogin><QBFileMode>SingleUser</QBFileMode>
</HostRet></HostQueryRs><CompanyQueryRs requestID="1" statusCode="0" statusSeverity="Info"
statusMessage="Status OK"><CompanyRet><IsSampleCompany>false</IsSampleCompany>
<CompanyName>{company}</CompanyName></CompanyRet></CompanyQueryRs></QBXMLMsgsRs></QBXML>"""


class SoapFault(Exception):
    """The server answered with a SOAP fault (or not with SOAP at all)."""


class Transport(Protocol):
    """The seam between the Web Connector and the network; tests may pass their own."""

    def post(self, body: bytes, soap_action: str) -> bytes: ...

    def close(self) -> None: ...


class HttpTransport:
    """SOAP 1.1 over one persistent HTTP connection."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
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
        with self._lock:
            for attempt in (1, 2):
                connection = self._connect()
                try:
                    connection.request("POST", self._path, body, headers)
                    response = connection.getresponse()
                    data = response.read()
                except (http.client.HTTPException, ConnectionError):
                    # A keep-alive connection the server closed: reconnect once.
                    self.close()
                    if attempt == 2:
                        raise
                    continue
                if response.status >= 500 and b"Fault" not in data:
                    raise SoapFault(f"HTTP {response.status} from the gateway")
                return data
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


@dataclass
class SessionReport:
    """What one Web Connector run did, as its log would show."""

    authenticate: str = ""
    requests: int = 0
    messages: int = 0
    last_progress: int = 0
    errors: list[str] = field(default_factory=list)
    closing_message: str = ""


class SandboxWebConnector:
    """One Web Connector entry (one .qwc): a user name, a password and a company file."""

    def __init__(
        self,
        transport: Transport,
        *,
        username: str,
        password: str,
        company: CompanyFile,
        qbxml_versions: tuple[str, ...] = ("13.0",),
    ) -> None:
        self._transport = transport
        self._username = username
        self._password = password
        self.company = company
        self._versions = qbxml_versions

    def close(self) -> None:
        self._transport.close()

    def call(self, operation: str, **params: str) -> etree._Element:
        """One SOAP call; returns the ``<operation>Result`` element."""
        envelope = etree.Element(f"{{{_SOAP}}}Envelope", nsmap={"soap": _SOAP})
        body = etree.SubElement(envelope, f"{{{_SOAP}}}Body")
        op = etree.SubElement(body, f"{{{_NS}}}{operation}", nsmap={None: _NS})
        for name, value in params.items():
            etree.SubElement(op, f"{{{_NS}}}{name}").text = value
        raw = self._transport.post(
            etree.tostring(envelope, xml_declaration=True, encoding="utf-8"), _NS + operation
        )
        root = parse_xml(raw)
        fault = root.find(f".//{{{_SOAP}}}Fault")
        if fault is not None:
            raise SoapFault(fault.findtext("faultstring") or "SOAP fault")
        result = root.find(f".//{{{_NS}}}{operation}Result")
        if result is None:
            raise SoapFault(f"no {operation}Result in the answer")
        return result

    def run_once(self) -> SessionReport:
        """One scheduled update, as QBWC does it, until the server says it is done."""
        report = SessionReport()
        self.call("serverVersion")
        version = self.call("clientVersion", strVersion=_CLIENT_VERSION).text or ""
        if version.startswith("E:"):
            report.errors.append(version)
            return report
        auth = [
            e.text or ""
            for e in self.call(
                "authenticate", strUserName=self._username, strPassword=self._password
            )
        ]
        ticket, status = ([*auth, "", ""])[:2]
        report.authenticate = status
        if status in {"nvu", "none", "busy"}:
            return report
        first = True
        while True:
            hcp = ""
            if first:
                versions = "".join(
                    f"<SupportedQBXMLVersion>{v}</SupportedQBXMLVersion>" for v in self._versions
                )
                hcp = _HCP_TEMPLATE.format(versions=versions, company=self.company.company_name)
            major, minor = self._versions[-1].split(".")
            request = (
                self.call(
                    "sendRequestXML",
                    ticket=ticket,
                    strHCPResponse=hcp,
                    strCompanyFileName=str(self.company.path),
                    qbXMLCountry="US",
                    qbXMLMajorVers=major,
                    qbXMLMinorVers=minor,
                ).text
                or ""
            )
            first = False
            if not request or request == "NoOp":
                report.errors.append(self.call("getLastError", ticket=ticket).text or "")
                break
            report.messages += 1
            report.requests += request.count('requestID="')
            response, hresult, message = self.company.process(request)
            progress = int(
                self.call(
                    "receiveResponseXML",
                    ticket=ticket,
                    response=response,
                    hresult=hresult,
                    message=message,
                ).text
                or "-1"
            )
            report.last_progress = progress
            if progress < 0:
                report.errors.append(self.call("getLastError", ticket=ticket).text or "")
                break
            if progress >= 100:
                break
        report.closing_message = self.call("closeConnection", ticket=ticket).text or ""
        return report
