"""The only XML parser configuration in qbsync: no DTD, no entities, no network.

Every XML document that reaches us from outside (SOAP envelopes, qbXML responses, qbXML
requests in the sandbox) is read through :func:`parse_xml`.
"""

from __future__ import annotations

import re

from lxml import etree

from connectors.qbxml._errors import UnsafeXml

__all__ = ["parse_xml"]

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _parser(*, recover: bool) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=True,
        recover=recover,
    )


def parse_xml(text: str | bytes, *, recover: bool = False) -> etree._Element:
    """Parse ``text``; refuse DTDs and entity declarations outright.

    ``str`` input may still carry an encoding declaration (QuickBooks sometimes says
    windows-1252 about text the Web Connector already decoded): it is dropped, since the
    characters are already decoded.
    """
    if isinstance(text, str):
        text = _DECLARATION.sub("", text, count=1).encode("utf-8")
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        raise UnsafeXml("XML with a DTD or entity declaration is refused")
    try:
        root = etree.fromstring(text, _parser(recover=recover))
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise UnsafeXml("empty XML document")
    return root
