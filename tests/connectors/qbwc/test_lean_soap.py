"""The lean SOAP path against spyne: the same requests through both give the same bytes.

Each request goes through two WSGI apps built exactly as the gateway builds them (screening,
routing, metrics), one with the lean path and one spyne only, over the same
:class:`Operations` and a scripted conversation (so the two are fed identical answers). The
requests are Intuit's WSDL shapes filled with the captured QuickBooks documents in
``../shared/qbxml``, as the Web Connector writes them and as other clients do, plus requests
the schema refuses, which the lean path must leave to spyne.
"""

from __future__ import annotations

import http.client
import io
from pathlib import Path
from typing import Any, cast

import pytest
from lxml import etree
from prometheus_client import CollectorRegistry
from spyne.server.wsgi import WsgiApplication

from connectors.qbwc import create_profile
from connectors.qbwc._envelope import screen_root
from connectors.qbwc._lean import OPERATIONS, LeanSoap, read_call, render
from connectors.qbwc._metrics import GatewayMetrics
from connectors.qbwc._soap import NAMESPACE, Operations, soap_application
from connectors.qbwc._wsdl import WsdlCache
from connectors.qbwc._wsgi import WsgiApp, build_wsgi
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, connector, enqueue, results, serving

XS = "http://www.w3.org/2001/XMLSchema"
QBWC_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope'
    ' xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
    ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
    ' xmlns:xsd="http://www.w3.org/2001/XMLSchema"><soap:Body>'
)
QBWC_TAIL = "</soap:Body></soap:Envelope>"
# Answers that need every kind of escaping, and characters outside ASCII.
TRICKY = "a&b <c> \"d\" 'e' ]]> \r\n\tcafé € 😀"


class History:
    def __init__(self, calls: list[tuple[object, ...]], raising: frozenset[str]) -> None:
        self._calls = calls
        self._raising = raising

    def client_version(self, client: str, version: str) -> None:
        self._calls.append(("history.client_version", client, version))
        if "history.client_version" in self._raising:
            raise RuntimeError("history")

    def reported(self, *args: object) -> None:
        self._calls.append(("history.reported", *args))


class Scripted:
    """The conversation's methods, recording their arguments and giving fixed answers (or
    raising, for the operations named in ``raising``)."""

    def __init__(self, raising: frozenset[str] = frozenset()) -> None:
        self.calls: list[tuple[object, ...]] = []
        self.history = History(self.calls, raising)
        self._raising = raising

    def _record(self, name: str, *args: object) -> None:
        self.calls.append((name, *args))
        if name in self._raising:
            raise RuntimeError(name)

    def server_version(self) -> str:
        self._record("server_version")
        return "qbsync 9 " + TRICKY

    def client_version(self, version: str) -> str:
        self._record("client_version", version)
        return "W:" + TRICKY if version else ""

    def authenticate(self, username: str, password: str, client: str) -> list[str]:
        self._record("authenticate", username, password, client)
        return ["ticket-" + username, "C:\\Company Files\\" + TRICKY + ".QBW"]

    def send_request_xml(self, *args: str) -> str:
        self._record("send_request_xml", *args)
        return '<?xml version="1.0"?><?qbxml version="13.0"?><QBXML a="&amp;">' + TRICKY

    def receive_response_xml(self, *args: str) -> int:
        self._record("receive_response_xml", *args)
        return 42 if args[2] == "" else -1

    def connection_error(self, *args: str) -> str:
        self._record("connection_error", *args)
        return "done"

    def get_last_error(self, ticket: str) -> str:
        self._record("get_last_error", ticket)
        return "" if ticket == "t-empty" else TRICKY

    def close_connection(self, ticket: str) -> str:
        self._record("close_connection", ticket)
        return "Synced 3 records; 1 needs attention."

    def failed(self, operation: str, ticket: str, error: Exception) -> None:
        self.calls.append(("failed", operation, ticket, type(error).__name__))


def build(path: str, scripted: Scripted) -> tuple[WsgiApp, CollectorRegistry]:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    operations = Operations(cast(Any, scripted))
    application = soap_application(operations)
    metrics.attach(application)
    lean = LeanSoap(operations, metrics.soap_call).answer if path == "lean" else None
    app = build_wsgi(
        WsgiApplication(application),
        ready=lambda: True,
        registry=registry,
        wsdl=WsdlCache(application, NAMESPACE),
        lean=lean,
    )
    return app, registry


