"""The gateway over real HTTP (waitress, spyne), with the real broker and store."""

from __future__ import annotations

import http.client
from pathlib import Path

import pytest
from lxml import etree

from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, SoapFault
from tests.support.gateway import (
    Served,
    authenticate,
    connector,
    enqueue,
    enqueue_requests,
    post,
    results,
    send_request,
    serving,
)
from tests.support.xsd import assert_valid_qbxml

pytestmark = pytest.mark.integration

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSDL_NS = "http://schemas.xmlsoap.org/wsdl/"


def test_wsdl_is_served_with_intuits_operations_and_namespace(served: Served) -> None:
    host, port = served.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", "/qbwc?wsdl")
    response = connection.getresponse()
    assert response.status == 200
    wsdl = etree.fromstring(response.read())
    assert wsdl.get("targetNamespace") == "http://developer.intuit.com/"
    operations = {op.get("name") for op in wsdl.iter(f"{{{WSDL_NS}}}operation") if op.get("name")}
    assert operations == {
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "connectionError",
        "getLastError",
        "closeConnection",
    }


def test_wrong_password_is_nvu(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    report = connector(served, tmp_path, password="wrong").run_once()
    assert report.authenticate == "nvu"
    assert report.requests == 0


def test_nothing_to_do_is_none(served: Served, tmp_path: Path) -> None:
    report = connector(served, tmp_path).run_once()
    assert report.authenticate == "none"


def test_a_session_sends_a_valid_batch_emits_results_and_commits(
    served: Served, tmp_path: Path, qbxml_reference: Path
) -> None:
    enqueue(served, "Ada", "Grace", "Ada")
    wc = connector(served, tmp_path)
    seen: list[str] = []
    original = wc.company.process

    def capture(request: str) -> tuple[str, str, str]:
        seen.append(request)
        return original(request)

    wc.company.process = capture  # type: ignore[method-assign]
    report = wc.run_once()
    assert report.authenticate == ""
    assert report.last_progress == 100
    assert report.requests == 3
    assert report.closing_message == "Synced 2 records; 1 needs attention."
    for document in seen:
        assert_valid_qbxml(document, qbxml_reference)
    found = results(served, 3)
    assert sorted((r["entity_id"], r["status_code"]) for r in found) == [
        ("Ada", 0),
        ("Ada", 3100),
        ("Grace", 0),
    ]
    ada = next(r for r in found if r["entity_id"] == "Ada" and r["status_code"] == 0)
    assert ada["qb_id"] == next(
        c["ListID"] for c in wc.company.customers() if c["FullName"] == "Ada"
    )
    # Committed: the next run has nothing to do.
    assert connector(served, tmp_path).run_once().authenticate == "none"


def test_batches_are_bounded_by_the_batch_size(served: Served, tmp_path: Path) -> None:
    served.settings.gateway.batch_size = 2
    enqueue(served, *(f"N{i}" for i in range(5)))
    with serving(served.settings) as url:
        wc = SandboxWebConnector(
            HttpTransport(f"{url}/qbwc"),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=CompanyFile(tmp_path / "small.db"),
        )
        report = wc.run_once()
        wc.close()
    assert (report.messages, report.requests, report.last_progress) == (3, 5, 100)
    assert len(wc.company.customers()) == 5


def test_second_session_for_the_same_file_is_busy(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    first = connector(served, tmp_path)
    ticket, status = (
        e.text or ""
        for e in first.call(
            "authenticate",
            strUserName=served.profile.profile.username,
            strPassword=served.profile.password,
        )
    )
    assert status == ""
    # Another client (another PC's Web Connector): the same client would take over.
    second = SandboxWebConnector(
        HttpTransport(served.url + "/qbwc", user_agent="QBWC elsewhere"),
        username=served.profile.profile.username,
        password=served.profile.password,
        company=CompanyFile(tmp_path / "elsewhere.db"),
    ).run_once()
    assert second.authenticate == "busy"
    first.call("closeConnection", ticket=ticket or "")


def test_unknown_ticket_ends_gracefully(served: Served, tmp_path: Path) -> None:
    wc = connector(served, tmp_path)
    assert (
        wc.call("receiveResponseXML", ticket="forged", response="", hresult="", message="").text
        == "-1"
    )
    assert "ended or expired" in (wc.call("getLastError", ticket="forged").text or "")
    assert wc.call(
        "sendRequestXML",
        ticket="forged",
        strHCPResponse="",
        strCompanyFileName="",
        qbXMLCountry="US",
        qbXMLMajorVers="13",
        qbXMLMinorVers="0",
    ).text in (None, "")


def test_hresult_from_quickbooks_is_explained_and_nothing_is_committed(
    served: Served, tmp_path: Path
) -> None:
    enqueue(served, "Ada")
    wc = connector(served, tmp_path)
    ticket = authenticate(wc, served.profile)
    request = send_request(wc, ticket)
    assert request
    assert "CustomerAddRq" in request
    progress = wc.call(
        "receiveResponseXML",
        ticket=ticket,
        response="",
        hresult="0x80040400",
        message="parse error",
    ).text
    assert progress == "-1"
    assert "could not read the request document" in (
        wc.call("getLastError", ticket=ticket).text or ""
    )
    wc.call("closeConnection", ticket=ticket)
    # The command was not settled: the next run sends it again and it lands.
    report = connector(served, tmp_path).run_once()
    assert (report.requests, report.last_progress) == (1, 100)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"<not-soap/>", 500, b"Fault"),
        (b"this is not xml", 500, b"Fault"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]>'
            b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"/>',
            400,
            b"DTDs are not accepted",
        ),
    ],
)
def test_malformed_calls_get_a_soap_fault(
    served: Served, body: bytes, status: int, words: bytes
) -> None:
    code, answer = post(served.url, body)
    assert code == status
    assert words in answer
    assert etree.fromstring(answer).find(f".//{{{SOAP_NS}}}Fault") is not None


