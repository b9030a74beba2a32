"""The message set as a whole: onError, responseData, unsupported requests, error recovery
with newMessageSetID/oldMessageSetID, and the Host/Company/Preferences answers."""

from __future__ import annotations

from connectors.qbxml import parse_response, parse_xml
from connectors.sandbox import CompanyFile
from tests.connectors.sandbox.qbxml_text import Sender, customer_add, document, rq


def test_continue_on_error_runs_everything(qb: Sender) -> None:
    statuses = [
        rs.get("statusCode")
        for rs in qb.all(customer_add("Ada"), customer_add("Ada"), customer_add("Bob"))
    ]
    assert statuses == ["0", "3100", "0"]


def test_stop_on_error_answers_up_to_the_error_and_keeps_what_ran(
    qb: Sender, company: CompanyFile
) -> None:
    answered = qb.all(
        customer_add("Ada"),
        customer_add("Ada"),
        customer_add("Bob"),
        on_error="stopOnError",
    )
    assert [rs.get("statusCode") for rs in answered] == ["0", "3100"]
    assert [c["FullName"] for c in company.customers()] == ["Ada"]


def test_request_ids_come_back_on_their_answers(qb: Sender) -> None:
    answered = qb.all(
        rq("CustomerAdd", "<Name>Ada</Name>", requestID="7"),
        rq("CustomerQuery", "", wrap=False, requestID="b64=="),
    )
    assert [rs.get("requestID") for rs in answered] == ["7", "b64=="]
    assert list(answered[0].attrib) == [
        "requestID",
        "statusCode",
        "statusSeverity",
        "statusMessage",
    ]


def test_response_data_include_none_leaves_out_the_records(qb: Sender) -> None:
    (rs,) = qb.all(customer_add("Ada"), responseData="includeNone")
    assert (rs.get("statusCode"), len(rs)) == ("0", 0)


def test_a_request_quickbooks_does_not_support_here_is_3250(qb: Sender) -> None:
    rs = qb.one(rq("ItemGroupQuery", "", wrap=False))
    assert rs.get("statusCode") == "3250"
    assert rs.get("statusSeverity") == "Error"


def test_host_company_and_preferences(qb: Sender, company: CompanyFile) -> None:
    host, company_rs, preferences = qb.all(
        rq("HostQuery", "", wrap=False),
        rq("CompanyQuery", "", wrap=False),
        rq("PreferencesQuery", "", wrap=False),
    )
    assert "13.0" in [e.text for e in host.iter("SupportedQBXMLVersion")]
    assert company_rs.findtext("CompanyRet/CompanyName") == company.company_name
    assert preferences.find("PreferencesRet/AccountingPreferences") is not None


def test_the_hcp_response_is_what_the_company_file_says(company: CompanyFile, qb: Sender) -> None:
    text = company.host_company_preferences(("12.0", "13.0"))
    qb.assert_valid_response(text)
    root = parse_xml(text)
    assert [e.text for e in root.iter("SupportedQBXMLVersion")] == ["12.0", "13.0"]
    assert [s.status_code for s in parse_response(text)] == [0, 0, 0]


# -- error recovery ----------------------------------------------------------------------


def test_a_saved_message_set_is_answered_again_not_run_again(
    qb: Sender, company: CompanyFile
) -> None:
    first = qb.raw(customer_add("Ada"), customer_add("Bob"), newMessageSetID="batch-1")
    root = parse_xml(first).find("QBXMLMsgsRs")
    assert root is not None
    assert (root.get("newMessageSetID"), root.get("messageSetStatusCode")) == ("batch-1", "0")
    assert company.saved_message_set() == ("batch-1", first)
    # The answer was lost; the client sends the same batch again, naming it.
    again = qb.raw(
        customer_add("Ada"),
        customer_add("Bob"),
        oldMessageSetID="batch-1",
        newMessageSetID="batch-1",
    )
    assert again == first
    assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob"]
    assert company.duplicate_names() == 0


def test_an_unknown_old_message_set_runs_the_requests(qb: Sender, company: CompanyFile) -> None:
    statuses = parse_response(
        qb.raw(customer_add("Ada"), oldMessageSetID="never-sent", newMessageSetID="batch-2")
    )
    assert [s.status_code for s in statuses] == [0]
    assert company.saved_message_set() is not None


def test_a_bare_status_check_for_an_unknown_message_set(qb: Sender) -> None:
    root = parse_xml(qb.raw(oldMessageSetID="never-sent")).find("QBXMLMsgsRs")
    assert root is not None
    assert (root.get("messageSetStatusCode"), len(root)) == ("9002", 0)


def test_only_the_last_message_set_is_kept(qb: Sender, company: CompanyFile) -> None:
    qb.raw(customer_add("Ada"), newMessageSetID="one")
    qb.raw(customer_add("Bob"), newMessageSetID="two")
    statuses = parse_response(qb.raw(customer_add("Ada"), oldMessageSetID="one"))
    assert [s.status_code for s in statuses] == [3100]  # "one" was forgotten: run again
    saved = company.saved_message_set()
    assert saved is not None
    assert saved[0] == "two"


def test_clear_all_message_sets(qb: Sender, company: CompanyFile) -> None:
    qb.raw(customer_add("Ada"), newMessageSetID="one")
    qb.raw(oldMessageSetID="ClearAllMessageSets")
    assert company.saved_message_set() is None


def test_the_saved_state_survives_reopening_the_file(company: CompanyFile, qb: Sender) -> None:
    first = qb.raw(customer_add("Ada"), newMessageSetID="durable")
    company.close()
    reopened = CompanyFile(company.path)
    try:
        again, hresult, _ = reopened.process(
            document(customer_add("Ada"), oldMessageSetID="durable", newMessageSetID="durable")
        )
        assert (again, hresult) == (first, "")
    finally:
        reopened.close()
