"""Read QuickBooks' answers leniently: real output does not always follow the schema.

Requests are validated strictly; answers are not, because refusing one would lose what
QuickBooks did. So: the hardened parser in recover mode (no DTD, no entities, no network;
a ``windows-1252`` declaration is honoured on bytes and ignored on already-decoded text),
elements found by name wherever they sit, missing attributes given safe defaults (an
unknown status code is -1 and never "ok"), unknown elements kept as they are.

Every ``*Rs`` becomes a :class:`ResponseStatus`: the status (code, severity, message,
request id), the returned objects (each ``*Ret`` as a :class:`Record`; or, asked for
statuses only, just the first one's identifiers) and the iterator state (``iteratorID``,
``iteratorRemainingCount``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lxml import etree

from connectors.qbxml._catalog import Explanation, explain
from connectors.qbxml._xml import parse_xml

__all__ = [
    "Record",
    "ResponseMessage",
    "ResponseStatus",
    "element_fields",
    "parse_message",
    "parse_response",
]


def _timestamp(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class Record:
    """One returned object (``CustomerRet``, ``InvoiceRet`` ...).

    ``fields`` is the whole element as nested dicts: text for a leaf, a dict for a group, a
    list when an element repeats (``InvoiceLineRet`` ...). The common identifiers are also
    given as attributes.
    """

    kind: str
    fields: Mapping[str, Any]

    def _text(self, name: str) -> str | None:
        value = self.fields.get(name)
        return value if isinstance(value, str) else None

    @property
    def qb_id(self) -> str | None:
        """ListID for list records, TxnID for transactions."""
        return self._text("ListID") or self._text("TxnID")

    @property
    def edit_sequence(self) -> str | None:
        return self._text("EditSequence")

    @property
    def name(self) -> str | None:
        return self._text("Name")

    @property
    def full_name(self) -> str | None:
        return self._text("FullName")

    @property
    def ref_number(self) -> str | None:
        return self._text("RefNumber")

    @property
    def is_active(self) -> bool | None:
        value = self._text("IsActive")
        return None if value is None else value.strip().lower() == "true"

    @property
    def time_created(self) -> datetime | None:
        return _timestamp(self._text("TimeCreated"))

    @property
    def time_modified(self) -> datetime | None:
        return _timestamp(self._text("TimeModified"))

    @property
    def time_deleted(self) -> datetime | None:
        """A ``TxnDeletedRet``'s time of deletion."""
        return _timestamp(self._text("TimeDeleted"))


@dataclass(frozen=True)
class ResponseStatus:
    """The answer to one request. The first record's identifiers are repeated as
    ``qb_id``/``edit_sequence``/``full_name``/... for the common one-record answers."""

    request_id: str
    request_type: str
    status_code: int
    status_severity: str
    status_message: str
    qb_id: str | None = None
    edit_sequence: str | None = None
    full_name: str | None = None
    ref_number: str | None = None
    time_modified: datetime | None = None
    records: tuple[Record, ...] = ()
    iterator_id: str | None = None
    iterator_remaining_count: int | None = None
    ret_count: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ok(self) -> bool:
        """Info and warnings are fine (1 = "found nothing"); errors and unknown codes not."""
        return self.status_severity != "Error" and 0 <= self.status_code < 1000

    @property
    def more(self) -> bool:
        """An iterator has more pages: send ``iterator="Continue"`` with :attr:`iterator_id`."""
        return bool(self.iterator_id) and (self.iterator_remaining_count or 0) > 0

    def explain(self) -> Explanation:
        """What the status code means and what to do, from the catalog."""
        return explain(self.status_code, self.status_message)


@dataclass(frozen=True)
class ResponseMessage:
    """A whole answer: the statuses, and the message-set recovery attributes if any."""

    statuses: tuple[ResponseStatus, ...]
    new_message_set_id: str | None = None
    message_set_status_code: int | None = None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def _severity(given: str | None, code: int) -> str:
    if given:
        return given.strip()
    if code < 0 or code >= 1000:
        return "Error"
    return "Warn" if code >= 500 else "Info"


