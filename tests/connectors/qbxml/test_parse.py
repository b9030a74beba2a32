from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.qbxml import (
    Category,
    UnsafeXml,
    negotiate_version,
    parse_message,
    parse_response,
    parse_xml,
)
from tests.conftest import QBXML_REFERENCE

SAMPLES = sorted(p.name for p in (QBXML_REFERENCE / "samples").glob("*.xml"))


def _sample(reference: Path, name: str) -> str:
    return (reference / "samples" / name).read_text()


@pytest.mark.parametrize("name", SAMPLES or ["(no samples)"])
def test_every_sample_parses(qbxml_reference: Path, name: str) -> None:
    text = _sample(qbxml_reference, name)
    root = parse_xml(text, recover=True)
    statuses = parse_response(text)
    if root.find("QBXMLMsgsRs") is None:
        assert root.find("QBXMLMsgsRq") is not None  # a request: nothing to answer
        assert statuses == []
        return
    assert statuses, f"{name}: no *Rs found"
    for status in statuses:
        assert status.request_type
        assert status.status_code >= 0
        assert status.status_severity in {"Info", "Warn", "Error"}
        assert status.ok == (status.status_severity != "Error")
        assert status.explain().code == str(status.status_code)
        for record in status.records:
            assert record.fields, f"{name}: empty {record.kind}Ret"


def test_there_are_samples(qbxml_reference: Path) -> None:
    assert len(list((qbxml_reference / "samples").glob("responses-*.xml"))) >= 8


def test_real_customer_add_response(qbxml_reference: Path) -> None:
    (status,) = parse_response(_sample(qbxml_reference, "responses-customer_add_rs.xml"))
    assert status.ok
    assert status.request_id == "15"
    assert status.request_type == "CustomerAdd"
    assert status.qb_id == "F540000-1197683154"
    assert status.edit_sequence == "1197683154"
    assert status.full_name == "20706 - Eastern XYZ University"
    assert status.time_modified == datetime(
        2007, 12, 14, 20, 45, 54, tzinfo=timezone(timedelta(hours=-5))
    )
    (record,) = status.records
    assert record.kind == "Customer"
    assert record.is_active is True
    assert record.fields["BillAddress"]["City"] == "Storrs-Mansfield"


def test_real_error_response(qbxml_reference: Path) -> None:
    text = _sample(qbxml_reference, "qbwc_customer_query_response_error.xml")
    (status,) = parse_response(text)
    assert status.status_code == 3120
    assert not status.ok
    assert "cannot be found" in status.status_message
    assert status.request_id == ""  # the sample has none; lenient, not an error
    assert status.explain().category is Category.PERMANENT


def test_warning_is_not_a_failure(qbxml_reference: Path) -> None:
    text = _sample(qbxml_reference, "qbwc_customer_query_response_warn.xml")
    (status,) = parse_response(text)
    assert status.status_severity == "Warn"
    assert status.ok


def test_an_iterator_page(qbxml_reference: Path) -> None:
    (status,) = parse_response(_sample(qbxml_reference, "responses-customer_query_terator_rs.xml"))
    assert status.iterator_id == "{eb05f701-e727-472f-8ade-6753c4f67a46}"
    assert status.iterator_remaining_count == 18
    assert status.more
    assert status.records


def test_transactions_with_lines(qbxml_reference: Path) -> None:
    (status,) = parse_response(_sample(qbxml_reference, "responses-receive_payment_query_rs.xml"))
    (payment,) = status.records
    assert payment.kind == "ReceivePayment"
    assert payment.qb_id == "2484-1263499231"
    assert payment.ref_number == "101"
    assert status.ref_number == "101"
    assert payment.fields["AppliedToTxnRet"]["TxnID"] == "244B-1263497335"
    assert payment.fields["DepositToAccountRef"]["FullName"] == "Undeposited Funds"


def test_repeated_elements_become_lists(qbxml_reference: Path) -> None:
    text = _sample(qbxml_reference, "strHCPResponse_Host_Company_Preferences.xml")
    host, company, preferences = parse_response(text)
    versions = host.records[0].fields["SupportedQBXMLVersion"]
    assert versions[0] == "1.0"
    assert versions[-1] == "13.0"
    assert negotiate_version(versions, "16.0") == "13.0"
    assert company.records[0].fields["CompanyName"] == "myCompany"
    assert len(company.records[0].fields["DataExtRet"]) == 2
    assert preferences.request_type == "PreferencesQuery"


def test_windows_1252_declaration_on_decoded_text_is_accepted() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1252"?><QBXML><QBXMLMsgsRs>'
        '<CustomerAddRs requestID="3" statusCode="0" statusSeverity="Info" statusMessage="OK">'
        "<CustomerRet><ListID>1-2</ListID><EditSequence>5</EditSequence>"
        "<FullName>Café Ünïon</FullName></CustomerRet></CustomerAddRs></QBXMLMsgsRs></QBXML>"
    )
    (status,) = parse_response(text)
    assert status.full_name == "Café Ünïon"
    assert status.request_id == "3"


