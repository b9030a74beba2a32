"""Wrap request elements into one qbXML message (``QBXMLMsgsRq``) with requestIDs.

What QuickBooks needs around the requests, and the schema does not check: the
``<?qbxml version="X.Y"?>`` line (always written), ``onError`` (``continueOnError`` by
default: one bad record must not stop the others; ``rollbackOnError`` is in the schema but
QuickBooks refuses it), unique ``requestID`` s (the only way to pair answers with requests),
and ``newMessageSetID`` / ``oldMessageSetID`` for QuickBooks' own error recovery.

Version handling: requests are built without knowing which QuickBooks will read them (they
wait in Kafka); the message is built once the Web Connector has said which versions it
speaks, and elements the negotiated version does not know are removed here, each one
reported by :func:`compose_message`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Sequence
from typing import Literal

from lxml import etree

from connectors.qbxml._build import Built
from connectors.qbxml._errors import QbxmlError, UnsafeXml
from connectors.qbxml._generated import REQUESTS
from connectors.qbxml._parse import parse_message
from connectors.qbxml._spec import FieldSpec, version_key
from connectors.qbxml._values import clean_text, escape
from connectors.qbxml._xml import parse_xml, without_declaration

__all__ = [
    "SUPPORTED_VERSIONS",
    "build_message",
    "compose_message",
    "negotiate_version",
    "reported_versions",
]

# 13.0 and 16.0 are validated against Intuit's XSD; the older ones by leaving out what
# Intuit's reference says appeared later (6.0 is QuickBooks 2007, the oldest that real
# captured traffic shows requests of this shape for).
SUPPORTED_VERSIONS: tuple[str, ...] = (
    "6.0",
    "7.0",
    "8.0",
    "9.0",
    "10.0",
    "11.0",
    "12.0",
    "13.0",
    "16.0",
)

OnError = Literal["continueOnError", "stopOnError"]
_BY_RQ = {request.rq: request for request in REQUESTS.values()}
_VERSION = re.compile(r"\d+\.\d+")


def compose_message(
    requests: Sequence[tuple[str, str]],
    *,
    version: str,
    on_error: OnError = "continueOnError",
    new_message_set_id: str | None = None,
    old_message_set_id: str | None = None,
) -> Built:
    """The whole document, and a warning for each element left out for ``version``.

    ``requests`` are ``(requestID, request element XML)`` pairs, in order. The request XML
    was built by qbsync itself, yet it is read with the hardened parser anyway: it travelled
    through Kafka.
    """
    if version not in SUPPORTED_VERSIONS:
        raise QbxmlError(
            f"qbXML version {version!r} is not one qbsync speaks ({', '.join(SUPPORTED_VERSIONS)})"
        )
    if on_error not in ("continueOnError", "stopOnError"):
        raise QbxmlError(
            f"onError {on_error!r}: use continueOnError or stopOnError"
            " (QuickBooks refuses rollbackOnError)"
        )
    if not requests:
        raise QbxmlError("a qbXML message needs at least one request")
    attributes = f' onError="{on_error}"'
    for name, value in (
        ("newMessageSetID", new_message_set_id),
        ("oldMessageSetID", old_message_set_id),
    ):
        if value is not None:
            if not clean_text(value).strip():
                raise QbxmlError(f"{name} must not be empty")
            attributes += f' {name}="{escape(clean_text(value))}"'
    seen: set[str] = set()
    for request_id, _ in requests:
        if not request_id or request_id in seen:
            raise QbxmlError(f"requestID {request_id!r} is empty or used twice in one message")
        seen.add(request_id)
    together = _read_together([xml for _, xml in requests]) if len(requests) > 1 else None
    elements = list(together) if together is not None else [parse_xml(xml) for _, xml in requests]
    warnings: list[str] = []
    ceiling = version_key(version)
    for (request_id, _), element in zip(requests, elements, strict=True):
        tag = element.tag if isinstance(element.tag, str) else ""
        if not tag.endswith("Rq"):
            raise QbxmlError(f"request {request_id}: <{tag}> is not a qbXML request element")
        request = _BY_RQ.get(tag)
        if request is not None:
            body = element.find(request.body.element) if request.wrapped else element
            if body is not None:
                _prune(body, request.body, ceiling, body.tag, warnings, request_id)
        element.set("requestID", request_id)
    bodies = (
        _serialized_children(together)
        if together is not None
        else "".join(etree.tostring(e, encoding="us-ascii").decode("ascii") for e in elements)
    )
    document = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<?qbxml version="{version}"?>\n'
        f"<QBXML><QBXMLMsgsRq{attributes}>{bodies}</QBXMLMsgsRq></QBXML>"
    )
    return Built(document, tuple(warnings))


def _read_together(xmls: Sequence[str]) -> etree._Element | None:
    """The requests read with the hardened parser as one document: a wrapper whose children
    are the request elements and nothing else, in order. None when that document is not
    exactly the requests, each one element (then each is read alone, whose error names the
    request at fault).

    Why one document: each parse lets go of the GIL a few times, so a 25-request message
    read request by request made ~100 hand-offs of the GIL between a busy gateway's
    threads (docs/gateway-scale.md, "A message's requests read as one document"). Read
    together, the requests stay as apart as when each was a document of its own: a
    processing instruction named for this call alone (no request can forge it) goes
    before, between and after them, and every stretch between two must be one element
    with nothing else beside it but whitespace, comments and processing instructions, as
    a document's prolog and epilogue allow. A request that closed an element another
    opened, or left a comment or CDATA section open, swallows a separator: fewer of them
    at the top, so None."""
    mark = f"qbsync-{secrets.token_hex(8)}"
    separator = f"<?{mark}?>"
    text = separator.join(without_declaration(xml) for xml in xmls)
    try:
        root = parse_xml(f"<requests>{separator}{text}{separator}</requests>")
    except UnsafeXml:
        return None
    # No text before the first node: the first separator follows <requests> at once.
    stretch: list[etree._Element] = []
    separators = 0
    for node in list(root):
        if node.tail is not None and node.tail.strip():
            return None
        # Whitespace between nodes: the parser's remove_blank_text drops what it judges
        # ignorable, by a heuristic; whatever it keeps must not reach the message.
        node.tail = None
        if isinstance(node, etree._ProcessingInstruction) and node.target == mark:
            if separators and len(stretch) != 1:
                return None
            stretch = []
            separators += 1
            root.remove(node)
        elif isinstance(node.tag, str):
            stretch.append(node)
        else:  # a comment or another processing instruction: not part of any request
            root.remove(node)
    if separators != len(xmls) + 1 or stretch:
        return None
    return root


def _serialized_children(parent: etree._Element) -> str:
    """The requests as text, back to back, in one serialization (ASCII: other characters
    as character references, as QuickBooks reads them whatever the code page)."""
    whole = bytes(etree.tostring(parent, encoding="us-ascii", xml_declaration=False)).decode()
    return whole[len("<requests>") : -len("</requests>")]


def build_message(
    requests: Sequence[tuple[str, str]],
    *,
    version: str,
    on_error: OnError = "continueOnError",
    new_message_set_id: str | None = None,
    old_message_set_id: str | None = None,
) -> str:
    """The qbXML document for ``requests``; see :func:`compose_message`."""
    return compose_message(
        requests,
        version=version,
        on_error=on_error,
        new_message_set_id=new_message_set_id,
        old_message_set_id=old_message_set_id,
    ).xml


_NEWEST: dict[int, tuple[FieldSpec, tuple[int, ...]]] = {}


def _newest(spec: FieldSpec) -> tuple[int, ...]:
    """The newest version any element under ``spec`` appeared in (cached per spec)."""
    cached = _NEWEST.get(id(spec))
    if cached is None:
        newest = max(
            [version_key(c.since) for c in spec.children if c.since]
            + [_newest(c) for c in spec.children if c.children],
            default=(),
        )
        cached = _NEWEST[id(spec)] = (spec, newest)
    return cached[1]


def _prune(
    element: etree._Element,
    spec: FieldSpec,
    ceiling: tuple[int, ...],
    path: str,
    warnings: list[str],
    request_id: str,
) -> None:
    """Remove children that the target version does not know (recursively); nothing to do,
    and nothing walked, where everything under ``spec`` is old enough."""
    if _newest(spec) <= ceiling:
        return
    children = spec.by_name
    for child in list(element):
        if not isinstance(child.tag, str):
            continue
        entry = children.get(child.tag)
        if entry is None:
            continue
        field = entry[1]
        if field.since is not None and version_key(field.since) > ceiling:
            element.remove(child)
            warnings.append(
                f"request {request_id}: {path}/{child.tag} left out; qbXML"
                f" {'.'.join(map(str, ceiling))} does not know it (added in {field.since})"
            )
        elif field.children:
            _prune(child, field, ceiling, f"{path}/{child.tag}", warnings, request_id)


def negotiate_version(reported: Iterable[str], preferred: str = "13.0") -> str:
    """The highest version we speak that is not above what the Web Connector reported.

    ``reported`` is the ``SupportedQBXMLVersion`` list of the HCP response, or
    ``qbXMLMajorVers.qbXMLMinorVers``; ``preferred`` caps it (a tenant may pin 13.0).
    Versions are compared as numbers (``"9.0" < "13.0"``); unparsable entries are ignored.
    With nothing usable reported, ``preferred`` is the answer.
    """
    versions = [v.strip() for v in reported if _VERSION.fullmatch(v.strip())]
    ceiling = max((version_key(v) for v in versions), default=version_key(preferred))
    cap = min(ceiling, version_key(preferred))
    ours = [v for v in SUPPORTED_VERSIONS if version_key(v) <= cap]
    return max(ours, key=version_key) if ours else SUPPORTED_VERSIONS[0]


def reported_versions(hcp_response: str, major: str = "", minor: str = "") -> list[str]:
    """What the Web Connector says QuickBooks speaks, for :func:`negotiate_version`.

    The ``SupportedQBXMLVersion`` list of the Host query in ``strHCPResponse`` (sent on the
    first ``sendRequestXML`` of a session); when that is empty or unreadable (some clients
    send nothing), ``qbXMLMajorVers.qbXMLMinorVers``; else nothing.
    """
    versions: list[str] = []
    if hcp_response.strip():
        try:
            statuses = parse_message(hcp_response).statuses
        except UnsafeXml:
            statuses = ()
        for status in statuses:
            for record in status.records:
                found = record.fields.get("SupportedQBXMLVersion")
                items = found if isinstance(found, list) else [found]
                versions += [v.strip() for v in items if isinstance(v, str) and v.strip()]
    if not versions and major.strip().isdigit():
        versions = [f"{major.strip()}.{minor.strip() if minor.strip().isdigit() else 0}"]
    return versions
