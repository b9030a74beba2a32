"""The request screen and the library log policy, as pure functions (no HTTP)."""

from __future__ import annotations

import logging
import sys

import pytest
from lxml import etree

from connectors.qbwc._envelope import SOAP_ENV, Refused, screen_envelope
from connectors.qbwc._log_policy import install_log_policy, withhold
from connectors.qbxml import UnsafeXml, parse_xml

CALL = (
    f'<soap:Envelope xmlns:soap="{SOAP_ENV}" xmlns:q="http://developer.intuit.com/">'
    "<soap:Body><q:clientVersion><q:strVersion>caf\u00e9</q:strVersion></q:clientVersion>"
    "</soap:Body></soap:Envelope>"
)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (CALL.encode("utf-8"), "text/xml; charset=utf-8"),
        (CALL.encode("utf-16"), "text/xml; charset=utf-16"),
        (CALL.encode("utf-16"), "text/xml"),  # the byte order mark says it
        (CALL.encode("latin-1"), 'text/xml; charset="ISO-8859-1"'),
        (('<?xml version="1.0" encoding="latin-1"?>' + CALL).encode("latin-1"), "text/xml"),
        (CALL.encode("utf-32"), "text/xml"),
    ],
)
def test_any_honestly_encoded_call_becomes_the_same_utf8_document(
    body: bytes, content_type: str
) -> None:
    clean = screen_envelope(body, content_type)
    root = etree.fromstring(clean)
    assert root.findtext(".//{http://developer.intuit.com/}strVersion") == "caf\u00e9"


@pytest.mark.parametrize(
    ("body", "content_type", "code"),
    [
        (b"", "text/xml", "empty"),
        (b"  \n", "text/xml", "empty"),
        (CALL.encode(), "text/xml; charset=bogus-42", "encoding"),
        (CALL.encode("latin-1"), "text/xml; charset=utf-8", "encoding"),
        (CALL.encode("utf-16"), "text/xml; charset=utf-8", "encoding"),
        (("<!DOCTYPE x>" + CALL).encode("utf-16"), "text/xml", "dtd"),
        (("<!doctype x>" + CALL).encode("utf-32"), "text/xml", "dtd"),
        (b"<a><b></a>", "text/xml", "not-xml"),
        (b"<authenticate/>", "text/xml", "not-envelope"),
        (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body/></soap:Envelope>'.encode(),
            "",
            "no-operation",
        ),
        (
            f'<soap:Envelope xmlns:soap="{SOAP_ENV}"><soap:Body><soap:Fault/></soap:Body>'
            "</soap:Envelope>".encode(),
            "",
            "fault",
        ),
    ],
)
def test_everything_else_is_refused_with_a_reason(
    body: bytes, content_type: str, code: str
) -> None:
    with pytest.raises(Refused) as refused:
        screen_envelope(body, content_type)
    assert refused.value.code == code
    assert refused.value.reason


def test_a_dtd_hidden_from_a_byte_search_is_still_refused() -> None:
    document = '<!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>'
    assert b"<!DOCTYPE" not in document.encode("utf-16")
    with pytest.raises(UnsafeXml, match="DTD"):
        parse_xml(document.encode("utf-16"))


def test_a_library_record_keeps_its_format_string_and_loses_its_values() -> None:
    try:
        raise ValueError("<strPassword>hunter2</strPassword>")
    except ValueError:
        record = logging.LogRecord(
            "spyne.protocol",
            logging.ERROR,
            __file__,
            1,
            "%r in string %r",
            ("e", "hunter2"),
            sys.exc_info(),
        )
    withhold(record)
    text = logging.Formatter("%(message)s").format(record)
    assert "hunter2" not in text
    assert text.startswith("%r in string %r [values withheld: str, str] [ValueError]")
    bare = logging.LogRecord("spyne", logging.ERROR, __file__, 1, ValueError("hunter2"), None, None)
    withhold(bare)
    assert "hunter2" not in bare.getMessage()


def test_the_policy_covers_every_logger_of_the_libraries_present() -> None:
    logging.getLogger("spyne.some.child")
    assert install_log_policy() >= 2
    assert logging.getLogger("spyne.some.child").filters
    assert logging.getLogger("waitress").filters
