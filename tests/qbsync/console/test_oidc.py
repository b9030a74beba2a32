"""Staff sign-in through OpenID Connect, against a small real provider served over HTTP in
the test (its authorization and token endpoints, discovery and JWKS; ID tokens signed with
an RSA key by joserfc): state, nonce and PKCE checked on both sides, the role from a claim,
every way a sign-in can go wrong refused in words; and the same flow in Chromium."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, jsonify, redirect, request
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey
from pydantic import SecretStr
from werkzeug.serving import make_server

from connectors.store import ConsoleStore, upgrade
from core.errors import QbsyncError
from core.settings import ConsoleSettings, Settings
from qbsync.console import Console, create_console
from qbsync.console._oidc import OidcConfig, role_of
from qbsync.runtime import free_port
from tests.conftest import missing

CLIENT_ID = "qbsync-console"
CLIENT_SECRET = "s3cret-of-the-client-registration"
CHROMIUM = os.environ.get("QBSYNC_TEST_CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("QBSYNC_SCREENSHOTS_DIR", "")


@dataclass
class Provider:
    """An OpenID provider with one signed-in user (``user``: the claims it vouches for)."""

    url: str
    redirect_uris: set[str]
    user: dict[str, Any]
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={"kid": "k1"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    authorizations: list[dict[str, str]] = field(default_factory=list)
    exchanges: list[dict[str, str]] = field(default_factory=list)
    tamper: str = ""  # foreign-key | nonce | expired | audience

    def app(self) -> Flask:
        app = Flask("test-oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery() -> Any:
            return jsonify(
                issuer=self.url,
                authorization_endpoint=f"{self.url}/authorize",
                token_endpoint=f"{self.url}/token",
                jwks_uri=f"{self.url}/jwks",
                response_types_supported=["code"],
                code_challenge_methods_supported=["S256"],
                id_token_signing_alg_values_supported=["RS256"],
            )

        @app.get("/jwks")
        def jwks() -> Any:
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize() -> Any:
            asked = dict(request.args)
            self.authorizations.append(asked)
            wanted = (
                "response_type",
                "client_id",
                "redirect_uri",
                "state",
                "nonce",
                "code_challenge",
            )
            if (
                any(not asked.get(name) for name in wanted)
                or asked["response_type"] != "code"
                or asked["client_id"] != CLIENT_ID
                or asked["redirect_uri"] not in self.redirect_uris
                or asked.get("code_challenge_method") != "S256"
                or "openid" not in asked.get("scope", "").split()
            ):
                return "invalid_request", 400
            code = secrets.token_urlsafe(24)
            self.codes[code] = asked
            query = urllib.parse.urlencode({"code": code, "state": asked["state"]})
            return redirect(f"{asked['redirect_uri']}?{query}")

        @app.post("/token")
        def token() -> Any:
            form = dict(request.form)
            self.exchanges.append(form)
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if not hmac.compare_digest(
                request.headers.get("Authorization", ""), f"Basic {expected}"
            ):
                return jsonify(error="invalid_client"), 401
            asked = self.codes.pop(form.get("code", ""), None)  # a code works once
            if asked is None or form.get("grant_type") != "authorization_code":
                return jsonify(error="invalid_grant"), 400
            challenge = (
                base64.urlsafe_b64encode(
                    hashlib.sha256(form.get("code_verifier", "").encode()).digest()
                )
                .rstrip(b"=")
                .decode()
            )
            if (
                challenge != asked["code_challenge"]
                or form.get("redirect_uri") != asked["redirect_uri"]
            ):
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {
                "iss": self.url,
                "sub": "user-1",
                "aud": "someone-else" if self.tamper == "audience" else CLIENT_ID,
                "iat": now,
                "exp": now - 3600 if self.tamper == "expired" else now + 300,
                "nonce": "not-yours" if self.tamper == "nonce" else asked["nonce"],
                **self.user,
            }
            signer = self.key
            if self.tamper == "foreign-key":
                signer = RSAKey.generate_key(2048, parameters={"kid": "k1"})
            id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, signer)
            return jsonify(
                access_token=secrets.token_urlsafe(16), token_type="Bearer", id_token=id_token
            )

        return app


@pytest.fixture
def provider() -> Iterator[Provider]:
    port = free_port()
    found = Provider(
        url=f"http://127.0.0.1:{port}",
        redirect_uris={"http://localhost/login/oidc/callback"},
        user={"email": "alice@example.com", "groups": ["staff", "qbsync-operator"]},
    )
    server = make_server("127.0.0.1", port, found.app(), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        thread.join(10)


def configured(settings: Settings, provider: Provider, database_url: str) -> Settings:
    settings.database.url = SecretStr(database_url)
    settings.console.oidc_issuer = provider.url
    settings.console.oidc_client_id = CLIENT_ID
    settings.console.oidc_client_secret = SecretStr(CLIENT_SECRET)
    settings.console.oidc_name = "Example SSO"
    return settings


@pytest.fixture
def console(settings: Settings, provider: Provider, database_url: str) -> Iterator[Console]:
    upgrade(database_url)
    built = create_console(configured(settings, provider, database_url))
    built.app.testing = True
    yield built
    built.close()


def location(url: str) -> str:
    """Where the provider sends the browser (its redirect, not followed)."""

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.build_opener(Stop).open(url, timeout=10)
    assert answer.value.code == 302, answer.value.read()
    return str(answer.value.headers["Location"])


def local(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign_in(browser: FlaskClient) -> tuple[Any, str]:
    """The browser's round trip: the console, the provider, the console's callback."""
    start = browser.get("/login/oidc")
    assert start.status_code == 302
    back = location(start.headers["Location"])
    return browser.get(local(back)), back


def test_an_operator_signs_in_through_the_provider_with_state_nonce_and_pkce(
    console: Console, provider: Provider
) -> None:
    browser = console.app.test_client()
    assert b"Sign in with Example SSO" in browser.get("/login").data
    done, _ = sign_in(browser)
    assert done.status_code == 302, done.data
    assert done.headers["Location"].endswith("/connections")
    cookie = next(c for c in done.headers.getlist("Set-Cookie") if c.startswith("qbsync_console="))
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    page = browser.get("/connections").data.decode()
    assert "oidc:alice@example.com (operator)" in page
    (asked,) = provider.authorizations
    assert asked["code_challenge_method"] == "S256"
    assert len(asked["nonce"]) >= 32
    assert len(asked["state"]) >= 32
    (exchange,) = provider.exchanges
    assert exchange["code_verifier"] != asked["code_challenge"]  # the verifier, not the challenge
    (audited,) = ConsoleStore(console.store).audit_log(action="sign-in")
    assert (audited.actor, audited.detail) == ("oidc:alice@example.com", {"via": "oidc"})
    # Nothing of the exchange is kept: the pending sign-in is gone, and the state's cookie.
    assert console.store is not None
    assert ConsoleStore(console.store).live_session(asked["state"]) is None


def test_a_viewer_from_the_group_claim_reads_but_cannot_change(
    console: Console, provider: Provider
) -> None:
    from connectors.qbwc import create_profile

    provider.user = {"email": "vic@example.com", "groups": "qbsync-viewer"}
    browser = console.app.test_client()
    done, _ = sign_in(browser)
    assert done.status_code == 302
    page = browser.get("/connections").data.decode()
    assert "oidc:vic@example.com (viewer)" in page
    profile = create_profile(console.store, name="Acme", tenants=["t-1"]).profile
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    refused = browser.post(f"/files/{profile.id}/setup-link", data={"csrf_token": token})
    assert refused.status_code == 403


def test_an_account_without_a_console_role_is_refused_in_words(
    console: Console, provider: Provider
) -> None:
    provider.user = {"email": "mallory@example.com", "groups": ["staff"]}
    browser = console.app.test_client()
    done, _ = sign_in(browser)
    assert done.status_code == 403
    assert b"none of the console&#39;s roles" in done.data
    assert b"qbsync-operator" in done.data
    assert browser.get("/connections").status_code == 302  # still signed out


@pytest.mark.parametrize(
    ("tamper", "words"),
    [
        ("foreign-key", b"ID token was refused"),
        ("nonce", b"ID token was refused"),
        ("expired", b"ID token was refused"),
        ("audience", b"ID token was refused"),
    ],
)
def test_an_id_token_that_does_not_verify_signs_no_one_in(
    console: Console, provider: Provider, tamper: str, words: bytes
) -> None:
    provider.tamper = tamper
    browser = console.app.test_client()
    done, _ = sign_in(browser)
    assert done.status_code == 403
    assert words in done.data
    assert browser.get("/connections").status_code == 302


def test_a_callback_is_this_browsers_and_works_once(console: Console, provider: Provider) -> None:
    # Started in one browser, finished in another (a forged or leaked callback link).
    first = console.app.test_client()
    start = first.get("/login/oidc")
    back = location(start.headers["Location"])
    other = console.app.test_client()
    stolen = other.get(local(back))
    assert stolen.status_code == 403
    assert b"did not start in this browser" in stolen.data
    # The right browser finishes it (the other's attempt did not use it up); a second
    # time, the same callback finds the sign-in used.
    done = first.get(local(back))
    assert done.status_code == 302
    replayed = first.get(local(back))
    assert replayed.status_code == 403  # its state cookie is gone
    # Even with the state's cookie put back, the pending sign-in was used.
    state = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["state"][0]
    first.set_cookie("qbsync_oidc", state)
    replayed = first.get(local(back))
    assert replayed.status_code == 403
    assert b"expired or was used already" in replayed.data
    # The provider's own refusal, e.g. the user cancelled.
    cancelled = first.get("/login/oidc/callback?error=access_denied&state=x")
    assert cancelled.status_code == 403
    assert b"access_denied" in cancelled.data


def test_a_wrong_client_secret_is_the_providers_refusal(
    settings: Settings, provider: Provider, database_url: str
) -> None:
    upgrade(database_url)
    configured(settings, provider, database_url)
    settings.console.oidc_client_secret = SecretStr("not-the-secret")
    built = create_console(settings)
    built.app.testing = True
    try:
        done, _ = sign_in(built.app.test_client())
        assert done.status_code == 403
        assert b"HTTP 401 invalid_client" in done.data
    finally:
        built.close()
    assert "not-the-secret" not in repr(settings)
    assert "not-the-secret" not in settings.model_dump_json()


def test_oidc_settings_are_checked_and_roles_read_from_the_claim() -> None:
    assert OidcConfig.from_settings(ConsoleSettings()) is None
    with pytest.raises(QbsyncError, match="OIDC_CLIENT_ID"):
        OidcConfig.from_settings(ConsoleSettings(oidc_issuer="https://id.example.com"))
    with pytest.raises(QbsyncError, match="must be an https URL"):
        OidcConfig.from_settings(
            ConsoleSettings(oidc_issuer="http://id.example.com", oidc_client_id="c")
        )
    config = OidcConfig.from_settings(
        ConsoleSettings(
            oidc_issuer="https://id.example.com/",
            oidc_client_id="c",
            oidc_role_claim="roles",
            oidc_operator_values="ops, admins",
        )
    )
    assert config is not None
    assert config.issuer == "https://id.example.com"
    assert role_of({"roles": ["admins"]}, config) == "operator"
    assert role_of({"roles": "qbsync-viewer ops"}, config) == "operator"
    assert role_of({"roles": "qbsync-viewer"}, config) == "viewer"
    assert role_of({"roles": ["other"]}, config) is None
    assert role_of({"groups": ["admins"]}, config) is None  # another claim


@pytest.mark.integration
def test_single_sign_on_in_a_real_browser(
    settings: Settings, provider: Provider, database_url: str
) -> None:
    """Chromium: the sign-in page's button, the provider, back signed in as an operator."""
    from playwright.sync_api import sync_playwright

    from qbsync.console._server import prefixed

    if not Path(CHROMIUM).exists():
        missing(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    upgrade(database_url)
    port = free_port()
    base = f"http://localhost:{port}/console"
    provider.redirect_uris = {f"{base}/login/oidc/callback"}
    built = create_console(configured(settings, provider, database_url))
    server = make_server("127.0.0.1", port, prefixed(built.app, "/console"), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{base}/login")
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / "20-sign-in-sso.png"), full_page=True)
            page.click("#oidc")
            page.wait_for_selector("#connections")
            assert "oidc:alice@example.com (operator)" in page.inner_text("header")
            if SHOTS:
                page.screenshot(path=str(Path(SHOTS) / "21-signed-in-sso.png"), full_page=True)
            cookies = {c["name"]: c for c in page.context.cookies()}
            assert cookies["qbsync_console"]["sameSite"] == "Strict"
            assert "qbsync_oidc" not in cookies  # the state's cookie is gone
            browser.close()
    finally:
        server.shutdown()
        thread.join(10)
        built.close()
    (asked,) = provider.authorizations
    assert asked["redirect_uri"] == f"{base}/login/oidc/callback"