def test_fault_is_raised_to_the_client_as_soapfault(served: Served, tmp_path: Path) -> None:
    wc = connector(served, tmp_path)
    with pytest.raises(SoapFault):
        wc.call("noSuchOperation")


def get(url: str, path: str) -> tuple[int, bytes]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_health_and_readiness(served: Served) -> None:
    assert get(served.url, "/healthz") == (200, b"ok\n")
    assert get(served.url, "/readyz") == (200, b"ready\n")
    assert get(served.url, "/nowhere")[0] == 404


def test_metrics_count_calls_and_outcomes_with_bounded_labels(
    served: Served, tmp_path: Path
) -> None:
    connector(served, tmp_path, password="wrong").run_once()
    enqueue(served, "Ada")
    connector(served, tmp_path).run_once()
    status, body = get(served.url, "/metrics")
    assert status == 200
    text = body.decode()
    for line in (
        'qbsync_gateway_authentications_total{outcome="nvu"} 1.0',
        'qbsync_gateway_authentications_total{outcome="session"} 1.0',
        'qbsync_gateway_soap_calls_total{operation="authenticate",outcome="ok"} 2.0',
        'qbsync_gateway_soap_calls_total{operation="sendRequestXML",outcome="ok"} 1.0',
        "qbsync_gateway_commands_sent_total 1.0",
        'qbsync_gateway_results_total{status_class="ok"} 1.0',
        "qbsync_gateway_batch_requests_count 1.0",
        "qbsync_gateway_profiles_stalled 0.0",
        "qbsync_gateway_sessions_active 0.0",
    ):
        assert line in text, line
    assert served.profile.profile.id not in text  # no per-file labels


def test_commands_whose_dependency_failed_this_session_are_not_sent(
    served: Served, tmp_path: Path
) -> None:
    served.settings.gateway.batch_size = 2

    def add(name: str) -> str:
        return build_request("customer", "Add", {"Name": name})

    enqueue_requests(
        served,
        [
            ("c-ada", "ADD", add("Ada")),
            ("c-ada-again", "ADD", add("Ada")),  # fails: 3100 on a first attempt
            ("c-zed", "ADD", add("Zed")),  # needs c-ada-again: held back
            ("c-wyn", "ADD", add("Wyn")),  # needs c-zed: held back in turn
            ("c-bea", "ADD", add("Bea")),  # needs c-ada, which worked: sent
        ],
        depends_on={
            "c-zed": ["customer:c-ada-again"],
            "c-wyn": ["customer:c-zed"],
            "c-bea": ["customer:c-ada"],
        },
    )
    with serving(served.settings) as url:
        wc = SandboxWebConnector(
            HttpTransport(f"{url}/qbwc"),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=CompanyFile(tmp_path / "deps.db"),
        )
        report = wc.run_once()
        wc.close()
    assert report.last_progress == 100
    assert sorted(c["FullName"] for c in wc.company.customers()) == ["Ada", "Bea"]
    by_id = {r["entity_id"]: r for r in results(served, 5)}
    assert by_id["c-ada-again"]["status_code"] == 3100
    for held in ("c-zed", "c-wyn"):
        assert by_id[held]["status_code"] == -2
        assert "depends on" in str(by_id[held]["status_message"])
    assert "'customer:c-ada-again'" in str(by_id["c-zed"]["status_message"])
    assert by_id["c-bea"]["status_code"] == 0


def test_connection_error_is_recorded_with_an_explanation(served: Served, tmp_path: Path) -> None:
    enqueue(served, "Ada")
    wc = connector(served, tmp_path)
    ticket = authenticate(wc, served.profile)
    answer = wc.call("connectionError", ticket=ticket, hresult="0x80040408", message="cannot start")
    assert answer.text == "done"
    last = wc.call("getLastError", ticket=ticket).text or ""
    assert "0x80040408" in last
    assert "open QuickBooks" in last  # the catalog's remedy, in words a person can act on
    wc.call("closeConnection", ticket=ticket)
    # Nothing was settled: the command is still there for the next run.
    assert connector(served, tmp_path).run_once().requests == 1


def test_no_full_garbage_collection_on_the_request_path(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """spyne runs ``gc.collect()`` at the end of a request when its interval has passed; the
    gateway switches that off (a full collection stalls every request thread)."""
    import gc

    import spyne.context

    collections: list[int] = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(1) or 0)
    # As if spyne's last full collection were long ago: without the gateway's setting the
    # next request ends with one.
    monkeypatch.setattr(spyne.context, "_LAST_GC_RUN", 0.0)
    report = connector(served, tmp_path).run_once()
    assert report.authenticate == "none"
    assert report.calls == ["serverVersion", "clientVersion", "authenticate"]
    assert collections == []