def call(app: WsgiApp, body: bytes, content_type: str) -> tuple[str, list[Any], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[Any], *_: Any) -> None:
        seen["status"], seen["headers"] = status, headers

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/qbwc",
        "QUERY_STRING": "",
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "SERVER_NAME": "gateway",
        "SERVER_PORT": "8080",
        "REMOTE_ADDR": "10.1.2.3",
        "HTTP_USER_AGENT": "QBWebConnector 2.3.0.215",
        "HTTP_SOAPACTION": '"http://developer.intuit.com/x"',
    }
    answer = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], answer


def qbwc(operation: str, **params: str) -> str:
    """A request as the Web Connector writes it: the operation in the default namespace."""
    inner = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in params.items())
    return f'{QBWC_HEAD}<{operation} xmlns="{NAMESPACE}">{inner}</{operation}>{QBWC_TAIL}'


def prefixed(operation: str, inner: str, *, header: str = "") -> str:
    return (
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns:q="{NAMESPACE}">{header}<soapenv:Body><q:{operation}>{inner}'
        f"</q:{operation}></soapenv:Body></soapenv:Envelope>"
    )


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def wsdl_parameters(reference: Path) -> dict[str, list[tuple[str, str]]]:
    """Each request element of Intuit's WSDL: its children's (name, xs type), in order."""
    root = etree.parse(str(reference / "wsdl" / "QBWebConnectorSvc.wsdl")).getroot()
    schema = root.find(f".//{{{XS}}}schema")
    assert schema is not None
    out: dict[str, list[tuple[str, str]]] = {}
    for element in schema.findall(f"{{{XS}}}element"):
        name = element.get("name", "")
        if not name.endswith("Response"):
            out[name] = [
                (child.get("name", ""), child.get("type", "").split(":")[-1])
                for child in element.iter(f"{{{XS}}}element")
                if child is not element
            ]
    return out


