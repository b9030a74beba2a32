"""The sandbox's side of Intuit's OAuth 2.0: consent (auto-granted for a configured realm),
the token endpoint (authorization code, refresh with rotation), revocation.

Stricter than Intuit where it helps tests: every refresh rotates the refresh token and the old
one stops working at once, so a client that does not persist the newest one loses the
connection (``../shared/qbo/README.md``, "OAuth 2.0").
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = ["AccessToken", "OAuthServer"]


@dataclass
class AccessToken:
    realm_id: str
    expires_at: datetime
    refresh_token: str


@dataclass
class _Refresh:
    realm_id: str
    expires_at: datetime


class OAuthServer:
    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        access_lifetime: timedelta = timedelta(hours=1),
        refresh_lifetime: timedelta = timedelta(days=101),
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_lifetime = access_lifetime
        self.refresh_lifetime = refresh_lifetime
        self._codes: dict[str, tuple[str, str, datetime]] = {}  # code -> realm, redirect, until
        self._access: dict[str, AccessToken] = {}
        self._refresh: dict[str, _Refresh] = {}
        self._lock = threading.Lock()
        self.refreshes = 0

    def grant_code(self, realm_id: str, redirect_uri: str) -> str:
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = (realm_id, redirect_uri, datetime.now(UTC) + timedelta(minutes=5))
        return code

    def exchange(self, code: str, redirect_uri: str) -> dict[str, object] | None:
        with self._lock:
            found = self._codes.pop(code, None)  # a code works once
            if found is None or found[1] != redirect_uri or found[2] < datetime.now(UTC):
                return None
            return self._issue(found[0])

    def refresh(self, refresh_token: str) -> dict[str, object] | None:
        with self._lock:
            found = self._refresh.pop(refresh_token, None)
            if found is None or found.expires_at < datetime.now(UTC):
                return None
            self.refreshes += 1  # access tokens already issued live out their hour
            return self._issue(found.realm_id)

    def revoke(self, token: str) -> None:
        with self._lock:
            access = self._access.pop(token, None)
            refresh = access.refresh_token if access else token
            self._refresh.pop(refresh, None)
            self._drop_access(refresh)

    def realm_of(self, access_token: str) -> str | None:
        """The realm an access token opens, None when unknown, revoked or expired."""
        with self._lock:
            found = self._access.get(access_token)
            if found is None or found.expires_at <= datetime.now(UTC):
                return None
            return found.realm_id

    def expire(self, access_token: str) -> None:
        with self._lock:
            found = self._access.get(access_token)
            if found is not None:
                found.expires_at = datetime.now(UTC) - timedelta(seconds=1)

    def _drop_access(self, refresh_token: str) -> None:
        for token in [t for t, a in self._access.items() if a.refresh_token == refresh_token]:
            del self._access[token]

    def _issue(self, realm_id: str) -> dict[str, object]:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = datetime.now(UTC)
        self._access[access] = AccessToken(realm_id, now + self.access_lifetime, refresh)
        self._refresh[refresh] = _Refresh(realm_id, now + self.refresh_lifetime)
        return {
            "token_type": "bearer",
            "access_token": access,
            "refresh_token": refresh,
            "expires_in": int(self.access_lifetime.total_seconds()),
            "x_refresh_token_expires_in": int(self.refresh_lifetime.total_seconds()),
        }
