"""Read QuickBooks' answers leniently: real output does not always follow the schema."""

from __future__ import annotations

from dataclasses import dataclass

from connectors.qbxml._xml import parse_xml

__all__ = ["ResponseStatus", "parse_response"]


@dataclass(frozen=True)
class ResponseStatus:
    request_id: str
    request_type: str
    status_code: int
    status_severity: str
    status_message: str
    qb_id: str | None = None
    edit_sequence: str | None = None
    full_name: str | None = None

    @property
    def ok(self) -> bool:
        return self.status_severity != "Error" and self.status_code < 1000


def parse_response(text: str) -> list[ResponseStatus]:
    """One status per ``*Rs`` element, in document order."""
    root = parse_xml(text, recover=True)
    statuses: list[ResponseStatus] = []
    for rs in root.iter():
        tag = rs.tag if isinstance(rs.tag, str) else ""
        if not tag.endswith("Rs") or tag == "QBXMLMsgsRs":
            continue
        ret = next((c for c in rs if isinstance(c.tag, str) and c.tag.endswith("Ret")), None)
        code_text = rs.get("statusCode", "")
        statuses.append(
            ResponseStatus(
                request_id=rs.get("requestID", ""),
                request_type=tag.removesuffix("Rs"),
                status_code=int(code_text) if code_text.lstrip("-").isdigit() else -1,
                status_severity=rs.get("statusSeverity", "Error"),
                status_message=rs.get("statusMessage", ""),
                qb_id=None if ret is None else (ret.findtext("ListID") or ret.findtext("TxnID")),
                edit_sequence=None if ret is None else ret.findtext("EditSequence"),
                full_name=None if ret is None else ret.findtext("FullName"),
            )
        )
    return statuses
