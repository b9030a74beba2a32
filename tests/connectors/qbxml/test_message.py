from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from connectors.qbxml import (
    SUPPORTED_VERSIONS,
    QbxmlError,
    UnsafeXml,
    build_message,
    build_query,
    build_request,
    compose_message,
    negotiate_version,
    parse_xml,
    reported_versions,
)
from tests.support.xsd import assert_valid_qbxml

ADA = build_request("customer", "Add", {"Name": "Ada"})


def test_message_has_version_line_and_continue_on_error() -> None:
    message = build_message([("7", ADA)], version="13.0")
    assert message.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>')
    root = parse_xml(message)
    messages = root.find("QBXMLMsgsRq")
    assert messages is not None
    assert messages.get("onError") == "continueOnError"
    assert messages[0].get("requestID") == "7"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_the_version_line_is_always_there(version: str) -> None:
    assert f'<?qbxml version="{version}"?>' in build_message([("1", ADA)], version=version)


def test_several_requests_keep_their_order_and_ids(qbxml_reference: Path) -> None:
    requests = [
        ("10", ADA),
        ("11", build_request("customer", "Add", {"Name": "Grace"})),
        ("12", build_query("customer", names=["Ada"])),
    ]
    message = build_message(requests, version="13.0", on_error="stopOnError")
    root = parse_xml(message)
    rqs = root.find("QBXMLMsgsRq")
    assert rqs is not None
    assert rqs.get("onError") == "stopOnError"
    assert [(e.tag, e.get("requestID")) for e in rqs] == [
        ("CustomerAddRq", "10"),
        ("CustomerAddRq", "11"),
        ("CustomerQueryRq", "12"),
    ]
    assert_valid_qbxml(message, qbxml_reference)


def test_message_set_ids_for_quickbooks_error_recovery(qbxml_reference: Path) -> None:
    message = build_message(
        [("1", ADA)],
        version="13.0",
        new_message_set_id="batch-42",
        old_message_set_id="batch-41",
    )
    rqs = parse_xml(message).find("QBXMLMsgsRq")
    assert rqs is not None
    assert rqs.get("newMessageSetID") == "batch-42"
    assert rqs.get("oldMessageSetID") == "batch-41"
    assert_valid_qbxml(message, qbxml_reference)
    with pytest.raises(QbxmlError, match="newMessageSetID must not be empty"):
        build_message([("1", ADA)], version="13.0", new_message_set_id=" ")


def test_rollback_on_error_is_refused_as_quickbooks_does() -> None:
    with pytest.raises(QbxmlError, match="QuickBooks refuses rollbackOnError"):
        build_message([("1", ADA)], version="13.0", on_error="rollbackOnError")  # type: ignore[arg-type]


@pytest.mark.parametrize("ids", [["1", "1"], [""]])
def test_request_ids_must_be_unique_and_present(ids: list[str]) -> None:
    with pytest.raises(QbxmlError, match="empty or used twice"):
        build_message([(i, ADA) for i in ids], version="13.0")


def test_a_message_needs_a_request_and_a_known_version() -> None:
    with pytest.raises(QbxmlError, match="at least one request"):
        build_message([], version="13.0")
    with pytest.raises(QbxmlError, match=r"'99\.0' is not one qbsync speaks"):
        build_message([("1", ADA)], version="99.0")


def test_only_request_elements_and_never_a_dtd() -> None:
    with pytest.raises(QbxmlError, match="<CustomerAddRs> is not a qbXML request element"):
        build_message([("1", "<CustomerAddRs/>")], version="13.0")
    with pytest.raises(UnsafeXml, match="DTD"):
        build_message([("1", '<!DOCTYPE x [<!ENTITY e "b">]><CustomerAddRq/>')], version="13.0")


def _body(message: str) -> str:
    """What a message carries between its ``QBXMLMsgsRq`` tags."""
    return message.split(">", 3)[3].split(">", 1)[1].rsplit("</QBXMLMsgsRq>", 1)[0]


@pytest.mark.parametrize("version", ["16.0", "13.0", "11.0"])
def test_requests_read_together_make_the_message_each_would_alone(
    version: str, qbxml_reference: Path
) -> None:
    # A message's requests are read as one document; each request alone (a one-request
    # message) is read as before: the messages must carry the same requests, byte for byte.
    requests = [
        ("1", ADA),
        ("2", build_request("customer", "Add", {"Name": "Caf\u00e9 & <Ada>", "JobTitle": "O"})),
        ("3", '<?xml version="1.0" encoding="windows-1252"?>\n' + ADA),
        ("4", f"  <!-- before -->{ADA}<?note after?>\n"),
        ("5", build_query("customer", names=["Ada"])),
        ("6", ADA.replace("<Name>", "<!-- inside --><Name>")),
    ]
    together = compose_message(requests, version=version)
    alone = [compose_message([r], version=version) for r in requests]
    assert _body(together.xml) == "".join(_body(one.xml) for one in alone)
    assert together.warnings == tuple(w for one in alone for w in one.warnings)
    assert together.xml.isascii()
    if version != "11.0":
        assert_valid_qbxml(together.xml, qbxml_reference, version)


