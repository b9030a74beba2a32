"""What QuickBooks' request processor refuses before running anything: a document it cannot
parse, one that is not qbXML, one the schema rejects. All of these are refused whole, with
HRESULT 0x80040400 and no response, exactly as QuickBooks does.

Intuit's XSD is read with lxml (fast: a tenth of a second) from the reference folder when one
is given; the four schema files are merged by hand because the hardened parser never follows
an ``xsd:include`` on its own.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from lxml import etree

from connectors.qbxml import UnsafeXml, parse_xml
from connectors.sandbox._errors import SandboxError
from connectors.sandbox._shapes import REQUESTS

__all__ = ["Envelope", "Refused", "find_reference", "load_schema", "read_envelope"]

_XS = "http://www.w3.org/2001/XMLSchema"
_VERSION = re.compile(r"""version\s*=\s*["']([^"']+)["']""")
_ON_ERROR = ("continueOnError", "stopOnError")


class Refused(SandboxError):
    """The whole document is refused: QuickBooks answers with an HRESULT and no response."""


@dataclass(frozen=True)
class Envelope:
    """A document QuickBooks accepted for processing."""

    root: etree._Element
    messages: etree._Element
    version: str
    stop_on_error: bool
    old_message_set_id: str | None
    new_message_set_id: str | None
    include_data: bool


def find_reference(start: Path | None = None) -> Path | None:
    """Intuit's reference folder (``xsd/13.0/...``): ``$QBSYNC_QBXML_REFERENCE``, else a
    ``shared/qbxml`` next to the repository or the current folder, else ``None``."""
    candidates: list[Path] = []
    if os.environ.get("QBSYNC_QBXML_REFERENCE"):
        candidates.append(Path(os.environ["QBSYNC_QBXML_REFERENCE"]))
    here = (start or Path.cwd()).resolve()
    candidates += [base / "shared" / "qbxml" for base in (here, *here.parents)]
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "qbxml")
    return next((c for c in candidates if (c / "xsd" / "13.0").is_dir()), None)


def _schema_file(location: Path, version: str) -> Path:
    if location.is_file():
        return location
    major = version.split(".")[0]
    for candidate in (
        location / "xsd" / version / f"qbxmlops{major}0.xsd",
        location / version / f"qbxmlops{major}0.xsd",
        location / f"qbxmlops{major}0.xsd",
    ):
        if candidate.is_file():
            return candidate
    raise SandboxError(f"no qbXML {version} schema under {location} (expected xsd/{version}/)")


@cache
def _compiled(path: str) -> etree.XMLSchema:
    main = Path(path)
    root = parse_xml(main.read_bytes())
    for include in root.findall(f"{{{_XS}}}include"):
        position = list(root).index(include)
        root.remove(include)
        included = parse_xml((main.parent / include.get("schemaLocation", "")).read_bytes())
        for offset, child in enumerate(list(included)):
            root.insert(position + offset, child)
    return etree.XMLSchema(root)


def load_schema(location: Path, version: str = "13.0") -> etree.XMLSchema:
    """Intuit's schema for ``version`` (13.0 validates every older version too), compiled
    once per process."""
    return _compiled(str(_schema_file(location, version).resolve()))


def _qbxml_version(root: etree._Element) -> str | None:
    node = root.getprevious()
    while node is not None:
        if isinstance(node, etree._ProcessingInstruction) and node.target == "qbxml":
            match = _VERSION.search(node.text or "")
            return match.group(1) if match else None
        node = node.getprevious()
    return None


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def read_envelope(
    text: str,
    *,
    supported: tuple[str, ...],
    schema: etree.XMLSchema | None,
) -> Envelope:
    """Parse and check ``text``; :class:`Refused` says why QuickBooks would not run it."""
    try:
        root = parse_xml(text)
    except UnsafeXml as exc:
        raise Refused(str(exc)) from exc
    version = _qbxml_version(root)
    if version is None:
        raise Refused('the <?qbxml version="..."?> processing instruction is missing')
    if not _key(version) or _key(version) > max(_key(v) for v in supported):
        raise Refused(f"qbXML version {version} is not supported by this QuickBooks")
    if root.tag != "QBXML":
        raise Refused(f"the root element is <{root.tag}>, not <QBXML>")
    messages = root.find("QBXMLMsgsRq")
    if messages is None:
        raise Refused("there is no <QBXMLMsgsRq> (the sandbox runs no other message set)")
    on_error = messages.get("onError")
    if on_error == "rollbackOnError":
        raise Refused("onError=rollbackOnError is not supported by QuickBooks")
    if schema is not None and not schema.validate(root):
        error = schema.error_log.last_error
        raise Refused(f"line {error.line}: {error.message}" if error else "invalid qbXML")
    if on_error not in _ON_ERROR:
        raise Refused('QBXMLMsgsRq needs onError="continueOnError" or "stopOnError"')
    for request in messages:
        if isinstance(request.tag, str) and request.tag not in REQUESTS:
            raise Refused(f"<{request.tag}> is not a qbXML request")
    return Envelope(
        root=root,
        messages=messages,
        version=version,
        stop_on_error=on_error == "stopOnError",
        old_message_set_id=messages.get("oldMessageSetID"),
        new_message_set_id=messages.get("newMessageSetID"),
        include_data=messages.get("responseData", "includeAll") != "includeNone",
    )
