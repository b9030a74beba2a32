"""The Web Connector over real HTTP: a session against the fake gateway served by waitress."""

from __future__ import annotations

import pytest

from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, SoapFault
from connectors.sandbox._transport import soap_request, soap_result
from tests.connectors.sandbox.fake_gateway import FakeGateway
from tests.connectors.sandbox.qbxml_text import customer_add, document

pytestmark = pytest.mark.integration


def test_a_whole_session_over_http(
    http_gateway: tuple[str, FakeGateway], company: CompanyFile
) -> None:
    url, gateway = http_gateway
    gateway.requests = [document(customer_add("Ada")), document(customer_add("Bob"))]
    transport = HttpTransport(url)
    connector = SandboxWebConnector(transport, username="u", password="p", company=company)
    try:
        report = connector.run_once()
    finally:
        connector.close()
    assert report.last_progress == 100
    assert report.messages == 2
    assert gateway.operations[0] == "serverVersion"
    assert gateway.operations[-1] == "closeConnection"
    assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob"]


def test_a_fault_over_http_is_a_soap_fault(http_gateway: tuple[str, FakeGateway]) -> None:
    url, gateway = http_gateway
    gateway.fault_on = "serverVersion"
    transport = HttpTransport(url)
    try:
        raw = transport.post(
            soap_request("serverVersion", {}), "http://developer.intuit.com/serverVersion"
        )
        with pytest.raises(SoapFault, match="scripted fault"):
            soap_result(raw, "serverVersion")
    finally:
        transport.close()


def test_an_answer_that_is_not_soap_is_a_soap_fault() -> None:
    with pytest.raises(SoapFault, match="not XML"):
        soap_result(b"<<nope", "serverVersion")
    with pytest.raises(SoapFault, match="no serverVersionResult"):
        soap_result(b"<a/>", "serverVersion")