@pytest.mark.parametrize(
    "requests",
    [
        [("1", "<CustomerAddRq>"), ("2", "</CustomerAddRq>")],
        [("1", ADA + ADA), ("2", "")],
        [("1", ADA + ADA), ("2", ADA)],
        [("1", ADA), ("2", "plain text")],
        [("1", ADA + "<!--"), ("2", "-->" + ADA)],
        [("1", "<CustomerAddRq><![CDATA["), ("2", "]]></CustomerAddRq>")],
        [("1", ADA + f"<?qbsync-{'0' * 16}?>" + ADA + "<!--"), ("2", "-->")],
        [("1", ADA), ("2", "</requests><requests>")],
        [("1", ADA), ("2", '<!DOCTYPE x [<!ENTITY e "b">]><CustomerAddRq/>')],
    ],
    ids=[
        "split",
        "two-in-one",
        "two-then-one",
        "text",
        "comment",
        "cdata",
        "forged-mark",
        "wrapper",
        "dtd",
    ],
)
def test_requests_read_together_are_still_each_one_element(
    requests: list[tuple[str, str]],
) -> None:
    # None of these requests is one element alone; most are well-formed XML once joined
    # (an element or a CDATA section across two, two elements in one, a forged separator).
    # Refused, as when every request was read alone.
    with pytest.raises(UnsafeXml):
        compose_message(requests, version="13.0")


def test_the_document_is_ascii_whatever_the_names() -> None:
    café = build_request("customer", "Add", {"Name": "Caf\u00e9 \u00c5 & \u4e2d"})
    message = build_message([("1", café)], version="13.0")
    assert message.isascii()
    assert parse_xml(message).findtext(".//Name") == "Caf\u00e9 \u00c5 & \u4e2d"


def test_elements_the_negotiated_version_does_not_know_are_left_out_and_reported(
    qbxml_reference: Path,
) -> None:
    bill = build_request(
        "bill",
        "Add",
        {
            "VendorRef": {"FullName": "Babbage"},
            "ClassRef": {"FullName": "Remodel"},
            "ExpenseLineAdd": [{"Amount": Decimal("1.00")}],
        },
    )
    customer = build_request(
        "customer", "Add", {"Name": "Ada", "JobTitle": "Owner", "ClassRef": {"FullName": "R"}}
    )
    new = compose_message([("1", bill), ("2", customer)], version="16.0")
    assert new.warnings == ()
    assert_valid_qbxml(new.xml, qbxml_reference, "16.0")
    old = compose_message([("1", bill), ("2", customer)], version="13.0")
    assert old.warnings == (
        "request 1: BillAdd/ClassRef left out; qbXML 13.0 does not know it (added in 16.0)",
    )
    assert_valid_qbxml(old.xml, qbxml_reference, "13.0")
    older = compose_message([("2", customer)], version="11.0")
    assert older.warnings == (
        "request 2: CustomerAdd/ClassRef left out; qbXML 11.0 does not know it (added in 12.0)",
        "request 2: CustomerAdd/JobTitle left out; qbXML 11.0 does not know it (added in 12.0)",
    )
    assert "JobTitle" not in older.xml


@pytest.mark.parametrize(
    ("reported", "preferred", "expected"),
    [
        (["1.0", "2.0", "13.0", "16.0"], "13.0", "13.0"),
        (["16.0"], "16.0", "16.0"),
        (["13.0"], "16.0", "13.0"),
        (["14.0"], "16.0", "13.0"),
        (["15.0", "16.0"], "16.0", "16.0"),
        ([], "13.0", "13.0"),
        (["8.0"], "13.0", "8.0"),
        (["2.0", "7.0", "8.0", "9.0"], "16.0", "9.0"),
        (["12.0", "garbage", ""], "13.0", "12.0"),
        (["3.0"], "13.0", "6.0"),
    ],
)
def test_version_negotiation_picks_highest_not_above_reported(
    reported: list[str], preferred: str, expected: str
) -> None:
    assert negotiate_version(reported, preferred) == expected


def test_versions_compare_as_numbers_not_text() -> None:
    assert negotiate_version(["9.0", "10.0"], "16.0") == "10.0"


def test_reported_versions_from_the_hcp_response_or_the_major_and_minor(
    qbxml_reference: Path,
) -> None:
    hcp = (qbxml_reference / "samples" / "strHCPResponse_Host_Company_Preferences.xml").read_text()
    versions = reported_versions(hcp, "13", "0")
    assert versions[:3] == ["1.0", "1.1", "2.0"]
    assert versions[-1] == "13.0"
    assert negotiate_version(versions, "16.0") == "13.0"
    assert reported_versions("", "12", "0") == ["12.0"]
    assert reported_versions("<not xml", "8", "") == ["8.0"]
    assert reported_versions("", "", "") == []
