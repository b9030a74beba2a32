"""Access tokens for the client: the stored one while it is fresh, a refresh shortly before
it expires or when Intuit answers 401, rotation persisted before the new token is used.

Refreshes of one realm are serialised in this process by a lock and across processes by a
lease in the store (:meth:`QboConnections.claim_refresh`) and the compare-and-swap of the
rotation (:meth:`QboConnections.rotate`): the others wait and read the winner's tokens.
A refused refresh marks the company "reconnect needed" (:class:`ReconnectNeeded`); the sender
then stops for that company without committing, so nothing queued is lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from connectors.qbo._connections import CONNECTED, QboCompany, QboConnections, RotationLost
from connectors.qbo._oauth import OAuthClient, OAuthFailed, ReconnectNeeded

__all__ = ["TokenKeeper"]


class TokenKeeper:
    def __init__(
        self,
        connections: QboConnections,
        oauth: OAuthClient,
        *,
        margin: timedelta = timedelta(minutes=5),
        lease: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._connections = connections
        self._oauth = oauth
        self._margin = margin
        self._lease = lease
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def _lock(self, realm_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(realm_id, threading.Lock())

    def _connected(self, realm_id: str) -> QboCompany:
        company = self._connections.by_realm(realm_id)
        if company is None or company.tokens is None:
            raise ReconnectNeeded(f"realm {realm_id} is not connected: run qbsync qbo connect")
        if company.status != CONNECTED:
            raise ReconnectNeeded(
                f"realm {realm_id} (profile {company.profile_id}) needs to be connected again: "
                f"{company.last_error or 'its refresh token was refused'}"
            )
        return company

    def access_token(self, realm_id: str) -> tuple[SecretStr, int]:
        """A usable access token and the token version it belongs to."""
        company = self._connected(realm_id)
        assert company.tokens is not None
        if company.tokens.access_valid(self._clock(), self._margin):
            return company.tokens.access_token, company.token_version
        return self.refreshed(realm_id, company.token_version)

    def refreshed(self, realm_id: str, stale_version: int) -> tuple[SecretStr, int]:
        """Tokens newer than ``stale_version`` (Intuit refused it, or it is about to expire):
        another process's rotation if there was one, else a refresh of our own under a lease
        in the store, so two processes never spend the same refresh token."""
        with self._lock(realm_id):
            deadline = time.monotonic() + 2 * self._lease.total_seconds()
            while True:
                company = self._connected(realm_id)
                assert company.tokens is not None
                if company.token_version != stale_version:
                    return company.tokens.access_token, company.token_version
                if self._connections.claim_refresh(
                    company.profile_id, company.token_version, self._lease
                ):
                    return self._refresh(realm_id, company)
                if time.monotonic() > deadline:
                    raise ReconnectNeeded(
                        f"realm {realm_id}: another process holds the token refresh and never "
                        "finished it"
                    )
                time.sleep(0.1)  # another process is refreshing: read its result shortly

    def _refresh(self, realm_id: str, company: QboCompany) -> tuple[SecretStr, int]:
        assert company.tokens is not None
        try:
            tokens = self._oauth.refresh(company.tokens.refresh_token)
        except ReconnectNeeded as refused:
            self._connections.mark_reconnect(
                company.profile_id, company.token_version, str(refused)
            )
            raise
        except OAuthFailed:
            # Intuit did not answer: the refresh token is unspent; let the next one try.
            self._connections.release_refresh(company.profile_id, company.token_version)
            raise
        try:
            rotated = self._connections.rotate(company.profile_id, company.token_version, tokens)
        except RotationLost:
            rotated = self._connected(realm_id)
        assert rotated.tokens is not None
        return rotated.tokens.access_token, rotated.token_version
