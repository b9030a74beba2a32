"""Intuit's OAuth 2.0 authorization-code flow for one app (``../shared/qbo/README.md``,
"OAuth 2.0"): the authorize URL a company's administrator opens, the code exchange at the
callback (``code``, ``state``, ``realmId``), refresh, and revocation.

Access tokens live an hour (``expires_in``), refresh tokens about 100 days
(``x_refresh_token_expires_in``) and may change on every refresh: the caller persists the
newest pair atomically before using it (:class:`connectors.qbo.TokenKeeper`). A refused
refresh (``invalid_grant``) means the company must be connected again: :class:`ReconnectNeeded`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx2
from pydantic import SecretStr

from core.errors import QbsyncError

__all__ = [
    "SCOPE",
    "OAuthApp",
    "OAuthClient",
    "OAuthFailed",
    "ReconnectNeeded",
    "TokenSet",
    "authorize_url",
]

SCOPE = "com.intuit.quickbooks.accounting"


class OAuthFailed(QbsyncError):
    """Intuit's OAuth server did not answer usefully (network, 5xx, a malformed answer)."""


class ReconnectNeeded(QbsyncError):
    """The refresh token was revoked or expired: an administrator must connect again."""


@dataclass(frozen=True)
class OAuthApp:
    """The app's registration with Intuit; every value comes from settings."""

    client_id: str
    client_secret: SecretStr
    redirect_uri: str
    authorize_url: str
    token_url: str
    revoke_url: str


@dataclass(frozen=True)
class TokenSet:
    access_token: SecretStr
    refresh_token: SecretStr
    access_expires_at: datetime
    refresh_expires_at: datetime

    def access_valid(self, now: datetime, margin: timedelta) -> bool:
        return now + margin < self.access_expires_at


def authorize_url(app: OAuthApp, state: str) -> str:
    """Where the administrator grants access; ``state`` comes back on the callback."""
    query = urlencode(
        {
            "client_id": app.client_id,
            "response_type": "code",
            "scope": SCOPE,
            "redirect_uri": app.redirect_uri,
            "state": state,
        }
    )
    return f"{app.authorize_url}?{query}"


class OAuthClient:
    def __init__(self, app: OAuthApp, http: httpx2.Client) -> None:
        self._app = app
        self._http = http

    def authorize_url(self, state: str) -> str:
        return authorize_url(self._app, state)

    def exchange(self, code: str) -> TokenSet:
        return self._grant(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self._app.redirect_uri,
            }
        )

    def refresh(self, refresh_token: SecretStr) -> TokenSet:
        return self._grant(
            {"grant_type": "refresh_token", "refresh_token": refresh_token.get_secret_value()}
        )

    def revoke(self, token: SecretStr) -> None:
        response = self._post(self._app.revoke_url, json={"token": token.get_secret_value()})
        # 400: already revoked or unknown, which is what revocation wants anyway.
        if response.status_code >= 300 and response.status_code != 400:
            raise OAuthFailed(f"Intuit's revocation endpoint answered {response.status_code}")

    def _post(self, url: str, **kwargs: Any) -> httpx2.Response:
        try:
            return self._http.post(
                url,
                auth=(self._app.client_id, self._app.client_secret.get_secret_value()),
                headers={"Accept": "application/json"},
                **kwargs,
            )
        except httpx2.HTTPError as exc:
            reason = type(exc).__name__
            raise OAuthFailed(f"Intuit's OAuth server did not answer: {reason}") from exc

    def _grant(self, form: dict[str, str]) -> TokenSet:
        now = datetime.now(UTC)
        response = self._post(self._app.token_url, data=form)
        if response.status_code in (400, 401):
            error = _json(response).get("error", "")
            if error == "invalid_grant":
                raise ReconnectNeeded(
                    "Intuit refused the grant (invalid_grant): the authorization code or refresh "
                    "token is expired or revoked; connect the company again"
                )
            raise OAuthFailed(
                f"Intuit's token endpoint answered {response.status_code} {error or ''}".strip()
                + "; check QBSYNC_QBO_CLIENT_ID, _CLIENT_SECRET and _REDIRECT_URI"
            )
        if response.status_code >= 300:
            raise OAuthFailed(f"Intuit's token endpoint answered {response.status_code}")
        body = _json(response)
        try:
            return TokenSet(
                access_token=SecretStr(str(body["access_token"])),
                refresh_token=SecretStr(str(body["refresh_token"])),
                access_expires_at=now + timedelta(seconds=int(body["expires_in"])),
                refresh_expires_at=now
                + timedelta(seconds=int(body.get("x_refresh_token_expires_in", 8_726_400))),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise OAuthFailed("Intuit's token endpoint answered without the tokens") from exc


def _json(response: httpx2.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
