"""Hostile and broken requests over real HTTP: every one gets a SOAP fault (never a plain-text
500 with a traceback), and no library logs a request body."""

from __future__ import annotations

import http.client
import logging

import pytest
from lxml import etree

from core.settings import Settings
from tests.support.gateway import Served

pytestmark = pytest.mark.integration


@pytest.fixture(autouse=True, params=["lean", "spyne"])
def soap_path(request: pytest.FixtureRequest, settings: Settings) -> str:
    """Every case on both SOAP paths: the screening before them is the same code, and
    neither may be the one that lets a DTD or an entity through."""
    path: str = request.param
    settings.gateway.soap_path = path  # type: ignore[assignment]
    return path


SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SENTINEL = "Sentinel-Pa55word-7f3a9c"


def envelope(operation: str, inner: str = "") -> str:
    return (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"'
        ' xmlns:q="http://developer.intuit.com/"><soap:Body>'
        f"<q:{operation}>{inner}</q:{operation}></soap:Body></soap:Envelope>"
    )


def send(
    url: str, body: bytes, content_type: str = "text/xml; charset=utf-8"
) -> tuple[int, str, bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    connection.request("POST", "/qbwc", body, {"Content-Type": content_type, "SOAPAction": ""})
    response = connection.getresponse()
    return response.status, response.getheader("Content-Type") or "", response.read()


def fault_string(body: bytes) -> str:
    """The faultstring of a SOAP fault; fails when ``body`` is anything else."""
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    assert root.tag == f"{{{SOAP_NS}}}Envelope", body[:200]
    fault = root.find(f"{{{SOAP_NS}}}Body/{{{SOAP_NS}}}Fault")
    assert fault is not None, body[:300]
    return fault.findtext("faultstring") or ""


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
    + envelope("serverVersion").replace("<q:serverVersion>", "<q:serverVersion>&lol9;")
)
XXE = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>' + envelope(
    "clientVersion", "<q:strVersion>&xxe;</q:strVersion>"
)
UTF16_DTD = '<?xml version="1.0" encoding="utf-16"?><!DOCTYPE x [<!ENTITY e "boom">]>' + envelope(
    "clientVersion", "<q:strVersion>&e;</q:strVersion>"
)
FAULT_AS_REQUEST = (
    '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>hi</faultstring></soap:Fault>"
    "</soap:Body></soap:Envelope>"
)
DEEP = envelope(
    "clientVersion", "<q:strVersion>" + "<a>" * 50_000 + "</a>" * 50_000 + "</q:strVersion>"
)

