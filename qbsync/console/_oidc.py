"""Staff sign-in through an OpenID Connect provider: the authorization-code flow with
``state`` (bound to the browser by a cookie), ``nonce`` (in the ID token) and PKCE (S256),
the code exchanged with the client secret at the token endpoint, the ID token's signature
checked against the provider's JWKS and its issuer, audience, expiry and nonce validated
(joserfc, authlib's JOSE successor). The role comes from a configured claim.

Only the discovery document, the token endpoint and the JWKS are fetched, with the
standard library, over https (http only on a loopback address, for tests and local
providers). Nothing here logs a token, a code or the secret.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import SecretStr

from core.errors import QbsyncError
from core.settings import ConsoleSettings

__all__ = ["OidcClient", "OidcConfig", "OidcRefused", "Pending", "role_of"]

_TIMEOUT_S = 10.0
_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]


class OidcRefused(QbsyncError):
    """The provider's answer cannot sign anyone in (said in words a person can act on)."""


def _split(text: str) -> frozenset[str]:
    return frozenset(v.strip() for v in text.split(",") if v.strip())


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: SecretStr
    scopes: str
    role_claim: str
    operator_values: frozenset[str]
    viewer_values: frozenset[str]
    username_claim: str
    name: str

    @classmethod
    def from_settings(cls, console: ConsoleSettings) -> OidcConfig | None:
        """None when no issuer is configured; a setting missing beside it is an error."""
        if not console.oidc_issuer:
            return None
        if not console.oidc_client_id:
            raise QbsyncError(
                "QBSYNC_CONSOLE_OIDC_CLIENT_ID: set it (the client registered at the provider)"
                " or unset QBSYNC_CONSOLE_OIDC_ISSUER"
            )
        _check_url(console.oidc_issuer, "QBSYNC_CONSOLE_OIDC_ISSUER")
        if "openid" not in console.oidc_scopes.split():
            raise QbsyncError("QBSYNC_CONSOLE_OIDC_SCOPES: must include 'openid'")
        return cls(
            issuer=console.oidc_issuer.rstrip("/"),
            client_id=console.oidc_client_id,
            client_secret=console.oidc_client_secret,
            scopes=console.oidc_scopes,
            role_claim=console.oidc_role_claim,
            operator_values=_split(console.oidc_operator_values),
            viewer_values=_split(console.oidc_viewer_values),
            username_claim=console.oidc_username_claim,
            name=console.oidc_name,
        )


def _check_url(url: str, field: str) -> None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname:
        host = parts.hostname
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if loopback:
            return
    raise QbsyncError(f"{field}: {url!r} must be an https URL (http only on a loopback address)")


def role_of(claims: Mapping[str, Any], config: OidcConfig) -> str | None:
    """``operator`` or ``viewer`` from the role claim (a list, or one string, or
    space/comma-separated); operator wins; None when neither is there."""
    raw = claims.get(config.role_claim)
    if isinstance(raw, str):
        values = {v for v in raw.replace(",", " ").split() if v}
    elif isinstance(raw, list | tuple):
        values = {str(v) for v in raw}
    else:
        values = set()
    if values & config.operator_values:
        return "operator"
    if values & config.viewer_values:
        return "viewer"
    return None


@dataclass(frozen=True)
class Pending:
    """One sign-in under way: kept server-side, found again by its state."""

    state: str
    nonce: str
    verifier: str


Fetch = Callable[[urllib.request.Request], Any]


def _request(url: str, **options: Any) -> urllib.request.Request:
    """A request to one of the provider's URLs (each checked by :func:`_check_url`)."""
    return urllib.request.Request(url, **options)  # noqa: S310 - https, or http on loopback


def _fetch_json(request: urllib.request.Request) -> Any:
    try:
        with urllib.request.urlopen(request, timeout=_TIMEOUT_S) as response:  # noqa: S310 - checked URLs
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read().decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            body = {}
        error = body.get("error", "") if isinstance(body, dict) else ""
        raise OidcRefused(
            f"the identity provider answered HTTP {exc.code} {error}".strip()
            + ": sign in again from the start"
        ) from exc
    except (OSError, ValueError) as exc:
        raise OidcRefused(
            f"the identity provider could not be reached ({type(exc).__name__})"
        ) from exc


class OidcClient:
    def __init__(self, config: OidcConfig, fetch: Fetch = _fetch_json) -> None:
        self.config = config
        self._fetch = fetch
        self._discovery: dict[str, Any] | None = None
        self._discovered_at = 0.0

    def _provider(self) -> dict[str, Any]:
        """The discovery document (kept an hour), its endpoints checked."""
        if self._discovery is None or time.monotonic() - self._discovered_at > 3600:
            url = f"{self.config.issuer}/.well-known/openid-configuration"
            found = self._fetch(_request(url, headers={"Accept": "application/json"}))
            if (
                not isinstance(found, dict)
                or found.get("issuer", "").rstrip("/") != self.config.issuer
            ):
                raise OidcRefused(
                    "the identity provider's discovery document names another issuer:"
                    " check QBSYNC_CONSOLE_OIDC_ISSUER"
                )
            for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                _check_url(str(found.get(name, "")), f"the provider's {name}")
            self._discovery = found
            self._discovered_at = time.monotonic()
        return self._discovery

    def begin(self, redirect_uri: str, secret: Callable[[], str]) -> tuple[str, Pending]:
        """The provider's authorization URL to send the browser to, and what to keep."""
        pending = Pending(state=secret(), nonce=secret(), verifier=secret())
        query = {
            "response_type": "code",
            "client_id": self.config.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.config.scopes,
            "state": pending.state,
            "nonce": pending.nonce,
            "code_challenge": create_s256_code_challenge(pending.verifier),
            "code_challenge_method": "S256",
        }
        endpoint = str(self._provider()["authorization_endpoint"])
        joiner = "&" if "?" in endpoint else "?"
        return endpoint + joiner + urllib.parse.urlencode(query), pending

    def finish(self, pending: Pending, code: str, redirect_uri: str) -> dict[str, Any]:
        """The code exchanged (client secret, PKCE verifier), the ID token verified; its
        claims."""
        provider = self._provider()
        secret = self.config.client_secret.get_secret_value()
        basic = base64.b64encode(
            f"{urllib.parse.quote(self.config.client_id, safe='')}:"
            f"{urllib.parse.quote(secret, safe='')}".encode()
        ).decode()
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": pending.verifier,
            }
        ).encode()
        answer = self._fetch(
            _request(
                str(provider["token_endpoint"]),
                data=body,
                method="POST",
                headers={
                    "Authorization": f"Basic {basic}",
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
            )
        )
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise OidcRefused("the identity provider sent no ID token: is 'openid' a scope?")
        keys = self._fetch(_request(str(provider["jwks_uri"])))
        try:
            token = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=_ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=60,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": pending.nonce},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise OidcRefused(
                f"the ID token was refused ({type(exc).__name__}): sign in again from the start"
            ) from exc
        claims = token.claims
        return dict(claims)
