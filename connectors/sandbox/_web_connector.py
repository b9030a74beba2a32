"""A Web Connector that runs on this machine: it speaks SOAP to a gateway in the order
Intuit's QBWC does and runs the requests against a :class:`CompanyFile`.

One session (:meth:`SandboxWebConnector.run_once`), call by call, as QBWC makes them:

1. ``serverVersion``; ``clientVersion`` (``E:`` stops, ``W:``/``O:`` warn and go on);
2. ``authenticate``: ``nvu``, ``none`` and ``busy`` end the session there; a ticket with ``""``
   or a company-file path goes on; the optional third and fourth values (seconds until the
   next update, minimum seconds between updates) are kept for the scheduler;
3. QuickBooks is opened: when it cannot be (the "unavailable" fault), ``connectionError``
   instead of ``sendRequestXML``; ``done`` gives up, another path is tried again;
4. ``sendRequestXML`` (the first carries the company file's real ``strHCPResponse``), the
   company file answers, ``receiveResponseXML``; 0-99 goes on, 100 ends, negative asks
   ``getLastError``. An empty request asks ``getLastError`` too; ``NoOp`` (from either)
   pauses and asks again;
5. ``closeConnection``.

Not QuickBooks' own behaviour but the sandbox's guard: a session that has not ended after
``max_exchanges`` requests (or ``max_session_seconds``) is refused as a runaway: the
simulator stops asking and closes the connection, so a server that never says 100 fails a
test instead of hanging it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from connectors.qbxml import UnsafeXml, parse_xml
from connectors.sandbox._company import CompanyFile
from connectors.sandbox._errors import QuickBooksCrashed
from connectors.sandbox._transport import INTUIT_NS, Transport, soap_request, soap_result

__all__ = ["CLIENT_VERSION", "SandboxWebConnector", "SessionReport"]

CLIENT_VERSION = "2.3.0.215"
_NOOP = "NoOp"


@dataclass
class SessionReport:
    """What one Web Connector run did, as its log would show."""

    authenticate: str = ""
    requests: int = 0
    messages: int = 0
    last_progress: int = 0
    errors: list[str] = field(default_factory=list)
    closing_message: str = ""
    calls: list[str] = field(default_factory=list)
    server_version: str = ""
    warnings: list[str] = field(default_factory=list)
    company_file: str = ""
    next_update_seconds: int | None = None
    min_run_every_seconds: int | None = None
    connection_errors: list[str] = field(default_factory=list)
    noops: int = 0
    crashed: bool = False
    runaway: bool = False

    @property
    def worked(self) -> bool:
        """A session that exchanged data and ended normally."""
        return self.messages > 0 and self.last_progress >= 100 and not self.errors


class SandboxWebConnector:
    """One Web Connector entry (one .qwc): a user name, a password and a company file.

    ``noop_pause`` is QBWC's five-second pause after ``NoOp`` (shorten it in tests);
    ``max_exchanges``/``max_session_seconds`` bound a session (see the module); with
    ``record_dir`` every qbXML request received is written to its own numbered file.
    ``sleep`` and ``clock`` are seams for tests.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        username: str,
        password: str,
        company: CompanyFile,
        qbxml_versions: tuple[str, ...] = ("13.0",),
        client_version: str = CLIENT_VERSION,
        noop_pause: float = 5.0,
        max_exchanges: int = 1000,
        max_session_seconds: float | None = None,
        max_file_attempts: int = 3,
        record_dir: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._transport = transport
        self._username = username
        self._password = password
        self.company = company
        self._versions = qbxml_versions
        self._client_version = client_version
        self._noop_pause = noop_pause
        self._max_exchanges = max_exchanges
        self._max_seconds = max_session_seconds
        self._max_file_attempts = max_file_attempts
        self._record_dir = record_dir
        self._recorded = 0
        self._sleep = sleep
        self._clock = clock
        self._session_lock = threading.Lock()
        self.last_report: SessionReport | None = None
        if record_dir is not None:
            record_dir.mkdir(parents=True, exist_ok=True)
            self._recorded = len(list(record_dir.glob("*.xml")))

    def close(self) -> None:
        self._transport.close()

    def call(self, operation: str, **params: str) -> etree._Element:
        """One SOAP call; returns the ``<operation>Result`` element."""
        raw = self._transport.post(soap_request(operation, params), INTUIT_NS + operation)
        return soap_result(raw, operation)

    def authenticate(self, username: str, password: str) -> str:
        """One ``authenticate`` call by hand (a test stepping through a session): the ticket."""
        return self.call("authenticate", strUserName=username, strPassword=password)[0].text or ""

    def send_request(self, ticket: str, major: str = "13", minor: str = "0") -> str:
        """One ``sendRequestXML`` call by hand, as a US Web Connector of that qbXML version
        makes it: the request, or "" when there is nothing to do."""
        answer = self.call(
            "sendRequestXML",
            ticket=ticket,
            strHCPResponse="",
            strCompanyFileName="",
            qbXMLCountry="US",
            qbXMLMajorVers=major,
            qbXMLMinorVers=minor,
        )
        return answer.text or ""

    def run_once(self) -> SessionReport:
        """One scheduled update, as QBWC does it, until the server says it is done."""
        with self._session_lock:  # one QBWC entry never runs two sessions at once
            report = SessionReport()
            try:
                self._session(report)
            finally:
                self.last_report = report
            return report

    # -- the session ---------------------------------------------------------------------

    def _text(self, report: SessionReport, operation: str, **params: str) -> str:
        report.calls.append(operation)
        return self.call(operation, **params).text or ""

    def _session(self, report: SessionReport) -> None:
        report.server_version = self._text(report, "serverVersion")
        answer = self._text(report, "clientVersion", strVersion=self._client_version)
        if answer.startswith("E:"):
            report.errors.append(answer[2:] or answer)
            return
        if answer.startswith(("W:", "O:")):
            report.warnings.append(answer)
        report.calls.append("authenticate")
        result = self.call("authenticate", strUserName=self._username, strPassword=self._password)
        values = [e.text or "" for e in result if isinstance(e.tag, str)]
        ticket, status = ([*values, "", ""])[:2]
        report.authenticate = status
        report.next_update_seconds = _seconds(values, 2)
        report.min_run_every_seconds = _seconds(values, 3)
        if status in ("nvu", "none", "busy"):
            return
        report.company_file = status
        self.company.begin_session()
        try:
            if not self._open_company(report, ticket):
                return
            if not self._exchange(report, ticket):
                return
            report.closing_message = self._text(report, "closeConnection", ticket=ticket)
        finally:
            self.company.end_session()

    def _open_company(self, report: SessionReport, ticket: str) -> bool:
        """QBWC opens QuickBooks before the first request; when it cannot, it tells the
        server through ``connectionError`` and tries the path it answers, or gives up."""
        for _ in range(self._max_file_attempts):
            failure = self.company.faults.take_unavailable()
            if failure is None:
                return True
            report.connection_errors.append(failure.hresult)
            answer = self._text(
                report,
                "connectionError",
                ticket=ticket,
                hresult=failure.hresult,
                message=failure.message,
            )
            if answer.strip().lower() == "done" or not answer.strip():
                break
            report.company_file = answer
        report.errors.append(f"QuickBooks could not be opened ({report.connection_errors[-1]})")
        report.closing_message = self._text(report, "closeConnection", ticket=ticket)
        return False

    def _exchange(self, report: SessionReport, ticket: str) -> bool:
        """The request/response loop; ``False`` when the session ended without a
        ``closeConnection`` (QuickBooks crashed)."""
        started = self._clock()
        first = True
        exchanges = 0
        major, minor = self._versions[-1].split(".")
        while True:
            if exchanges >= self._max_exchanges or (
                self._max_seconds is not None and self._clock() - started > self._max_seconds
            ):
                report.runaway = True
                report.errors.append(
                    f"runaway session refused: not done after {exchanges} requests"
                )
                return True
            hcp = self.company.host_company_preferences(self._versions) if first else ""
            first = False
            exchanges += 1
            request = self._text(
                report,
                "sendRequestXML",
                ticket=ticket,
                strHCPResponse=hcp,
                strCompanyFileName=report.company_file or str(self.company.path),
                qbXMLCountry="US",
                qbXMLMajorVers=major,
                qbXMLMinorVers=minor,
            )
            if request == _NOOP:
                self._pause(report)
                continue
            if not request:
                error = self._text(report, "getLastError", ticket=ticket)
                if error == _NOOP:
                    self._pause(report)
                    continue
                if error:
                    report.errors.append(error)
                return True
            self._record(request)
            report.messages += 1
            report.requests += _count_requests(request)
            try:
                response, hresult, message = self.company.process(request)
            except QuickBooksCrashed as exc:
                report.crashed = True
                report.errors.append(str(exc))
                return False
            answer = self._text(
                report,
                "receiveResponseXML",
                ticket=ticket,
                response=response,
                hresult=hresult,
                message=message,
            )
            progress = int(answer) if answer.lstrip("-").isdigit() else -1
            report.last_progress = progress
            if progress < 0:
                error = self._text(report, "getLastError", ticket=ticket)
                if error == _NOOP:
                    self._pause(report)
                    continue
                report.errors.append(error)
                return True
            if progress >= 100:
                return True

    def _pause(self, report: SessionReport) -> None:
        report.noops += 1
        self._sleep(self._noop_pause)

    def _record(self, request: str) -> None:
        if self._record_dir is None:
            return
        self._recorded += 1
        (self._record_dir / f"{self._recorded:05d}.xml").write_text(request, encoding="utf-8")


def _seconds(values: list[str], index: int) -> int | None:
    if len(values) <= index:
        return None
    text = values[index].strip()
    return int(text) if text.isdigit() else None


def _count_requests(request: str) -> int:
    try:
        root = parse_xml(request)
    except UnsafeXml:
        return request.count('requestID="')
    messages = root.find("QBXMLMsgsRq")
    return 0 if messages is None else sum(1 for r in messages if isinstance(r.tag, str))
