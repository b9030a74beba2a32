"""qbXML: build requests in the exact element order of Intuit's schema; parse answers leniently."""

from connectors.qbxml._build import build_request
from connectors.qbxml._entities import ENTITIES, EntitySpec, FieldSpec
from connectors.qbxml._errors import FieldError, QbxmlError, UnsafeXml
from connectors.qbxml._message import build_message, negotiate_version
from connectors.qbxml._parse import ResponseStatus, parse_response
from connectors.qbxml._xml import parse_xml

__all__ = [
    "ENTITIES",
    "EntitySpec",
    "FieldError",
    "FieldSpec",
    "QbxmlError",
    "ResponseStatus",
    "UnsafeXml",
    "build_message",
    "build_request",
    "negotiate_version",
    "parse_response",
    "parse_xml",
]
