from __future__ import annotations

from pathlib import Path

import pytest

from connectors.qbxml import UnsafeXml, negotiate_version, parse_response, parse_xml


def test_real_customer_add_response(qbxml_reference: Path) -> None:
    text = (qbxml_reference / "samples" / "responses-customer_add_rs.xml").read_text()
    (status,) = parse_response(text)
    assert status.ok
    assert status.request_type == "CustomerAdd"
    assert status.qb_id == "F540000-1197683154"
    assert status.edit_sequence == "1197683154"


def test_real_error_response(qbxml_reference: Path) -> None:
    text = (qbxml_reference / "samples" / "qbwc_customer_query_response_error.xml").read_text()
    (status,) = parse_response(text)
    assert status.status_code == 3120
    assert not status.ok
    assert "cannot be found" in status.status_message


def test_warning_is_not_a_failure(qbxml_reference: Path) -> None:
    text = (qbxml_reference / "samples" / "qbwc_customer_query_response_warn.xml").read_text()
    (status,) = parse_response(text)
    assert status.status_severity == "Warn"
    assert status.ok


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


def test_not_well_formed_is_refused() -> None:
    with pytest.raises(UnsafeXml, match="not well-formed"):
        parse_xml("<QBXML><unclosed></QBXML>")


@pytest.mark.parametrize(
    ("reported", "preferred", "expected"),
    [
        (["1.0", "2.0", "13.0", "16.0"], "13.0", "13.0"),
        (["16.0"], "16.0", "16.0"),
        (["13.0"], "16.0", "13.0"),
        (["14.0"], "16.0", "13.0"),
        ([], "13.0", "13.0"),
    ],
)
def test_version_negotiation_picks_highest_not_above_reported(
    reported: list[str], preferred: str, expected: str
) -> None:
    assert negotiate_version(reported, preferred) == expected