def corpus(reference: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (body, Content-Type): every operation in the WSDL's shape with captured
    QuickBooks documents as values, the variants clients send, and schema-invalid ones."""
    samples = reference / "samples"
    hcp = (samples / "strHCPResponse_Host_Company_Preferences.xml").read_text()
    responses = {
        path.stem: path.read_text(errors="replace")
        for path in sorted(samples.glob("*.xml"))
        if path.stem.startswith(("responses-", "qbwc_"))
    }
    cases: dict[str, str] = {
        "serverVersion": qbwc("serverVersion"),
        "clientVersion": qbwc("clientVersion", strVersion="2.3.0.215"),
        "clientVersion-empty": qbwc("clientVersion", strVersion=""),
        "authenticate": qbwc("authenticate", strUserName="acme", strPassword='p&ss<w>"rd'),
        "sendRequestXML-first": qbwc(
            "sendRequestXML",
            ticket="t-1",
            strHCPResponse=hcp,
            strCompanyFileName="C:\\Company Files\\Acme & Sons.QBW",
            qbXMLCountry="US",
            qbXMLMajorVers="13",
            qbXMLMinorVers="0",
        ),
        "sendRequestXML-next": qbwc(
            "sendRequestXML",
            ticket="t-1",
            strHCPResponse="",
            strCompanyFileName="C:\\Company Files\\Acme & Sons.QBW",
            qbXMLCountry="US",
            qbXMLMajorVers="13",
            qbXMLMinorVers="0",
        ),
        "receiveResponseXML-hresult": qbwc(
            "receiveResponseXML",
            ticket="t-1",
            response="",
            hresult="0x80040400",
            message="QuickBooks found an error when parsing the provided XML text stream.",
        ),
        "connectionError": qbwc(
            "connectionError", ticket="t-1", hresult="0x80040408", message="Could not start QB."
        ),
        "getLastError": qbwc("getLastError", ticket="t-1"),
        "getLastError-empty-answer": qbwc("getLastError", ticket="t-empty"),
        "closeConnection": qbwc("closeConnection", ticket="t-1"),
        # Other clients' shapes: prefixed, pretty-printed, CDATA, integers with signs and
        # blanks, parameters left out, an empty Header, CRLF inside a value.
        "prefixed-all-params": prefixed(
            "sendRequestXML",
            "<q:ticket>t-2</q:ticket><q:strHCPResponse><![CDATA[<QBXML>&</QBXML>]]>"
            "</q:strHCPResponse><q:strCompanyFileName/><q:qbXMLCountry>CA</q:qbXMLCountry>"
            "<q:qbXMLMajorVers> +16 </q:qbXMLMajorVers><q:qbXMLMinorVers>-0</q:qbXMLMinorVers>",
        ),
        "pretty-printed": prefixed(
            "authenticate",
            "\n  <q:strUserName>  spaced  </q:strUserName>"
            "\n  <q:strPassword>x\r\ny</q:strPassword>\n",
        ).replace("<soapenv:Body>", "\n <soapenv:Body>\n  "),
        "params-missing": prefixed("sendRequestXML", "<q:ticket>t-3</q:ticket>"),
        "no-params": prefixed("receiveResponseXML", ""),
        "empty-header": prefixed(
            "getLastError", "<q:ticket>t-1</q:ticket>", header="<soapenv:Header/>"
        ),
        # The schema refuses these: spyne answers, with its fault.
        "unknown-param": prefixed("getLastError", "<q:ticket>a</q:ticket><q:extra>1</q:extra>"),
        "repeated-param": prefixed("getLastError", "<q:ticket>a</q:ticket><q:ticket>b</q:ticket>"),
        "out-of-order": prefixed(
            "authenticate", "<q:strPassword>p</q:strPassword><q:strUserName>u</q:strUserName>"
        ),
        "bad-integer": prefixed("sendRequestXML", "<q:qbXMLMajorVers>13.0</q:qbXMLMajorVers>"),
        "integer-overflow": prefixed(
            "sendRequestXML", "<q:qbXMLMajorVers>2147483648</q:qbXMLMajorVers>"
        ),
        "empty-integer": prefixed("sendRequestXML", "<q:qbXMLMinorVers/>"),
        "unqualified-param": prefixed("getLastError", "<ticket>a</ticket>"),
        "nested-markup": prefixed("getLastError", "<q:ticket><b>a</b></q:ticket>"),
        "text-in-operation": prefixed("serverVersion", "hello"),
        "unknown-operation": prefixed("deleteEverything", ""),
        "wrong-namespace": QBWC_HEAD + '<getLastError xmlns="urn:other"/>' + QBWC_TAIL,
        # Accepted by the schema but left to spyne: nil, comments, a Header with content.
        "nil-param": prefixed(
            "getLastError",
            '<q:ticket xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true"/>',
        ),
        "comment-in-value": prefixed("getLastError", "<q:ticket>a<!-- c -->b</q:ticket>"),
        "header-with-content": prefixed(
            "getLastError",
            "<q:ticket>a</q:ticket>",
            header="<soapenv:Header><h>1</h></soapenv:Header>",
        ),
    }
    for stem, text in responses.items():
        cases[f"receiveResponseXML-{stem}"] = qbwc(
            "receiveResponseXML", ticket="t-1", response=text, hresult="", message=""
        )
    out = {name: (text.encode(), "text/xml; charset=utf-8") for name, text in cases.items()}
    utf16 = qbwc("authenticate", strUserName="café", strPassword="€").replace("utf-8", "utf-16")
    out["utf-16"] = (utf16.encode("utf-16"), "text/xml; charset=utf-16")
    return out


# Refused by the schema: spyne's SchemaValidationError fault on both paths.
SCHEMA_FAULTS = {
    "unknown-param",
    "repeated-param",
    "out-of-order",
    "bad-integer",
    "integer-overflow",
    "empty-integer",
    "unqualified-param",
    "nested-markup",
    "text-in-operation",
    "unknown-operation",
    "wrong-namespace",
}
# Valid, but rare enough to leave to spyne (which answers them normally).
SPYNE_ANSWERS = {"nil-param", "comment-in-value", "header-with-content"}


def test_the_lean_table_is_intuits_wsdl(qbxml_reference: Path) -> None:
    intuit = wsdl_parameters(qbxml_reference)
    xs_type = {str: "string", int: "int"}
    ours = {
        operation: [(name, xs_type[kind]) for name, kind in params]
        for operation, (params, _) in OPERATIONS.items()
    }
    assert ours == intuit


def test_both_paths_answer_every_request_alike(qbxml_reference: Path) -> None:
    cases = corpus(qbxml_reference)
    assert len([c for c in cases if c.startswith("receiveResponseXML-")]) >= 10
    lean_scripted, spyne_scripted = Scripted(), Scripted()
    lean_app, lean_registry = build("lean", lean_scripted)
    spyne_app, spyne_registry = build("spyne", spyne_scripted)
    answered_lean = 0
    for name, (body, content_type) in cases.items():
        lean_calls, spyne_calls = len(lean_scripted.calls), len(spyne_scripted.calls)
        lean = call(lean_app, body, content_type)
        spyne = call(spyne_app, body, content_type)
        assert lean == spyne, name
        assert lean_scripted.calls[lean_calls:] == spyne_scripted.calls[spyne_calls:], name
        declined = read_call(screen_root(body, content_type)) is None
        assert declined == (name in SCHEMA_FAULTS | SPYNE_ANSWERS), name
        if name in SCHEMA_FAULTS:
            assert lean[0] == "500 Internal Server Error", (name, lean[2][:300])
            assert b"SchemaValidationError" in lean[2], name
        else:
            answered_lean += not declined
            assert lean[0] == "200 OK", (name, lean[2][:300])
    assert answered_lean == len(cases) - len(SCHEMA_FAULTS | SPYNE_ANSWERS)
    # The operations saw the values as sent (spot checks, not spyne's word for them).
    seen = [c[:3] for c in lean_scripted.calls]
    assert ("authenticate", "acme", 'p&ss<w>"rd') in seen
    assert ("authenticate", "  spaced  ", "x\ny") in seen
    assert ("authenticate", "café", "€") in seen
    assert ("send_request_xml", "t-2", "<QBXML>&</QBXML>", "16", "0") in lean_scripted.calls
    assert ("history.reported", "t-3", None, None, None) in lean_scripted.calls
    # Both paths count the same calls by operation and outcome.
    assert _calls(lean_registry) == _calls(spyne_registry)
    assert _calls(lean_registry)[("receiveResponseXML", "ok")] >= 11


def _calls(registry: CollectorRegistry) -> dict[tuple[str, str], float]:
    return {
        (sample.labels["operation"], sample.labels["outcome"]): sample.value
        for metric in registry.collect()
        if metric.name == "qbsync_gateway_soap_calls"
        for sample in metric.samples
        if sample.name.endswith("_total")
    }


@pytest.mark.parametrize("operation", ["serverVersion", "getLastError", "clientVersion"])
def test_an_operation_that_raises_is_the_same_fault_on_both_paths(operation: str) -> None:
    raising = frozenset({"server_version", "get_last_error", "history.client_version"})
    body = prefixed(operation, "").encode()
    answers = []
    for path in ("lean", "spyne"):
        scripted = Scripted(raising)
        app, _ = build(path, scripted)
        answers.append((call(app, body, "text/xml"), scripted.calls))
    assert answers[0] == answers[1]
    (status, _, answer), calls = answers[0]
    if operation == "getLastError":  # guarded: the protocol's failure answer, logged
        assert status == "200 OK"
        assert calls[-1][:2] == ("failed", "getLastError")
        assert b"could not read this session" in answer
    else:  # not guarded: a Server fault, never a traceback
        assert status == "500 Internal Server Error"
        assert b"<faultcode>soap11env:Server</faultcode>" in answer
        assert b"Traceback" not in answer


def test_an_answer_xml_cannot_carry_is_a_fault_on_the_lean_path() -> None:
    with pytest.raises(ValueError, match=r"XML 1\.0"):
        render("getLastError", "bell \x07")
    scripted = Scripted()
    scripted.get_last_error = lambda _ticket: "bell \x07"  # type: ignore[method-assign]
    app, _ = build("lean", scripted)
    status, _, answer = call(app, prefixed("getLastError", "<q:ticket>a</q:ticket>").encode(), "")
    assert status == "500 Internal Server Error"
    assert b"soap11env:Server" in answer


@pytest.mark.integration
@pytest.mark.parametrize("path", ["lean", "spyne"])
def test_a_real_session_over_http_on_either_path(
    path: str, settings: Settings, broker: BrokerInfo, tmp_path: Path
) -> None:
    """The same session (the sandbox Web Connector, the real gateway over HTTP, the broker
    and the store) on each path: the same outcome, and /metrics counts its calls."""
    settings.gateway.soap_path = path  # type: ignore[assignment]
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Lean Co", tenants=["t-1"])
    try:
        with serving(settings) as url:
            served = Served(url, settings, store, profile, AvroCodec())
            enqueue(served, "Ada", "Grace", "Ada")
            report = connector(served, tmp_path).run_once()
            assert (report.authenticate, report.requests, report.last_progress) == ("", 3, 100)
            assert report.closing_message == "Synced 2 records; 1 needs attention."
            found = results(served, 3)
            assert sorted(str(r["status_code"]) for r in found) == ["0", "0", "3100"]
            host, port = url.removeprefix("http://").split(":")
            connection = http.client.HTTPConnection(host, int(port), timeout=10)
            connection.request("GET", "/metrics")
            metrics = connection.getresponse().read().decode()
            for operation in ("authenticate", "sendRequestXML", "receiveResponseXML"):
                assert (
                    f'qbsync_gateway_soap_calls_total{{operation="{operation}",outcome="ok"}}'
                    in metrics
                ), operation
            assert connector(served, tmp_path).run_once().authenticate == "none"
    finally:
        store.close()
