"""The console's Flask app (built by :func:`create_console`, never at import time)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, cast

from flask import Flask, Response, abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from connectors.qbo import QboConnections, authorize_url
from connectors.store import ConsoleStore, SessionLog, Store
from core.errors import QbsyncError
from core.settings import Settings
from qbsync.console import (
    _dead_letters_page,
    _log_page,
    _mappings_page,
    _parked_page,
    _setup_page,
)
from qbsync.console._auth import Principal, check_csrf, new_secret, sign_in
from qbsync.console._context import SETUP_COOKIE, Context, F
from qbsync.console._data import KafkaReader
from qbsync.console._oidc import OidcClient, OidcConfig, OidcRefused, Pending, role_of
from qbsync.console._qbo import QboView, connect_app, qbo_connection
from qbsync.console._views import (
    STATES,
    ConnectionRow,
    connection_state,
    explained,
    filter_connections,
    format_age,
    quickbooks_words,
    session_views,
    web_connector_words,
)

__all__ = ["Console", "create_console"]

log = logging.getLogger(__name__)

STAFF_COOKIE = "qbsync_console"
OIDC_COOKIE = "qbsync_oidc"
OIDC_PREFIX = "oidc:"  # staff signed in through the identity provider: "oidc:<name>"
OIDC_PENDING_TTL = timedelta(minutes=10)
LOGIN_COOKIE = "qbsync_login"


@dataclass
class Console:
    """The app and what it holds open."""

    app: Flask
    store: Store
    reader: KafkaReader

    def close(self) -> None:
        self.reader.close()
        self.store.close()


def create_console(settings: Settings) -> Console:
    """The support console and the setup page, on the configured store and broker."""
    store = Store(settings.database_url)
    console = ConsoleStore(store)
    history = SessionLog(store)
    oidc_config = OidcConfig.from_settings(settings.console)
    oidc = OidcClient(oidc_config) if oidc_config else None
    reader = KafkaReader(settings)
    qbo_connections = QboConnections(store.engine, None)  # status and state only: no tokens
    app = Flask(
        "qbsync.console",
        template_folder=str(Path(__file__).parent / "templates"),
        static_folder=None,
    )
    app.config.update(MAX_CONTENT_LENGTH=2 * 1024 * 1024)

    def set_cookie(
        response: BaseResponse, name: str, value: str, max_age: float, path: str
    ) -> None:
        """Secure (HTTPS only, unless configured off for plain-HTTP development), never
        readable by scripts, never sent on another site's requests."""
        response.set_cookie(
            name,
            value,
            max_age=int(max_age),
            path=path or "/",
            secure=settings.console.cookie_secure,
            httponly=True,
            samesite="Strict",
        )

    session_ttl = timedelta(seconds=settings.console.session_ttl_s)

    # -- who is asking ---------------------------------------------------------------------

    @app.before_request
    def _identify() -> None:
        g.principal = None
        g.csp_nonce = new_secret()
        staff = request.cookies.get(STAFF_COOKIE)
        setup = request.cookies.get(SETUP_COOKIE)
        for value, kind in ((staff, "staff"), (setup, "setup")):
            if not value:
                continue
            row = console.live_session(value)
            if row is None or row.kind != kind:
                continue
            role = row.role
            if kind == "staff" and not row.subject.startswith(OIDC_PREFIX):
                # A disabled user is out at once; a changed role applies at once. (Users
                # of the identity provider: their role as of their sign-in.)
                user = console.user(row.subject)
                if user is None or not user.enabled:
                    continue
                role = user.role
            since = row.since
            if since is not None and since.tzinfo is None:
                since = since.replace(tzinfo=UTC)
            g.principal = Principal(row.kind, row.subject, role, row.csrf_token, since)
            if kind == "staff" and request.path.startswith("/setup"):
                continue
            break

    @app.before_request
    def _csrf() -> None:
        """Every POST carries the session's token (the login form: its cookie's)."""
        if request.method != "POST":
            return
        given = request.form.get("csrf_token")
        if request.path == "/login":
            expected = request.cookies.get(LOGIN_COOKIE, "")
        else:
            principal: Principal | None = g.principal
            expected = principal.csrf_token if principal else ""
        if not expected or not check_csrf(expected, given):
            log.info("csrf refused", extra={"path": request.path})
            abort(
                403,
                "This form is missing its security token or it has expired: reload the"
                " page and try again.",
            )

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        # A form may also lead to Intuit and the QBO sender ("Connect to QuickBooks").
        targets = " ".join(["'self'", *g.get("form_targets", [])])
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline';"
            f" script-src 'nonce-{g.get('csp_nonce', '')}'; frame-ancestors 'none';"
            f" form-action {targets}",
        )
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    def staff(role: str = "viewer") -> Callable[[F], F]:
        def decorate(view: F) -> F:
            @wraps(view)
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                principal: Principal | None = g.principal
                if principal is None or principal.kind != "staff":
                    if request.method == "GET":
                        return redirect(url_for("login", next=request.full_path.rstrip("?")))
                    abort(401)
                if not principal.may(role):
                    abort(403, f"This needs the {role} role; you are a {principal.role}.")
                return view(*args, **kwargs)

            return cast(F, wrapper)

        return decorate

    def audit(action: str, target: str, **detail: Any) -> None:
        principal: Principal = g.principal
        console.audit(principal.actor, action, target, detail)
        log.info("console change", extra={"action": action, "actor": principal.actor})

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {
            "principal": g.get("principal"),
            "csp_nonce": g.get("csp_nonce", ""),
            "format_age": format_age,
            "now": datetime.now(UTC),
        }

    @app.errorhandler(QbsyncError)
    def _refused(exc: QbsyncError) -> tuple[str, int]:
        return render_template("error.html", code=400, message=str(exc)), 400

    for status in (400, 401, 403, 404, 409, 410, 502):

        @app.errorhandler(status)
        def _error(exc: Any) -> tuple[str, int]:
            code = int(getattr(exc, "code", 500) or 500)
            return render_template("error.html", code=code, message=exc.description), code

    # -- sign in ---------------------------------------------------------------------------

    @app.get("/")
    def index() -> BaseResponse:
        return redirect(url_for("connections"))

    def signed_in(subject: str, role: str, target: str, **detail: Any) -> BaseResponse:
        """A staff session for ``subject``, audited, and the browser sent on to ``target``
        (a path of this console only)."""
        session_id = new_secret()
        console.open_session(
            session_id,
            kind="staff",
            subject=subject,
            role=role,
            csrf_token=new_secret(),
            ttl=session_ttl,
        )
        console.audit(subject, "sign-in", subject, detail)
        if target.startswith("/") and not target.startswith("//") and "\\" not in target:
            response = redirect(request.script_root + target)
        else:
            response = redirect(url_for("connections"))
        set_cookie(
            response, STAFF_COOKIE, session_id, session_ttl.total_seconds(), request.script_root
        )
        return response

    def oidc_redirect_uri() -> str:
        base = settings.console.public_url.rstrip("/") or request.url_root.rstrip("/")
        return f"{base}/login/oidc/callback"

    @app.get("/login/oidc")
    def login_oidc() -> BaseResponse:
        """Off to the identity provider: state, nonce and PKCE verifier kept server-side
        (ten minutes, once), the state also in a cookie of this browser."""
        if oidc is None:
            abort(404, "Sign-in through an identity provider is not configured.")
        try:
            url, pending = oidc.begin(oidc_redirect_uri(), new_secret)
        except OidcRefused as exc:
            abort(502, f"Single sign-on is not available now: {exc}.")
        console.open_session(
            pending.state,
            kind="oidc",
            subject=pending.nonce,
            role="pending",
            csrf_token=pending.verifier,
            ttl=OIDC_PENDING_TTL,
        )
        response = redirect(url)
        # Lax, not Strict: the provider's redirect back is a cross-site navigation.
        response.set_cookie(
            OIDC_COOKIE,
            pending.state,
            max_age=int(OIDC_PENDING_TTL.total_seconds()),
            path=request.script_root or "/",
            secure=settings.console.cookie_secure,
            httponly=True,
            samesite="Lax",
        )
        return response

    @app.get("/login/oidc/callback")
    def login_oidc_callback() -> BaseResponse:
        """Back from the provider: the state must be this browser's and unused; the code is
        exchanged and the ID token verified; the role claim decides the role."""
        if oidc is None:
            abort(404, "Sign-in through an identity provider is not configured.")
        if request.args.get("error"):
            abort(403, f"The identity provider did not sign you in ({request.args['error']}).")
        state = request.args.get("state", "")
        if not state or not check_csrf(request.cookies.get(OIDC_COOKIE, ""), state):
            abort(403, "This sign-in did not start in this browser: sign in again.")
        pending = console.live_session(state)
        console.close_session(state)  # once, whatever happens next
        if pending is None or pending.kind != "oidc":
            abort(403, "This sign-in has expired or was used already: sign in again.")
        try:
            claims = oidc.finish(
                Pending(state, pending.subject, pending.csrf_token),
                request.args.get("code", ""),
                oidc_redirect_uri(),
            )
        except OidcRefused as exc:
            log.info("oidc sign-in refused", extra={"error": type(exc).__name__})
            abort(403, f"Sign-in refused: {exc}.")
        role = role_of(claims, oidc.config)
        name = str(claims.get(oidc.config.username_claim) or claims.get("sub") or "")
        if role is None or not name:
            abort(
                403,
                f"Your account has none of the console's roles (claim {oidc.config.role_claim!r}:"
                f" {', '.join(sorted(oidc.config.operator_values | oidc.config.viewer_values))})."
                " Ask your administrator to add one.",
            )
        response = signed_in(f"{OIDC_PREFIX}{name}"[:100], role, "", via="oidc")
        response.delete_cookie(OIDC_COOKIE, path=request.script_root or "/")
        return response

    @app.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        error = ""
        if request.method == "POST":
            username = request.form.get("username", "")
            role = sign_in(console, username, request.form.get("password", ""))
            if role is not None:
                response = signed_in(username, role, request.form.get("next") or "")
                response.delete_cookie(LOGIN_COOKIE, path=request.script_root or "/")
                return response
            error = (
                "That user name and password do not match an enabled console user (after"
                " several wrong passwords, sign-in pauses for a few minutes)."
            )
        token = new_secret()
        page = render_template(
            "login.html",
            csrf_token=token,
            error=error,
            next=request.args.get("next", ""),
            oidc_name=oidc.config.name if oidc else "",
        )
        response = Response(page, status=401 if error else 200)
        set_cookie(response, LOGIN_COOKIE, token, 3600, request.script_root)
        return response

    @app.post("/logout")
    @staff()
    def logout() -> BaseResponse:
        console.close_session(request.cookies.get(STAFF_COOKIE, ""))
        response = redirect(url_for("login"))
        response.delete_cookie(STAFF_COOKIE, path=request.script_root or "/")
        return response

    # -- connections -----------------------------------------------------------------------

    def connection_rows(profiles: list[Any], *, with_backlog: bool) -> list[ConnectionRow]:
        now = datetime.now(UTC)
        busy = console.files_in_session()
        latest = history.latest([p.id for p in profiles])
        rows = []
        for profile in profiles:
            backlog = reader.backlog(profile.id) if with_backlog else None
            rows.append(
                ConnectionRow(
                    profile_id=profile.id,
                    name=profile.name,
                    tenants=tuple(t.id for t in store.tenants(profile.id)),
                    state=connection_state(
                        enabled=profile.enabled,
                        last_seen_at=profile.last_seen_at,
                        run_every_minutes=profile.run_every_minutes,
                        in_session=profile.id in busy,
                        failed_logins=profile.failed_logins,
                        last_failed_login_at=profile.last_failed_login_at,
                        now=now,
                        stalled_factor=settings.gateway.stalled_factor,
                    ),
                    last_seen_at=profile.last_seen_at,
                    backlog=backlog.count if backlog else None,
                    oldest_age_s=(
                        (now - backlog.oldest_at).total_seconds()
                        if backlog and backlog.oldest_at
                        else None
                    ),
                    web_connector=web_connector_words(
                        latest[profile.id].web_connector if profile.id in latest else None
                    ),
                    quickbooks=quickbooks_words(profile.host_info, latest.get(profile.id)),
                )
            )
        return rows

    @app.get("/connections")
    @staff()
    def connections() -> str:
        search = request.args.get("q", "")
        state = request.args.get("state", "")
        if state and state not in STATES:
            abort(400, f"state: {state!r} is not one of {', '.join(STATES)}")
        rows = filter_connections(
            connection_rows(store.profiles(), with_backlog=False), search=search, state=state
        )
        shown_ids = {r.profile_id for r in rows[:100]}
        # The broker is asked only about the files shown (one page of them).
        shown = filter_connections(
            connection_rows([p for p in store.profiles() if p.id in shown_ids], with_backlog=True)
        )
        return render_template(
            "connections.html",
            rows=shown,
            total=len(rows),
            search=search,
            state=state,
            states=STATES,
        )

    @app.get("/files/<profile_id>")
    @staff()
    def file_page(profile_id: str) -> str:
        profile = store.profile(profile_id)
        if profile is None:
            abort(404, f"No company file with id {profile_id!r}.")
        (row,) = connection_rows([profile], with_backlog=True)
        failures = []
        for tenant in row.tenants:
            for entry in store.sync_log(tenant):
                if entry.status != "synced":
                    failures.append((entry, explained(entry.code, entry.message)))
        failures = sorted(failures, key=lambda f: f[0].at, reverse=True)[:50]
        links = console.setup_links(profile_id)
        qbo = qbo_view(profile_id)
        sessions = session_views(
            history.recent(profile_id),
            [entry for entry, _ in failures if entry.code],
            live=row.state == "syncing",
            now=datetime.now(UTC),
        )
        return render_template(
            "file.html",
            row=row,
            profile=profile,
            failures=failures,
            links=links,
            new_link=None,
            sessions=sessions,
            qbo=qbo,
        )

    def qbo_view(profile_id: str) -> QboView | None:
        """A QBO company's connection for its page (None: a Desktop file); its connect form
        may lead to Intuit's authorize page."""
        if not store.is_qbo(profile_id):
            return None
        view = qbo_connection(qbo_connections.status(profile_id), settings.qbo)
        g.form_targets = list(view.form_targets)
        return view

    @app.post("/files/<profile_id>/qbo-connect")
    @staff("operator")
    def qbo_connect(profile_id: str) -> BaseResponse:
        """Start "Connect to QuickBooks": a fresh ``state``, then Intuit's authorize page;
        Intuit sends the browser on to the sender's ``/qbo/callback``."""
        if store.profile(profile_id) is None or not store.is_qbo(profile_id):
            abort(404, f"No QuickBooks Online company with id {profile_id!r}.")
        app_ = connect_app(settings.qbo)
        state = qbo_connections.begin_connect(profile_id)
        audit("qbo.connect", profile_id)
        return redirect(authorize_url(app_, state), code=303)

    @app.post("/files/<profile_id>/setup-link")
    @staff("operator")
    def new_setup_link(profile_id: str) -> str:
        profile = store.profile(profile_id)
        if profile is None:
            abort(404, f"No company file with id {profile_id!r}.")
        token = new_secret()
        console.add_setup_link(
            token,
            profile_id=profile_id,
            created_by=g.principal.subject,
            ttl=timedelta(seconds=settings.console.setup_link_ttl_s),
        )
        audit("setup-link", profile_id)
        base = settings.console.public_url.rstrip("/") or request.url_root.rstrip("/")
        (row,) = connection_rows([profile], with_backlog=False)
        return render_template(
            "file.html",
            row=row,
            profile=profile,
            failures=[],
            links=console.setup_links(profile_id),
            new_link=f"{base}/setup/{token}",
            sessions=None,
        )

    context = Context(
        app=app,
        settings=settings,
        store=store,
        console=console,
        history=history,
        reader=reader,
        staff=staff,
        audit=audit,
        set_cookie=set_cookie,
    )
    for page in (_log_page, _dead_letters_page, _mappings_page, _parked_page, _setup_page):
        page.register(context)

    return Console(app=app, store=store, reader=reader)
