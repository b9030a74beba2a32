"""A QuickBooks Online company on the console: its connection, and what "Connect to
QuickBooks" needs (the app's client id, redirect URI and Intuit's authorize URL; never the
client secret or the token keys, which only the sender holds)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import SecretStr

from connectors.qbo import CONNECTED, PENDING, RECONNECT_NEEDED, OAuthApp, QboStatus
from core.errors import ConfigurationError
from core.settings import QboSettings

__all__ = ["QboView", "connect_app", "qbo_connection"]

_WORDS = {
    CONNECTED: "connected",
    PENDING: "not connected (a connect was started and not finished)",
    RECONNECT_NEEDED: "reconnect needed",
}
_NEEDED = ("client_id", "redirect_uri", "authorize_url")


@dataclass(frozen=True)
class QboView:
    status: str  # the store's status, or "not_connected"
    words: str
    realm_id: str | None
    last_error: str | None
    # Why the button cannot work here (a setting missing on the console), else None.
    unavailable: str | None
    # Where the button's form leads, for the page's CSP form-action (a browser checks every
    # redirect of a form): Intuit's authorize page, then the sender's callback.
    form_targets: tuple[str, ...]

    @property
    def button(self) -> str:
        return "Connect to QuickBooks" if self.status != CONNECTED else "Reconnect to QuickBooks"


def _missing(qbo: QboSettings) -> list[str]:
    return [f"QBSYNC_QBO_{name.upper()}" for name in _NEEDED if not getattr(qbo, name)]


def connect_app(qbo: QboSettings) -> OAuthApp:
    """The app's registration as far as the authorize URL needs it."""
    missing = _missing(qbo)
    if missing:
        raise ConfigurationError(
            "Connect to QuickBooks needs " + ", ".join(missing) + " on the console "
            "(the same values as the QBO sender's; see docs/qbo.md, Settings)"
        )
    return OAuthApp(
        client_id=qbo.client_id,
        client_secret=SecretStr(""),  # the sender exchanges the code, not the console
        redirect_uri=qbo.redirect_uri,
        authorize_url=qbo.authorize_url,
        token_url="",
        revoke_url="",
    )


def qbo_connection(found: QboStatus | None, qbo: QboSettings) -> QboView:
    """What the company's page says of its connection, and whether it can offer the button."""
    status = found.status if found is not None else "not_connected"
    words = _WORDS.get(status, "not connected")
    missing = _missing(qbo)
    unavailable = (
        "set " + ", ".join(missing) + " on the console to connect from here" if missing else None
    )
    targets: tuple[str, ...] = ()
    if not missing:
        targets = tuple(_origin(u) for u in (qbo.authorize_url, qbo.redirect_uri))
    return QboView(
        status=status,
        words=words,
        realm_id=found.realm_id if found is not None else None,
        last_error=found.last_error if found is not None else None,
        unavailable=unavailable,
        form_targets=targets,
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
