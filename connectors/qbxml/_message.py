"""Wrap request elements into one qbXML message (``QBXMLMsgsRq``) with requestIDs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from lxml import etree

from connectors.qbxml._xml import parse_xml

__all__ = ["SUPPORTED_VERSIONS", "build_message", "negotiate_version"]

SUPPORTED_VERSIONS: tuple[str, ...] = ("13.0", "16.0")


def build_message(
    requests: Sequence[tuple[str, str]],
    *,
    version: str,
    on_error: Literal["continueOnError", "stopOnError"] = "continueOnError",
) -> str:
    """``requests`` are ``(requestID, request element XML)`` pairs, in order.

    The request XML was built by qbsync itself (``build_request``), yet it is parsed with the
    hardened parser anyway: it travelled through Kafka.
    """
    root = etree.Element("QBXML")
    messages = etree.SubElement(root, "QBXMLMsgsRq", onError=on_error)
    for request_id, request_xml in requests:
        element = parse_xml(request_xml)
        element.set("requestID", request_id)
        messages.append(element)
    body = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n{body}'


def negotiate_version(reported: Iterable[str], preferred: str = "13.0") -> str:
    """The highest version we speak that is not above what the Web Connector reported."""

    def key(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in version.split(".") if part.isdigit())

    ceiling = max((key(v) for v in reported if key(v)), default=key(preferred))
    ours = [v for v in SUPPORTED_VERSIONS if key(v) <= min(ceiling, key(preferred))]
    return max(ours, key=key) if ours else SUPPORTED_VERSIONS[0]
