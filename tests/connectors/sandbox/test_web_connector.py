"""The simulated Web Connector against a scripted gateway: QBWC's call order and its answers
to every kind of server reply."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import parse_xml
from connectors.sandbox import CompanyFile, SandboxWebConnector, SoapFault
from tests.connectors.sandbox.conftest import Sleeps
from tests.connectors.sandbox.fake_gateway import FakeGateway
from tests.connectors.sandbox.qbxml_text import customer_add, document, rq

OPEN = ["serverVersion", "clientVersion", "authenticate"]


def add(*names: str, **attributes: str) -> str:
    return document(*(customer_add(n) for n in names), **attributes)


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def connector(gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps) -> SandboxWebConnector:
    return make(gateway, company, sleeps)


def make(
    gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps, **options: Any
) -> SandboxWebConnector:
    return SandboxWebConnector(
        gateway,
        username="u",
        password="p",
        company=company,
        noop_pause=0.01,
        sleep=sleeps,
        **options,
    )


def test_a_session_follows_qbwcs_call_order(
    gateway: FakeGateway, connector: SandboxWebConnector, company: CompanyFile
) -> None:
    gateway.requests = [add("Ada"), add("Bob", "Cy")]
    report = connector.run_once()
    assert gateway.operations == [
        *OPEN,
        "sendRequestXML",
        "receiveResponseXML",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert report.calls == gateway.operations
    first, second = (params for name, params in gateway.calls if name == "sendRequestXML")
    assert "<HostRet>" in first["strHCPResponse"]
    assert "<CompanyName>Sandbox Company</CompanyName>" in first["strHCPResponse"]
    assert second["strHCPResponse"] == ""
    assert (first["qbXMLMajorVers"], first["qbXMLMinorVers"], first["qbXMLCountry"]) == (
        "13",
        "0",
        "US",
    )
    assert first["strCompanyFileName"] == str(company.path)
    assert (report.messages, report.requests, report.last_progress) == (2, 3, 100)
    assert report.closing_message == "OK, bye."
    assert report.worked
    assert gateway.statuses() == [0, 0, 0]
    assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob", "Cy"]


def test_the_hcp_response_lists_the_versions_this_quickbooks_reports(
    gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps
) -> None:
    gateway.requests = [add("Ada")]
    make(gateway, company, sleeps, qbxml_versions=("12.0", "13.0")).run_once()
    hcp = parse_xml(gateway.calls[3][1]["strHCPResponse"])
    assert [e.text for e in hcp.iter("SupportedQBXMLVersion")] == ["12.0", "13.0"]


def test_client_version_e_refuses_the_session(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.client_version = "E:This Web Connector is too old."
    report = connector.run_once()
    assert gateway.operations == ["serverVersion", "clientVersion"]
    assert report.errors == ["This Web Connector is too old."]


@pytest.mark.parametrize("answer", ["W:Please update.", "O:2.3.0.300"])
def test_client_version_w_and_o_warn_and_go_on(
    gateway: FakeGateway, connector: SandboxWebConnector, answer: str
) -> None:
    gateway.client_version = answer
    gateway.requests = [add("Ada")]
    report = connector.run_once()
    assert report.warnings == [answer]
    assert report.last_progress == 100


@pytest.mark.parametrize("status", ["nvu", "none", "busy"])
def test_nvu_none_and_busy_end_the_session_at_authenticate(
    gateway: FakeGateway, connector: SandboxWebConnector, status: str
) -> None:
    gateway.authenticate = ["ticket-1", status]
    gateway.requests = [add("Ada")]
    report = connector.run_once()
    assert gateway.operations == OPEN
    assert report.authenticate == status
    assert report.messages == 0


def test_the_optional_wait_values_of_authenticate_are_kept(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.authenticate = ["ticket-1", "busy", "30", "120"]
    report = connector.run_once()
    assert (report.next_update_seconds, report.min_run_every_seconds) == (30, 120)


def test_a_company_file_path_from_authenticate_is_used(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.authenticate = ["ticket-1", r"C:\Company\Acme.qbw"]
    gateway.requests = [add("Ada")]
    report = connector.run_once()
    assert report.company_file == r"C:\Company\Acme.qbw"
    assert gateway.calls[3][1]["strCompanyFileName"] == r"C:\Company\Acme.qbw"


def test_an_empty_request_asks_get_last_error_then_closes(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.last_errors = ["Nothing left to send."]
    report = connector.run_once()
    assert gateway.operations == [*OPEN, "sendRequestXML", "getLastError", "closeConnection"]
    assert report.errors == ["Nothing left to send."]


def test_noop_pauses_and_asks_again(
    gateway: FakeGateway, connector: SandboxWebConnector, sleeps: Sleeps
) -> None:
    gateway.requests = ["NoOp", add("Ada")]
    report = connector.run_once()
    assert gateway.operations == [
        *OPEN,
        "sendRequestXML",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert (report.noops, sleeps.calls) == (1, [0.01])


def test_get_last_error_noop_pauses_and_asks_again(
    gateway: FakeGateway, connector: SandboxWebConnector, sleeps: Sleeps
) -> None:
    gateway.requests = ["", add("Ada")]
    gateway.last_errors = ["NoOp"]
    report = connector.run_once()
    assert gateway.operations == [
        *OPEN,
        "sendRequestXML",
        "getLastError",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert (report.noops, len(sleeps.calls), report.last_progress) == (1, 1, 100)


def test_a_negative_answer_asks_get_last_error_then_closes(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.requests = [add("Ada"), add("Bob")]
    gateway.progress = [-1]
    gateway.last_errors = ["The gateway could not store the results."]
    report = connector.run_once()
    assert gateway.operations[-3:] == ["receiveResponseXML", "getLastError", "closeConnection"]
    assert report.errors == ["The gateway could not store the results."]
    assert report.last_progress == -1


def test_a_document_quickbooks_cannot_parse_goes_back_as_an_hresult(
    gateway: FakeGateway, connector: SandboxWebConnector
) -> None:
    gateway.requests = ["<QBXML><QBXMLMsgsRq>"]
    gateway.progress = [-1]
    connector.run_once()
    response, hresult, message = gateway.received[0]
    assert (response, hresult) == ("", "0x80040400")
    assert "parsing" in message


def test_quickbooks_unavailable_calls_connection_error_instead(
    gateway: FakeGateway, connector: SandboxWebConnector, company: CompanyFile
) -> None:
    company.faults.make_unavailable()
    gateway.requests = [add("Ada")]
    report = connector.run_once()
    assert gateway.operations == [*OPEN, "connectionError", "closeConnection"]
    params = gateway.calls[3][1]
    assert (params["hresult"], params["message"]) == ("0x80040408", "Could not start QuickBooks.")
    assert report.connection_errors == ["0x80040408"]
    assert company.customers() == []
    assert connector.run_once().last_progress == 100  # the next session finds it open


def test_connection_error_may_name_another_file_to_try(
    gateway: FakeGateway, connector: SandboxWebConnector, company: CompanyFile
) -> None:
    company.faults.make_unavailable(sessions=1)
    gateway.connection_errors = [r"C:\Other.qbw"]
    gateway.requests = [add("Ada")]
    report = connector.run_once()
    assert gateway.operations == [
        *OPEN,
        "connectionError",
        "sendRequestXML",
        "receiveResponseXML",
        "closeConnection",
    ]
    assert report.company_file == r"C:\Other.qbw"


def test_a_session_that_never_ends_is_refused(
    gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps
) -> None:
    gateway.requests = [document(rq("CustomerQuery", "", wrap=False))] * 10
    gateway.progress = [50] * 10
    report = make(gateway, company, sleeps, max_exchanges=3).run_once()
    assert report.runaway
    assert gateway.operations.count("sendRequestXML") == 3
    assert gateway.operations[-1] == "closeConnection"
    assert "runaway" in report.errors[0]


def test_a_session_that_takes_too_long_is_refused(
    gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps
) -> None:
    ticks = itertools.count(step=100)
    gateway.requests = [document(rq("CustomerQuery", "", wrap=False))] * 10
    gateway.progress = [50] * 10
    connector = make(
        gateway, company, sleeps, max_session_seconds=250, clock=lambda: float(next(ticks))
    )
    report = connector.run_once()
    assert report.runaway
    assert gateway.operations.count("sendRequestXML") == 2


def test_a_crash_applies_the_batch_but_never_answers(
    gateway: FakeGateway, connector: SandboxWebConnector, company: CompanyFile
) -> None:
    company.faults.crash_after_apply()
    batch = add("Ada", "Bob", newMessageSetID="batch-7")
    gateway.requests = [batch]
    report = connector.run_once()
    assert gateway.operations == [*OPEN, "sendRequestXML"]  # no receiveResponseXML, no close
    assert report.crashed
    assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob"]
    # The gateway never got the answer; it sends the batch again, naming it, and learns
    # what happened instead of adding everything twice.
    gateway.requests = [add("Ada", "Bob", oldMessageSetID="batch-7", newMessageSetID="batch-7")]
    assert connector.run_once().last_progress == 100
    assert gateway.statuses() == [0, 0]
    assert company.duplicate_names() == 0
    assert len(company.customers()) == 2


def test_iterators_do_not_survive_the_session(
    gateway: FakeGateway, connector: SandboxWebConnector, company: CompanyFile
) -> None:
    for name in ("Ada", "Bob", "Cy"):
        company.process(add(name))
    gateway.requests = [
        document(rq("CustomerQuery", "<MaxReturned>1</MaxReturned>", wrap=False, iterator="Start"))
    ]
    connector.run_once()
    started = parse_xml(gateway.received[0][0]).find("QBXMLMsgsRs/CustomerQueryRs")
    assert started is not None
    assert started.get("iteratorRemainingCount") == "2"
    assert company.open_iterators == 0  # the session ended: QuickBooks forgot it
    gateway.requests = [
        document(
            rq(
                "CustomerQuery",
                "<MaxReturned>1</MaxReturned>",
                wrap=False,
                iterator="Continue",
                iteratorID=started.get("iteratorID", ""),
            )
        )
    ]
    connector.run_once()
    assert gateway.statuses()[-1] == 3000


def test_every_request_is_recorded_in_order(
    gateway: FakeGateway, company: CompanyFile, sleeps: Sleeps, tmp_path: Path
) -> None:
    record = tmp_path / "record"
    batches = [add("Ada"), add("Bob"), add("Cy")]
    gateway.requests = batches[:2]
    make(gateway, company, sleeps, record_dir=record).run_once()
    gateway.requests = batches[2:]
    make(gateway, company, sleeps, record_dir=record).run_once()  # numbering goes on
    files = sorted(record.glob("*.xml"))
    assert [f.name for f in files] == ["00001.xml", "00002.xml", "00003.xml"]
    assert [f.read_text(encoding="utf-8") for f in files] == batches


def test_a_soap_fault_is_raised(gateway: FakeGateway, connector: SandboxWebConnector) -> None:
    gateway.fault_on = "authenticate"
    with pytest.raises(SoapFault, match="scripted fault"):
        connector.run_once()
    assert connector.last_report is not None
    assert connector.last_report.calls == OPEN
