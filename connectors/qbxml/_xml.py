"""The only XML parser configuration in qbsync: no DTD, no entities, no network.

Every XML document that reaches us from outside (SOAP envelopes, qbXML responses, qbXML
requests in the sandbox) is read through :func:`parse_xml`.

DTDs and entity declarations are refused on the *characters* of the document, not its bytes:
bytes are decoded first by what they say about themselves (a byte order mark, UTF-16's
``<?`` pattern, the XML declaration's encoding), so a UTF-16 or UTF-32 DTD is seen as well as
a UTF-8 one; and the parsed tree is checked again for a document type, whatever got past.
"""

from __future__ import annotations

import codecs
import re

from lxml import etree

from connectors.qbxml._errors import UnsafeXml

__all__ = ["decode_xml", "parse_xml", "without_declaration"]

_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
)
_REFUSED = ("<!doctype", "<!entity")


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


def decode_xml(data: bytes, charset: str = "") -> str:
    """The characters of an XML document given as bytes: ``charset`` (from a Content-Type)
    when given, else what the bytes say about themselves, else UTF-8. :class:`UnsafeXml`
    names the encoding when the bytes are not valid in it or it is unknown."""
    encoding = charset
    if not encoding:
        encoding = next((name for mark, name in _MARKS if data.startswith(mark)), "")
    if not encoding:
        declared = _DECLARED.match(data)
        encoding = declared.group(1).decode("ascii") if declared else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise UnsafeXml(f"unknown character encoding {encoding!r}; send UTF-8") from exc
    try:
        return data.decode(encoding).lstrip("\ufeff")
    except UnicodeDecodeError as exc:
        raise UnsafeXml(
            f"the document is not valid {encoding} (byte {exc.start}); send UTF-8 and say so"
            " in the Content-Type"
        ) from exc


def without_declaration(text: str) -> str:
    """``text`` without a leading XML declaration (its encoding no longer applies to
    characters already decoded)."""
    return _DECLARATION.sub("", text, count=1)


def parse_xml(text: str | bytes, *, recover: bool = False) -> etree._Element:
    """Parse ``text``; refuse DTDs and entity declarations outright.

    ``str`` input may still carry an encoding declaration (QuickBooks sometimes says
    windows-1252 about text the Web Connector already decoded): it is dropped, since the
    characters are already decoded.
    """
    if isinstance(text, bytes):
        text = decode_xml(text)
    text = without_declaration(text)
    if "<!" in text and any(word in text.lower() for word in _REFUSED):
        raise UnsafeXml("XML with a DTD or entity declaration is refused")
    try:
        root = etree.fromstring(text.encode("utf-8"), _parser(recover=recover))
    except etree.XMLSyntaxError as exc:
        raise UnsafeXml(f"not well-formed XML: {exc}") from exc
    if root is None:
        raise UnsafeXml("empty XML document")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise UnsafeXml("XML with a DTD or entity declaration is refused")
    return root