MALFORMED = {
    "utf16-dtd": (UTF16_DTD.encode("utf-16"), "text/xml; charset=utf-16", "DTD"),
    "utf16-dtd-declared-utf8": (UTF16_DTD.encode("utf-16"), "text/xml; charset=utf-8", ""),
    "utf16-billion-laughs": (BILLION_LAUGHS.encode("utf-16"), "text/xml; charset=utf-16", "DTD"),
    "utf16-xxe": (XXE.encode("utf-16"), "text/xml", "DTD"),
    "utf8-billion-laughs": (BILLION_LAUGHS.encode(), "text/xml; charset=utf-8", "DTD"),
    "utf8-xxe": (XXE.encode(), "text/xml; charset=utf-8", "DTD"),
    "latin1-bytes": (
        envelope("clientVersion", "<q:strVersion>caf\xe9</q:strVersion>").encode("latin-1"),
        "text/xml; charset=utf-8",
        "",
    ),
    "charset-bogus": (envelope("serverVersion").encode(), "text/xml; charset=bogus-42", "bogus-42"),
    "empty-body": (b"", "text/xml; charset=utf-8", "empty"),
    "fault-as-request": (FAULT_AS_REQUEST.encode(), "text/xml; charset=utf-8", "Fault"),
    "deep-nesting": (DEEP.encode(), "text/xml; charset=utf-8", ""),
    "not-an-envelope": (b"<authenticate/>", "text/xml; charset=utf-8", "Envelope"),
    "50-mb-body": (b"<" + b"a" * (50 * 1024 * 1024) + b"/>", "text/xml; charset=utf-8", "large"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_every_malformed_request_gets_a_soap_fault(served: Served, case: str) -> None:
    body, content_type, words = MALFORMED[case]
    status, answer_type, answer = send(served.url, body, content_type)
    assert status in (400, 413, 500), (status, answer[:300])
    assert answer_type.startswith("text/xml"), answer_type
    assert b"Traceback" not in answer
    text = fault_string(answer)
    assert words.lower() in text.lower(), text
    assert "root:" not in text  # /etc/passwd never comes back


def test_the_gateway_still_answers_after_the_hostile_requests(served: Served) -> None:
    for body, content_type, _ in MALFORMED.values():
        if len(body) < 1024 * 1024:
            send(served.url, body, content_type)
    status, _, answer = send(served.url, envelope("serverVersion").encode())
    assert status == 200
    assert b"qbsync" in answer
    host, port = served.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/metrics")
    metrics = connection.getresponse().read().decode()
    assert 'qbsync_gateway_requests_refused_total{reason="dtd"} 5.0' in metrics
    assert 'qbsync_gateway_requests_refused_total{reason="empty"} 1.0' in metrics


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "latin-1"])
def test_a_well_formed_request_in_another_declared_encoding_is_served(
    served: Served, encoding: str
) -> None:
    text = envelope("clientVersion", "<q:strVersion>2.3.0.215</q:strVersion>")
    status, _, answer = send(served.url, text.encode(encoding), f"text/xml; charset={encoding}")
    assert status == 200, answer[:300]
    root = etree.fromstring(answer)
    assert root.find(f".//{{{SOAP_NS}}}Fault") is None


def _truncated_authenticate(password: str) -> bytes:
    whole = envelope(
        "authenticate",
        f"<q:strUserName>someone</q:strUserName><q:strPassword>{password}</q:strPassword>",
    )
    return whole[: whole.index("</q:strPassword>") + 5].encode()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_truncated_authenticate(SENTINEL), id="truncated-authenticate"),
        pytest.param(
            _truncated_authenticate(SENTINEL + "x" * 700_000), id="700kb-truncated-authenticate"
        ),
        pytest.param(
            envelope(
                "authenticate",
                f"<q:strUserName>someone</q:strUserName><q:strPassword>{SENTINEL}</q:strPassword>"
                "<q:noSuchField>1</q:noSuchField>",
            ).encode(),
            id="schema-invalid-authenticate",
        ),
        pytest.param(
            envelope(
                "sendRequestXML",
                f"<q:ticket>{SENTINEL}</q:ticket><q:qbXMLMajorVers>thirteen</q:qbXMLMajorVers>",
            ).encode(),
            id="bad-integer",
        ),
    ],
)
def test_no_log_line_carries_a_request_body(
    served: Served, caplog: pytest.LogCaptureFixture, body: bytes
) -> None:
    lines: list[str] = []

    class Everything(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(logging.Formatter("%(name)s %(message)s").format(record))
            lines.append(" ".join(f"{k}={v}" for k, v in record.__dict__.items() if k != "msg"))

    catcher = Everything(logging.DEBUG)
    roots = [logging.getLogger(), logging.getLogger("spyne"), logging.getLogger("waitress")]
    for logger in roots:
        logger.addHandler(catcher)
    caplog.set_level(logging.DEBUG)
    try:
        status, _, answer = send(served.url, body)
    finally:
        for logger in roots:
            logger.removeHandler(catcher)
    assert status in (400, 500), status
    fault_string(answer)
    everything = [*lines, caplog.text]
    assert lines, "nothing was logged at all: the capture is not working"
    assert not [line for line in everything if SENTINEL in line]
    assert max(len(line) for line in lines) <= 2048
