"""Screening a SOAP request before spyne sees it: pure, no I/O.

Whatever arrives (UTF-16, latin-1 bytes, an unknown charset, nothing, a DTD, a Fault sent as a
request, 50 000 nested elements), the outcome is either one clean UTF-8 SOAP 1.1 envelope
with exactly one operation element in its body, or a :class:`Refused` whose reason the
gateway answers as a SOAP fault. spyne then only ever reads documents our own hardened parser
(:func:`connectors.qbxml.parse_xml`) has accepted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from connectors.qbxml import UnsafeXml, decode_xml, parse_xml

__all__ = ["SOAP_ENV", "Refused", "screen_envelope", "screen_root"]

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_CHARSET = re.compile(r";\s*charset\s*=\s*\"?([^\";\s]*)\"?", re.IGNORECASE)


@dataclass(frozen=True)
class Refused(Exception):
    """A request answered with a SOAP fault: ``code`` for logs and metrics (a fixed word,
    never input), ``reason`` for the client, ``status`` for HTTP."""

    code: str
    reason: str
    status: str = "500 Internal Server Error"

    def __str__(self) -> str:
        return self.reason


def _charset(content_type: str) -> str:
    found = _CHARSET.search(content_type or "")
    return found.group(1).strip() if found else ""


def screen_envelope(body: bytes, content_type: str) -> bytes:
    """The request as clean UTF-8 XML, or :class:`Refused`."""
    root = screen_root(body, content_type)
    return bytes(etree.tostring(root, encoding="utf-8", xml_declaration=True))


def screen_root(body: bytes, content_type: str) -> etree._Element:
    """The request's envelope as parsed by the hardened parser, or :class:`Refused`."""
    if not body.strip():
        raise Refused("empty", "The request is empty: expected a SOAP 1.1 envelope.")
    charset = _charset(content_type)
    try:
        root = parse_xml(decode_xml(body, charset) if charset else body)
    except UnsafeXml as exc:
        text = str(exc)
        if "DTD" in text:
            raise Refused("dtd", "DTDs are not accepted.", "400 Bad Request") from exc
        if "encoding" in text or "not valid" in text:
            raise Refused("encoding", f"Unreadable request: {text}.") from exc
        raise Refused("not-xml", f"Unreadable request: {text}.") from exc
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise Refused("not-envelope", "Expected a SOAP 1.1 Envelope as the document element.")
    body_element = root.find(f"{{{SOAP_ENV}}}Body")
    calls = [] if body_element is None else [e for e in body_element if isinstance(e.tag, str)]
    if len(calls) != 1:
        raise Refused("no-operation", "The SOAP Body must hold exactly one operation.")
    if calls[0].tag == f"{{{SOAP_ENV}}}Fault":
        raise Refused("fault", "A SOAP Fault is an answer, not a request.")
    return root
