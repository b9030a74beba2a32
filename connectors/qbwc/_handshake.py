"""The handshake: what the gateway says of a Web Connector's version, and what it learns of
QuickBooks' (``strHCPResponse``). Pure."""

from __future__ import annotations

from typing import Any

from connectors.qbxml import UnsafeXml, parse_xml, reported_versions

__all__ = ["client_version_answer", "host_info"]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def client_version_answer(version: str, minimum: str, refuse_below: str) -> str:
    """``""`` go on, ``W:`` warn and go on, ``E:`` refuse (the Web Connector shows it)."""
    current = _version_tuple(version)
    if not current:
        return ""
    if refuse_below and current < _version_tuple(refuse_below):
        return (
            f"E:This Web Connector ({version}) is too old for qbsync; install version"
            f" {refuse_below} or later from Intuit, then try again."
        )
    if current < _version_tuple(minimum):
        return f"W:This Web Connector ({version}) is older than {minimum}; please update it."
    return ""


def host_info(hcp_response: str, major: str, minor: str) -> tuple[list[str], dict[str, Any] | None]:
    """The qbXML versions QuickBooks reports, and what the profile remembers of its host
    (None when ``strHCPResponse`` is empty or unreadable: it arrives only on a session's
    first call, and some clients leave it empty; then major/minor are all there is)."""
    reported = reported_versions(hcp_response, major, minor)
    if not hcp_response.strip():
        return reported, None
    try:
        root = parse_xml(hcp_response, recover=True)
    except UnsafeXml:
        return reported, None
    if root is None:
        return reported, None
    return reported, {
        "supported_versions": reported,
        "product": (root.findtext(".//ProductName") or "").strip(),
        "country": root.findtext(".//Country") or "",
        "company_name": root.findtext(".//CompanyName") or "",
    }
