"""Intuit's webhooks (``../shared/qbo/README.md``, "Reading changes back"): the
``intuit-signature`` header is the base64 HMAC-SHA256 of the raw body keyed with the app's
verifier token. A verified notification is only a hint to read (CDC or GET), never data."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from core.errors import QbsyncError

__all__ = [
    "DataChange",
    "InvalidSignature",
    "WebhookApp",
    "parse_notifications",
    "sign",
    "verify",
    "webhook_app",
]

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
WebhookApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
_MAX_BODY = 1024 * 1024


class InvalidSignature(QbsyncError):
    """The body was not signed with the app's verifier token (or was changed)."""


@dataclass(frozen=True)
class DataChange:
    realm_id: str
    entity: str
    entity_id: str
    operation: str  # Create, Update, Delete, Merge, Void
    last_updated: str


def sign(body: bytes, verifier: SecretStr) -> str:
    digest = hmac.new(verifier.get_secret_value().encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, signature: str | None, verifier: SecretStr) -> None:
    if not signature or not hmac.compare_digest(sign(body, verifier), signature.strip()):
        raise InvalidSignature("the intuit-signature header does not match the body")


def parse_notifications(body: bytes) -> list[DataChange]:
    """The changes a verified notification names; malformed items are skipped, a body that
    is not a notification at all is refused."""
    try:
        document = json.loads(body)
        notifications = document["eventNotifications"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError("not an Intuit webhook notification (no eventNotifications)") from exc
    changes: list[DataChange] = []
    for notification in notifications if isinstance(notifications, list) else []:
        if not isinstance(notification, dict):
            continue
        realm = str(notification.get("realmId", ""))
        entities = (notification.get("dataChangeEvent") or {}).get("entities") or []
        for entity in entities:
            if isinstance(entity, dict) and realm and entity.get("name") and entity.get("id"):
                changes.append(
                    DataChange(
                        realm,
                        str(entity["name"]),
                        str(entity["id"]),
                        str(entity.get("operation", "")),
                        str(entity.get("lastUpdated", "")),
                    )
                )
    return changes


def webhook_app(
    verifier: SecretStr, hint: Callable[[list[DataChange]], None]
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """The WSGI endpoint Intuit posts notifications to: a bad signature is refused (401), a
    good one is answered at once and handed to ``hint`` (which schedules a CDC read of the
    realm; it must not do the read itself, Intuit wants a fast answer)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Content-Length", "0")])
            return [b""]
        length = min(int(environ.get("CONTENT_LENGTH") or 0), _MAX_BODY)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            verify(body, environ.get("HTTP_INTUIT_SIGNATURE"), verifier)
            changes = parse_notifications(body)
        except InvalidSignature:
            start_response("401 Unauthorized", [("Content-Length", "0")])
            return [b""]
        except ValueError:
            start_response("400 Bad Request", [("Content-Length", "0")])
            return [b""]
        hint(changes)
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]

    return app