def _value(element: etree._Element) -> Any:
    # One pass; a leaf's text taken without a call (most of a *Ret's elements are leaves,
    # and this ran for every answer a busy gateway reads).
    result: dict[str, Any] | None = None
    for child in element:
        tag = child.tag
        if not isinstance(tag, str):  # a comment or a processing instruction
            continue
        value = _value(child) if len(child) else (child.text or "")
        if result is None:
            result = {tag: value}
        elif tag in result:
            previous = result[tag]
            if isinstance(previous, list):
                previous.append(value)
            else:
                result[tag] = [previous, value]
        else:
            result[tag] = value
    return (element.text or "") if result is None else result


def element_fields(element: etree._Element) -> dict[str, Any]:
    """A ``*Ret`` element as nested dicts (what :attr:`Record.fields` holds)."""
    value = _value(element)
    return value if isinstance(value, dict) else {}


def _record(element: etree._Element) -> Record:
    value = _value(element)
    return Record(str(element.tag).removesuffix("Ret"), value if isinstance(value, dict) else {})


# What :class:`ResponseStatus` repeats from the first record.
_IDENTITY = frozenset({"ListID", "TxnID", "EditSequence", "FullName", "RefNumber", "TimeModified"})


def _identity(ret: etree._Element) -> Record:
    """The first record with only its identifying fields, each as ``Record.fields`` would
    hold it: a leaf's text; a group or a repeated element as something that is not text."""
    found: dict[str, Any] = {}
    for child in ret:
        tag = child.tag
        if tag not in _IDENTITY:  # a comment's tag is a function: never in the set
            continue
        leaf = not len(child) or not any(isinstance(grand.tag, str) for grand in child)
        found[tag] = (child.text or "") if leaf and tag not in found else None
    return Record(str(ret.tag).removesuffix("Ret"), found)


def _status(rs: etree._Element, whole: bool) -> ResponseStatus:
    tag = str(rs.tag)
    code = _int(rs.get("statusCode"))
    code = -1 if code is None else code
    rets = [child for child in rs if isinstance(child.tag, str) and child.tag.endswith("Ret")]
    records = tuple(_record(ret) for ret in rets) if whole else ()
    first = (records[0] if whole else _identity(rets[0])) if rets else None
    return ResponseStatus(
        request_id=rs.get("requestID", ""),
        request_type=tag.removesuffix("Rs"),
        status_code=code,
        status_severity=_severity(rs.get("statusSeverity"), code),
        status_message=rs.get("statusMessage", ""),
        qb_id=None if first is None else first.qb_id,
        edit_sequence=None if first is None else first.edit_sequence,
        full_name=None if first is None else first.full_name,
        ref_number=None if first is None else first.ref_number,
        time_modified=None if first is None else first.time_modified,
        records=records,
        iterator_id=rs.get("iteratorID") or None,
        iterator_remaining_count=_int(rs.get("iteratorRemainingCount")),
        ret_count=_int(rs.get("retCount")),
        attributes=dict(rs.attrib),
    )


def parse_message(text: str | bytes, *, records: bool = True) -> ResponseMessage:
    """Parse a whole answer (``<QBXML><QBXMLMsgsRs>...``).

    ``records=False`` leaves every status's :attr:`~ResponseStatus.records` empty and reads
    only the first record's identifiers (``qb_id``, ``edit_sequence`` ...), by the same
    rules: what settling a batch of writes uses, in about 0.8 of the time for full records
    (docs/gateway-scale.md, "Where a call's CPU goes, by thread and by function").
    """
    root = parse_xml(text, recover=True)
    messages = root if root.tag == "QBXMLMsgsRs" else root.find("QBXMLMsgsRs")
    if messages is not None:
        candidates = [c for c in messages if isinstance(c.tag, str)]
    else:
        # Not the usual envelope: take every *Rs wherever it is.
        candidates = [e for e in root.iter() if isinstance(e.tag, str)]
    statuses = tuple(
        _status(rs, records)
        for rs in candidates
        if rs.tag.endswith("Rs") and rs.tag != "QBXMLMsgsRs"
    )
    return ResponseMessage(
        statuses,
        new_message_set_id=None if messages is None else messages.get("newMessageSetID"),
        message_set_status_code=None
        if messages is None
        else _int(messages.get("messageSetStatusCode")),
    )


def parse_response(text: str | bytes, *, records: bool = True) -> list[ResponseStatus]:
    """One status per ``*Rs`` element, in document order (``records``: as
    :func:`parse_message`)."""
    return list(parse_message(text, records=records).statuses)
