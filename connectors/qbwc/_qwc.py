"""The .qwc file a user adds to the Web Connector for one profile.

The password is never in it: the user types it into the Web Connector once. OwnerID and
FileID are the profile's, stable for its life (changing them forces re-authorisation).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from lxml import etree

from connectors.store import Profile

__all__ = ["QwcError", "render_qwc"]


class QwcError(ValueError):
    """A .qwc the Web Connector would refuse; the message names the field."""


def _check_url(field: str, url: str) -> str:
    parts = urlsplit(url)
    local = parts.hostname in {"localhost", "127.0.0.1"}
    if parts.scheme == "https" or (parts.scheme == "http" and local):
        if not parts.hostname:
            raise QwcError(f"{field}: {url!r} has no host name")
        return url
    raise QwcError(
        f"{field}: {url!r} must be https:// (the Web Connector accepts plain http only for"
        " localhost)"
    )


def render_qwc(
    profile: Profile,
    *,
    url: str,
    support_url: str | None = None,
    app_name: str = "qbsync",
    description: str = "Keeps your business apps and QuickBooks in sync.",
    qb_type: str = "QBFS",
) -> str:
    if qb_type not in ("QBFS", "QBPOS"):
        raise QwcError(f"QBType: {qb_type!r} must be QBFS or QBPOS")
    app_url = _check_url("AppURL", url)
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(app_url))
    support = _check_url("AppSupport", support_url or f"{origin}/support")
    if urlsplit(support).hostname != urlsplit(app_url).hostname:
        raise QwcError("AppSupport: must be on the same host as AppURL (the Web Connector checks)")
    root = etree.Element("QBWCXML")
    for tag, text in (
        ("AppName", f"{app_name} - {profile.name}"),
        ("AppID", ""),
        ("AppURL", app_url),
        ("AppDescription", description),
        ("AppSupport", support),
        ("UserName", profile.username),
        ("OwnerID", profile.owner_id),
        ("FileID", profile.file_id),
        ("QBType", qb_type),
    ):
        etree.SubElement(root, tag).text = text
    scheduler = etree.SubElement(root, "Scheduler")
    etree.SubElement(scheduler, "RunEveryNMinutes").text = str(profile.run_every_minutes)
    for tag, text in (
        ("IsReadOnly", "false"),
        ("PersonalDataPref", "pdpOptional"),
        ("UnattendedModePref", "umpOptional"),
        ("AuthFlags", "0xF"),
    ):
        etree.SubElement(root, tag).text = text
    body = etree.tostring(root, pretty_print=True, encoding="unicode")
    return f'<?xml version="1.0"?>\n{body}'
