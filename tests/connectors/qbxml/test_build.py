from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.qbxml import FieldError, build_message, build_request, parse_xml
from tests.support.xsd import assert_valid_qbxml

FULL_CUSTOMER = {
    "Name": "Lovelace & Sons",
    "IsActive": True,
    "CompanyName": "Lovelace & Sons <Ltd>",
    "Salutation": "Ms.",
    "FirstName": "Ada",
    "MiddleName": "K",
    "LastName": "Lovelace",
    "JobTitle": "Owner",
    "BillAddress": {"Addr1": "1 Main St", "City": "London", "State": "LDN", "PostalCode": "N1"},
    "ShipAddress": {"Addr1": "2 Side St", "Country": "UK"},
    "PrintAs": "Lovelace",
    "Phone": "555-0100",
    "Email": "ada@example.com",
}


@pytest.mark.parametrize("version", ["13.0", "16.0"])
def test_customer_add_and_mod_are_valid_against_intuits_schema(
    qbxml_reference: Path, version: str
) -> None:
    add = build_request("customer", "Add", FULL_CUSTOMER)
    mod = build_request(
        "customer", "Mod", FULL_CUSTOMER, qb_id="80000001-1700000000", edit_sequence="1700000000"
    )
    message = build_message([("1", add), ("2", mod)], version=version)
    assert_valid_qbxml(message, qbxml_reference, version)


def test_values_come_out_in_schema_order_whatever_order_they_come_in(
    qbxml_reference: Path,
) -> None:
    shuffled = dict(reversed(list(FULL_CUSTOMER.items())))
    message = build_message([("1", build_request("customer", "Add", shuffled))], version="13.0")
    assert_valid_qbxml(message, qbxml_reference)


def test_mod_starts_with_list_id_and_edit_sequence() -> None:
    mod = parse_xml(build_request("customer", "Mod", {"Name": "X"}, qb_id="1-2", edit_sequence="9"))
    body = mod.find("CustomerMod")
    assert body is not None
    assert [child.tag for child in body][:3] == ["ListID", "EditSequence", "Name"]
    assert body.findtext("EditSequence") == "9"


def test_too_long_name_names_the_field_and_the_value() -> None:
    with pytest.raises(FieldError, match=r"CustomerAdd/Name: 'x{42}' is 42 characters; .* 41"):
        build_request("customer", "Add", {"Name": "x" * 42})


def test_too_long_nested_field_names_its_path() -> None:
    with pytest.raises(FieldError, match=r"CustomerAdd/BillAddress/City"):
        build_request("customer", "Add", {"Name": "A", "BillAddress": {"City": "c" * 32}})


def test_unknown_element_is_an_error_not_silently_dropped() -> None:
    with pytest.raises(FieldError, match=r"unknown element.*Nmae"):
        build_request("customer", "Add", {"Nmae": "typo"})


def test_mod_without_edit_sequence_is_refused() -> None:
    with pytest.raises(FieldError, match="needs ListID and EditSequence"):
        build_request("customer", "Mod", {"Name": "A"}, qb_id="1-2")


def test_control_characters_are_removed_tabs_and_newlines_kept() -> None:
    request = parse_xml(build_request("customer", "Add", {"Name": "A\x00B\x07C", "Email": "a\tb"}))
    assert request.findtext("CustomerAdd/Name") == "ABC"
    assert request.findtext("CustomerAdd/Email") == "a\tb"


def test_message_has_version_line_and_continue_on_error() -> None:
    message = build_message(
        [("7", build_request("customer", "Add", {"Name": "A"}))], version="13.0"
    )
    assert message.startswith('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>')
    root = parse_xml(message)
    messages = root.find("QBXMLMsgsRq")
    assert messages is not None
    assert messages.get("onError") == "continueOnError"
    assert messages[0].get("requestID") == "7"


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=41
).filter(
    lambda s: (
        s.strip(
            "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f\ufffe\uffff"
        )
        != ""
    )
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, memo=st.text(max_size=200))
def test_any_text_survives_escaping_and_stays_valid(
    qbxml_reference: Path, name: str, memo: str
) -> None:
    request = build_request("customer", "Add", {"Name": name, "Email": memo[:1023]})
    message = build_message([("1", request)], version="13.0")
    assert_valid_qbxml(message, qbxml_reference)
    parsed = parse_xml(message)
    stored = parsed.findtext("QBXMLMsgsRq/CustomerAddRq/CustomerAdd/Name")
    expected = "".join(c for c in name if c in "\t\n\r" or not (ord(c) < 32 or c in "\ufffe\uffff"))
    assert stored == expected
