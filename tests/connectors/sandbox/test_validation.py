"""Every kind of malformed request is refused whole, as QuickBooks refuses it: HRESULT
0x80040400, no response, nothing changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sandbox import CompanyFile, find_reference
from connectors.sandbox._validation import load_schema
from tests.connectors.sandbox.qbxml_text import customer_add, document, rq

GOOD = document(customer_add("Ada"))

MALFORMED = {
    "not well-formed": "<QBXML><QBXMLMsgsRq>",
    "not xml at all": "this is not xml",
    "empty": "",
    "dtd": (
        '<?xml version="1.0"?><!DOCTYPE QBXML [<!ENTITY e "boom">]>'
        '<?qbxml version="13.0"?><QBXML><QBXMLMsgsRq onError="stopOnError"/></QBXML>'
    ),
    "external entity": (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        '<?qbxml version="13.0"?><QBXML>&e;</QBXML>'
    ),
    "no qbxml version line": GOOD.replace('<?qbxml version="13.0"?>', ""),
    "a version this QuickBooks does not speak": GOOD.replace('version="13.0"', 'version="16.0"'),
    "wrong root": GOOD.replace("<QBXML>", "<QBXMLX>").replace("</QBXML>", "</QBXMLX>"),
    "no message set": document().replace(
        '<QBXMLMsgsRq onError="continueOnError"></QBXMLMsgsRq>', ""
    ),
    "unknown request": document("<CustomerFrobnicateRq><Name>x</Name></CustomerFrobnicateRq>"),
    "elements out of order": document(
        rq("CustomerAdd", "<CompanyName>Acme</CompanyName><Name>Ada</Name>")
    ),
    "unknown element": document(rq("CustomerAdd", "<Name>Ada</Name><Nickname>A</Nickname>")),
    "name too long": document(customer_add("x" * 42)),
    "malformed amount": document(
        rq("CustomerAdd", "<Name>Ada</Name><CreditLimit>12.345</CreditLimit>")
    ),
    "missing onError": GOOD.replace(' onError="continueOnError"', ""),
    "rollbackOnError": GOOD.replace("continueOnError", "rollbackOnError"),
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_requests_are_refused_whole(company: CompanyFile, text: str) -> None:
    response, hresult, message = company.process(text)
    assert (response, hresult) == ("", "0x80040400")
    assert message.startswith(
        "QuickBooks found an error when parsing the provided XML text stream."
    )
    assert company.customers() == []


def test_a_refusal_says_why(company: CompanyFile) -> None:
    _, _, message = company.process(MALFORMED["elements out of order"])
    assert "CompanyName" in message
    _, _, message = company.process(MALFORMED["no qbxml version line"])
    assert "qbxml version" in message


def test_without_a_schema_the_structure_is_still_checked(tmp_path: Path) -> None:
    lenient = CompanyFile(tmp_path / "lenient.db")
    try:
        for name in ("not well-formed", "dtd", "wrong root", "unknown request", "rollbackOnError"):
            assert lenient.process(MALFORMED[name])[1] == "0x80040400", name
        # What only the schema catches goes through without it (and is answered normally).
        assert lenient.process(MALFORMED["elements out of order"])[1] == ""
    finally:
        lenient.close()


def test_older_qbxml_versions_are_accepted(company: CompanyFile) -> None:
    response, hresult, _ = company.process(document(customer_add("Ada"), version="2.0"))
    assert hresult == ""
    assert "CustomerRet" in response


def test_the_reference_folder_is_found_and_the_schema_compiled_once(qbxml_reference: Path) -> None:
    assert find_reference(qbxml_reference) is not None
    assert load_schema(qbxml_reference) is load_schema(qbxml_reference / "xsd" / "13.0")
