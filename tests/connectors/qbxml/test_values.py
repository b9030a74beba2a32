"""Escaping and cleaning: unit cases, then properties over any text, in several entities."""

from __future__ import annotations

import unicodedata
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.qbxml import build_message, build_request, clean_text, escape, parse_xml
from tests.support.xsd import assert_valid_qbxml


def expected_clean(text: str) -> str:
    """What QuickBooks can store, defined independently of the implementation: XML 1.0
    characters minus the C0/C1 controls other than tab, newline and carriage return."""
    return "".join(
        c
        for c in text
        if c in "\t\n\r"
        or (unicodedata.category(c) not in ("Cc", "Cs") and c not in "\ufffe\uffff")
    )


@pytest.mark.parametrize(
    ("text", "escaped"),
    [
        ("plain", "plain"),
        ("A & B", "A &amp; B"),
        ("<b>", "&lt;b&gt;"),
        ('say "hi"', "say &quot;hi&quot;"),
        ("it's", "it's"),
        ("line\r\nbreak", "line&#13;\nbreak"),
        ("caf\u00e9", "caf&#233;"),
        ("\U0001f600", "&#128512;"),
        ("&amp;", "&amp;amp;"),
    ],
)
def test_escape(text: str, escaped: str) -> None:
    assert escape(text) == escaped


def test_clean_text_removes_only_what_quickbooks_cannot_store() -> None:
    assert clean_text("a\x00b\x08c\x0bd\x1fe\x7ff\x80g\x9fh") == "abcdefgh"
    assert clean_text("tab\tnew\nret\r") == "tab\tnew\nret\r"
    assert clean_text("\ud800x\ufffey\uffff") == "xy"
    assert clean_text("\u00e9\u4e2d\U0001f600") == "\u00e9\u4e2d\U0001f600"


@settings(max_examples=300, deadline=None)
@given(text=st.text())
def test_any_text_round_trips_through_xml_as_ascii(text: str) -> None:
    cleaned = clean_text(text)
    assert cleaned == expected_clean(text)
    document = f'<a b="{escape(cleaned)}">{escape(cleaned)}</a>'
    assert document.isascii()
    element = parse_xml(document)
    assert (element.text or "") == cleaned
    # Attribute values are normalised by XML (tab/newline become spaces), but nothing is lost.
    assert len(element.get("b", "")) == len(cleaned)


names = st.text(min_size=1, max_size=41).filter(lambda s: expected_clean(s) != "")
memos = st.text(max_size=300)

# (entity, values around the text, where the text goes)
CARRIERS: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("customer", {}, ("Name",)),
    ("vendor", {}, ("Name",)),
    ("job", {"ParentRef": {"FullName": "Lovelace"}}, ("Name",)),
    ("invoice", {"CustomerRef": {"FullName": "Lovelace"}}, ("Memo",)),
    (
        "estimate",
        {"CustomerRef": {"FullName": "Lovelace"}, "EstimateLineAdd": [{"Desc": "Framing"}]},
        ("Memo",),
    ),
    ("bill", {"VendorRef": {"FullName": "Babbage"}}, ("Memo",)),
    ("receive_payment", {"CustomerRef": {"FullName": "Lovelace"}, "IsAutoApply": True}, ("Memo",)),
    (
        "time_tracking",
        {"EntityRef": {"FullName": "Grace"}, "Duration": "PT1H"},
        ("Notes",),
    ),
]


def _put(values: dict[str, Any], where: tuple[str, ...], text: str) -> dict[str, Any]:
    return {**values, where[0]: text}


@pytest.mark.parametrize(("entity", "values", "where"), CARRIERS, ids=[c[0] for c in CARRIERS])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=names, memo=memos)
def test_names_and_memos_survive_escaping_and_stay_valid(
    qbxml_reference: Path,
    entity: str,
    values: dict[str, Any],
    where: tuple[str, ...],
    name: str,
    memo: str,
) -> None:
    text = name if where[0] == "Name" else memo
    request = build_request(entity, "Add", _put(values, where, text))
    message = build_message([("1", request)], version="13.0")
    assert message.isascii()
    assert_valid_qbxml(message, qbxml_reference)
    body = parse_xml(request)[0]
    stored = body.findtext(where[0])
    if expected_clean(text) or where[0] == "Name":
        assert stored == expected_clean(text)


@settings(max_examples=50, deadline=None)
@given(
    desc=st.text(max_size=200),
    amount=st.decimals(
        places=2, allow_nan=False, allow_infinity=False, min_value=-(10**12), max_value=10**12
    ),
)
def test_invoice_lines_take_any_description_and_amount(desc: str, amount: Decimal) -> None:
    request = build_request(
        "invoice",
        "Add",
        {
            "CustomerRef": {"FullName": "A & B"},
            "TxnDate": date(2024, 1, 31),
            "InvoiceLineAdd": [{"ItemRef": {"FullName": "Labor"}, "Desc": desc, "Amount": amount}],
        },
    )
    line = parse_xml(request)[0].find("InvoiceLineAdd")
    assert line is not None
    assert (line.findtext("Desc") or "") == expected_clean(desc)
    assert Decimal(line.findtext("Amount") or "") == amount
    assert len((line.findtext("Amount") or "").split(".")[1]) == 2