def test_windows_1252_bytes_are_decoded_as_declared() -> None:
    text = (
        '<?xml version="1.0" encoding="windows-1252"?><QBXML><QBXMLMsgsRs>'
        '<CustomerQueryRs requestID="1" statusCode="0" statusSeverity="Info">'
        "<CustomerRet><ListID>1-2</ListID><Name>Caf\u00e9 \u20ac</Name></CustomerRet>"
        "</CustomerQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (status,) = parse_response(text.encode("cp1252"))
    assert status.records[0].name == "Caf\u00e9 \u20ac"


def test_out_of_order_and_missing_parts_are_tolerated() -> None:
    text = (
        "<QBXML><QBXMLMsgsRs>"
        '<InvoiceAddRs statusSeverity="Info" requestID="9" statusCode="0">'
        "<InvoiceRet><EditSequence>77</EditSequence><RefNumber>1001</RefNumber>"
        "<TxnID>1F-1700000000</TxnID><Unexpected>kept</Unexpected></InvoiceRet></InvoiceAddRs>"
        '<CustomerAddRs requestID="10"/>'
        '<BillAddRs requestID="11" statusCode="1"/>'
        "</QBXMLMsgsRs></QBXML>"
    )
    invoice, customer, bill = parse_response(text)
    assert (invoice.qb_id, invoice.edit_sequence, invoice.ref_number) == (
        "1F-1700000000",
        "77",
        "1001",
    )
    assert invoice.records[0].fields["Unexpected"] == "kept"
    assert customer.status_code == -1
    assert customer.status_severity == "Error"
    assert not customer.ok
    assert bill.status_severity == "Info"  # derived from the code when missing
    assert bill.ok


def test_a_truncated_answer_still_gives_what_arrived() -> None:
    text = (
        '<QBXML><QBXMLMsgsRs><CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info">'
        "<CustomerRet><ListID>1-2</ListID><EditSequence>5</EditSequence>"
    )
    (status,) = parse_response(text)
    assert status.qb_id == "1-2"


def test_message_set_recovery_attributes() -> None:
    text = (
        '<QBXML><QBXMLMsgsRs newMessageSetID="batch-42" messageSetStatusCode="0">'
        '<CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info"/>'
        "</QBXMLMsgsRs></QBXML>"
    )
    message = parse_message(text)
    assert message.new_message_set_id == "batch-42"
    assert message.message_set_status_code == 0
    assert len(message.statuses) == 1


@pytest.mark.parametrize(
    "document",
    [
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        '<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>',
    ],
)
def test_dtds_and_entities_are_refused(document: str) -> None:
    with pytest.raises(UnsafeXml, match="DTD or entity"):
        parse_xml(document)
    with pytest.raises(UnsafeXml, match="DTD or entity"):
        parse_response(document)


def test_not_well_formed_is_refused() -> None:
    with pytest.raises(UnsafeXml, match="not well-formed"):
        parse_xml("<QBXML><unclosed></QBXML>")


def test_a_records_fields_skip_comments_and_keep_repeats_groups_and_empty_leaves() -> None:
    answer = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        '<InvoiceQueryRs requestID="7" statusCode="0" statusSeverity="Info" statusMessage="OK">'
        "<InvoiceRet><!-- first -->"
        "<TxnID>1-1</TxnID><RefNumber><!-- only a comment --></RefNumber>"
        "<CustomerRef><ListID>80-1</ListID><!-- between --><FullName>Ada</FullName></CustomerRef>"
        "<InvoiceLineRet><Desc>one</Desc></InvoiceLineRet><!-- between repeats -->"
        "<InvoiceLineRet><Desc>two</Desc><Amount/></InvoiceLineRet>"
        "<InvoiceLineRet><Desc>three</Desc></InvoiceLineRet>"
        "<Memo>  kept as is  </Memo><?pi ignored?>"
        "</InvoiceRet></InvoiceQueryRs></QBXMLMsgsRs></QBXML>"
    )
    (status,) = parse_response(answer)
    (record,) = status.records
    assert record.kind == "Invoice"
    assert dict(record.fields) == {
        "TxnID": "1-1",
        "RefNumber": "",
        "CustomerRef": {"ListID": "80-1", "FullName": "Ada"},
        "InvoiceLineRet": [{"Desc": "one"}, {"Desc": "two", "Amount": ""}, {"Desc": "three"}],
        "Memo": "  kept as is  ",
    }
    assert (status.qb_id, status.ref_number) == ("1-1", "")


@pytest.mark.parametrize("name", SAMPLES or ["(no samples)"])
def test_a_status_read_without_records_says_what_the_whole_read_says(
    qbxml_reference: Path, name: str
) -> None:
    text = _sample(qbxml_reference, name)
    whole = parse_response(text)
    light = parse_response(text, records=False)
    assert [s.records for s in light] == [()] * len(whole)
    assert light == [replace(s, records=()) for s in whole]


def test_without_records_the_first_records_identity_follows_the_same_rules() -> None:
    answer = (
        '<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>'
        '<CustomerAddRs requestID="1" statusCode="0" statusSeverity="Info" statusMessage="OK">'
        "<CustomerRet><!-- before --><ListID></ListID><TxnID>9-9</TxnID>"
        "<EditSequence>1</EditSequence><EditSequence>2</EditSequence>"
        "<FullName><Part>grouped</Part></FullName>"
        "<RefNumber><!-- only a comment --></RefNumber>"
        "<TimeModified>2024-05-01T10:00:00-05:00</TimeModified>"
        "</CustomerRet>"
        "<CustomerRet><ListID>second</ListID></CustomerRet>"
        "</CustomerAddRs>"
        '<CustomerAddRs requestID="2" statusCode="3100" statusSeverity="Error" '
        'statusMessage="The name is in use."/>'
        "</QBXMLMsgsRs></QBXML>"
    )
    first, refused = parse_response(answer, records=False)
    # An empty ListID gives way to the TxnID; a repeated or grouped element is not text.
    assert first.qb_id == "9-9"
    assert first.edit_sequence is None
    assert first.full_name is None
    assert first.ref_number == ""
    assert first.time_modified == datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=-5)))
    assert first.records == ()
    assert (refused.qb_id, refused.status_code, refused.ok) == (None, 3100, False)
    assert parse_response(answer, records=False) == [
        replace(s, records=()) for s in parse_response(answer)
    ]
