"""A QBO world for tests: the QBO sandbox over real HTTP, a real store (SQLite or
PostgreSQL) with companies connected through the real OAuth flow, and the real client."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx2
from cryptography.fernet import Fernet
from pydantic import SecretStr

from connectors.qbo import (
    ClientConfig,
    OAuthApp,
    OAuthClient,
    QboClient,
    QboConnections,
    RealmLimits,
    TokenCipher,
    TokenKeeper,
)
from connectors.qbo_sandbox import QboSandbox
from connectors.store import Profile, Store, Tenant, upgrade

__all__ = ["REDIRECT", "QboWorld", "add_qbo_profile", "connect", "oauth_app", "qbo_world"]

REDIRECT = "https://app.example/qbo/callback"


def oauth_app(sandbox: QboSandbox, url: str) -> OAuthApp:
    return OAuthApp(
        client_id=sandbox.oauth.client_id,
        client_secret=SecretStr(sandbox.oauth.client_secret),
        redirect_uri=REDIRECT,
        authorize_url=f"{url}/connect/oauth2",
        token_url=f"{url}/oauth2/v1/tokens/bearer",
        revoke_url=f"{url}/oauth2/v1/tokens/revoke",
    )


@dataclass
class QboWorld:
    sandbox: QboSandbox
    url: str
    store: Store
    key: SecretStr
    http: httpx2.Client
    oauth: OAuthClient
    connections: QboConnections
    keeper: TokenKeeper
    client: QboClient


def add_qbo_profile(store: Store, name: str, tenants: tuple[str, ...] = ()) -> str:
    """A profile for a QBO company (no Web Connector login: its password hash is unusable)."""
    profile_id = uuid.uuid4().hex
    store.add_profile(
        Profile(
            id=profile_id,
            name=name,
            username=f"qbo-{profile_id}",
            password_hash="!",
            owner_id=str(uuid.uuid4()),
            file_id=str(uuid.uuid4()),
            created_at=datetime.now(UTC),
        )
    )
    for tenant in tenants:
        store.add_tenant(
            Tenant(id=tenant, name=tenant, profile_id=profile_id, created_at=datetime.now(UTC))
        )
    return profile_id


def connect(world: QboWorld, profile_id: str, realm_id: str) -> None:
    """The whole connect flow over HTTP: authorize URL, consent (the sandbox's redirect),
    callback with code, state and realmId, code exchange, tokens stored."""
    world.sandbox.consent_realm = realm_id
    state = world.connections.begin_connect(profile_id)
    consent = world.http.get(world.oauth.authorize_url(state), follow_redirects=False)
    assert consent.status_code == 302
    callback = parse_qs(urlsplit(consent.headers["Location"]).query)
    assert callback["state"] == [state]
    tokens = world.oauth.exchange(callback["code"][0])
    world.connections.complete_connect(callback["state"][0], callback["realmId"][0], tokens)


@contextmanager
def qbo_world(
    database_url: str,
    *,
    sandbox: QboSandbox | None = None,
    timeout_s: float = 10.0,
    attempts: int = 6,
    per_minute: int = 500,
) -> Iterator[QboWorld]:
    chosen = sandbox or QboSandbox()
    upgrade(database_url)
    store = Store(database_url)
    key = SecretStr(Fernet.generate_key().decode())
    with chosen.serve() as url, httpx2.Client(timeout=timeout_s) as http:
        oauth = OAuthClient(oauth_app(chosen, url), http)
        connections = QboConnections(store.engine, TokenCipher(key))
        keeper = TokenKeeper(connections, oauth)
        client = QboClient(
            ClientConfig(base_url=url, attempts=attempts, backoff_base_s=0.05, backoff_max_s=0.5),
            http,
            keeper,
            RealmLimits(per_minute=per_minute),
        )
        try:
            yield QboWorld(chosen, url, store, key, http, oauth, connections, keeper, client)
        finally:
            store.close()
