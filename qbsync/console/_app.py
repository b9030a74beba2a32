"""The console's Flask app (built by :func:`create_console`, never at import time)."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar, cast

from flask import Flask, Response, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from connectors.qbo import QboConnections, authorize_url
from connectors.store import ConsoleStore, SessionLog, Store
from core.errors import QbsyncError
from core.settings import Settings
from qbsync.console._auth import Principal, check_csrf, new_secret, sign_in
from qbsync.console._data import KafkaReader
from qbsync.console._oidc import OidcClient, OidcConfig, OidcRefused, Pending, role_of
from qbsync.console._qbo import QboView, connect_app, qbo_connection
from qbsync.console._views import (
    STATES,
    ConnectionRow,
    connection_state,
    explained,
    filter_connections,
    filter_log,
    format_age,
    quickbooks_words,
    session_views,
    setup_status,
    web_connector_words,
)

__all__ = ["Console", "create_console"]

log = logging.getLogger(__name__)

STAFF_COOKIE = "qbsync_console"
OIDC_COOKIE = "qbsync_oidc"
OIDC_PREFIX = "oidc:"  # staff signed in through the identity provider: "oidc:<name>"
OIDC_PENDING_TTL = timedelta(minutes=10)
SETUP_COOKIE = "qbsync_setup"
LOGIN_COOKIE = "qbsync_login"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Console:
    """The app and what it holds open."""

    app: Flask
    store: Store
    reader: KafkaReader

    def close(self) -> None:
        self.reader.close()
        self.store.close()


def _parse_day(text: str | None, field: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        abort(400, f"{field}: {text!r} is not a date (use YYYY-MM-DD)")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


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

    # -- sync log --------------------------------------------------------------------------

    def log_selection() -> tuple[str, list[Any]]:
        from qbsync.sync_log import log_rows

        tenant = request.args.get("tenant", "")
        if not tenant:
            return "", []
        since = _parse_day(request.args.get("since"), "since")
        until = _parse_day(request.args.get("until"), "until")
        if until is not None and len(request.args.get("until", "")) <= 10:
            until += timedelta(days=1)  # a day given: through its end
        rows = filter_log(
            log_rows(store, tenant, since),
            entity=request.args.get("entity", ""),
            status=request.args.get("status", ""),
            record=request.args.get("record", ""),
            until=until,
        )
        return tenant, rows

    @app.get("/log")
    @staff()
    def sync_log() -> str:
        tenant, rows = log_selection()
        shown = [(row, explained(row["code"], row["message"])) for row in rows[-500:]]
        return render_template(
            "log.html",
            tenant=tenant,
            rows=list(reversed(shown)),
            total=len(rows),
            tenants=store.tenants(),
            args=request.args,
        )

    @app.get("/log.csv")
    @staff()
    def sync_log_csv() -> Response:
        from qbsync.sync_log import write_csv

        tenant, rows = log_selection()
        if not tenant:
            abort(400, "tenant: choose the tenant whose log to download")
        buffer = io.StringIO()
        write_csv(rows, buffer)
        return Response(
            buffer.getvalue(),
            mimetype="text/csv",
            headers={"Content-Disposition": f'attachment; filename="sync-log-{tenant}.csv"'},
        )

    # -- dead letters ----------------------------------------------------------------------

    def letter_filter() -> Any:
        from qbsync.dead_letters import LetterFilter

        source = request.form if request.method == "POST" else request.args
        return LetterFilter(
            code=source.get("code") or None,
            tenant=source.get("tenant") or None,
            file=source.get("file") or None,
            since=_parse_day(source.get("since"), "since"),
        )

    def replays_of(ids: list[str]) -> dict[str, list[Any]]:
        found: dict[str, list[Any]] = {}
        for entry in console.audit_log(action="dlq.replay", targets=ids, limit=1000):
            found.setdefault(entry.target, []).append(entry)
        return found

    @app.get("/dead-letters")
    @staff()
    def dead_letters() -> str:
        from qbsync.dead_letters import read_letter_page, summary

        chosen = letter_filter()
        before = request.args.get("before", "")
        if before and not before.isdigit():
            abort(400, "before: an offset of the dead-letter topic (a whole number)")
        letters, older = read_letter_page(
            settings,
            chosen,
            before=int(before) if before else None,
            size=settings.console.dead_letter_page,
        )
        ids = [str(dl["dead_letter_id"]) for dl in letters]
        replayed = replays_of(ids)
        done = store.replayed(ids)
        now = datetime.now(UTC)
        rows = [
            {
                **summary(dl),
                "age": format_age((now - dl["failed_at"]).total_seconds()),
                "explanation": dl.get("explanation") or "",
                "remedy": dl.get("remedy") or "",
                "replayed": replayed.get(str(dl["dead_letter_id"]))
                or (["(from the command line)"] if str(dl["dead_letter_id"]) in done else []),
            }
            for dl in reversed(letters)
        ]
        return render_template(
            "dead_letters.html",
            rows=rows,
            chosen=chosen,
            older=older,
            page=settings.console.dead_letter_page,
        )

    @app.get("/dead-letters/<letter_id>")
    @staff()
    def dead_letter(letter_id: str) -> str:
        from qbsync.dead_letters import find_letter, read_letters, story

        letters = read_letters(settings)
        letter = find_letter(letters, letter_id)
        view = story(letter, settings)
        if not g.principal.may("operator"):
            # The original message may carry customer data: an operator's to see.
            view.pop("original_hex_head", None)
            if "command" in view:
                view["command"].pop("request_xml", None)
        blocked = [dl for dl in letters if dl.get("blocked_by") == str(letter["dead_letter_id"])]
        return render_template(
            "dead_letter.html",
            view=view,
            blocks=[str(dl["dead_letter_id"]) for dl in blocked],
            replays=replays_of([view["id"]]).get(view["id"], []),
            replayed_before=bool(store.replayed([view["id"]])),
        )

    @app.post("/dead-letters/replay")
    @staff("operator")
    def replay() -> Any:
        """Step one (``step=preview``): exactly what would be sent. Step two
        (``step=confirm``, with the previewed ids): sent, once, audited one by one."""
        from qbsync.dead_letters import carry_out_replay, plan_replay, read_letters, story

        chosen = letter_filter()
        letters = read_letters(settings, chosen)
        only = request.form.get("id")
        if only:
            letters = [dl for dl in letters if str(dl["dead_letter_id"]) == only]
            if not letters:
                abort(404, f"No dead letter {only!r} matches.")
        done = store.replayed([str(dl["dead_letter_id"]) for dl in letters])
        plan = plan_replay(letters, done, settings)
        ids = [str(dl["dead_letter_id"]) for dl in plan.todo]
        if request.form.get("step") != "confirm":
            return render_template(
                "replay.html",
                plan=plan,
                items=[story(dl, settings) for dl in plan.todo],
                ids=",".join(ids),
                chosen=chosen,
                only=only or "",
            )
        if request.form.get("ids", "") != ",".join(ids):
            abort(
                409,
                "What would be replayed changed since the preview (new dead letters arrived,"
                " or someone replayed some): preview again.",
            )

        def record(_number: int, letter: Any) -> None:
            audit(
                "dlq.replay",
                str(letter["dead_letter_id"]),
                code=letter["code"],
                to=letter["source_topic"],
                record=f"{letter.get('entity')}:{letter.get('entity_id')}",
                filter=chosen.describe(),
            )

        sent = carry_out_replay(plan, settings, store, on_each=record)
        return render_template("replayed.html", sent=sent, plan=plan, ids=ids)

    # -- mappings --------------------------------------------------------------------------

    def mappings_page(tenant: str, entity: str, report: Any = None) -> str:
        return render_template(
            "mappings.html",
            rows=store.mappings(tenant, entity or None) if tenant else [],
            tenant=tenant,
            entity=entity,
            tenants=store.tenants(),
            report=report,
        )

    @app.get("/mappings")
    @staff()
    def mappings() -> str:
        return mappings_page(request.args.get("tenant", ""), request.args.get("entity", ""))

    @app.post("/mappings/match")
    @staff("operator")
    def match() -> str:
        import csv

        from qbsync.mappings import match as match_records

        tenant = request.form.get("tenant", "")
        entity = request.form.get("entity", "")
        if not tenant or not entity:
            abort(400, "tenant and entity: both are needed to match records")
        dry_run = request.form.get("dry_run") == "on"
        pasted = request.form.get("records", "").strip()
        if pasted:
            report = match_records(
                store,
                tenant,
                entity,
                records=[dict(r) for r in csv.DictReader(pasted.splitlines())],
                dry_run=dry_run,
                source="the pasted records",
            )
        else:
            report = match_records(
                store,
                tenant,
                entity,
                one=(request.form.get("id", ""), request.form.get("qb_id", "")),
                dry_run=dry_run,
            )
        if not dry_run:
            audit("map.match", f"{tenant}:{entity}", **report.as_json())
        return mappings_page(tenant, entity, report)

    @app.post("/mappings/unmatch")
    @staff("operator")
    def unmatch() -> BaseResponse:
        from qbsync.mappings import unmatch as forget

        tenant = request.form.get("tenant", "")
        entity = request.form.get("entity", "")
        source_id = request.form.get("id", "")
        forget(store, tenant, entity, source_id)
        audit("map.unmatch", f"{tenant}:{entity}:{source_id}")
        return redirect(url_for("mappings", tenant=tenant, entity=entity))

    # -- parked, audit ---------------------------------------------------------------------

    @app.get("/records")
    @staff()
    def record() -> str:
        """ "Why is my invoice not in QuickBooks?": one record's mapping, sync log, dead
        letters and parked entries on one page."""
        from qbsync.dead_letters import LetterFilter, read_letters, summary
        from qbsync.sync_log import log_rows

        tenant = request.args.get("tenant", "")
        record_id = request.args.get("id", "")
        entity = request.args.get("entity", "")
        if not (tenant and record_id):
            return render_template("record.html", found=None, tenants=store.tenants())
        rows = filter_log(log_rows(store, tenant), record=record_id, entity=entity)
        letters: list[dict[str, Any]] | None
        try:
            letters = [
                {**summary(dl), "remedy": dl.get("remedy") or ""}
                for dl in read_letters(settings, LetterFilter(tenant=tenant))
                if dl.get("entity_id") == record_id and (not entity or dl["entity"] == entity)
            ]
        except QbsyncError:
            letters = None  # no broker configured: shown as unknown
        waiting = [
            e
            for e in reader.parked()
            if e.tenant_id == tenant
            and e.entity_id == record_id
            and (not entity or e.entity == entity)
        ]
        entities = sorted({r["entity"] for r in rows} | ({entity} if entity else set()))
        found = {
            "tenant": tenant,
            "id": record_id,
            "entity": entity,
            "mappings": [m for e in entities if (m := store.mapping(tenant, e, record_id))],
            "log": [(row, explained(row["code"], row["message"])) for row in reversed(rows)],
            "letters": letters,
            "parked": waiting,
        }
        return render_template(
            "record.html",
            found=found,
            tenants=store.tenants(),
            now=datetime.now(UTC).timestamp(),
        )

    @app.get("/parked")
    @staff()
    def parked() -> str:
        tenant = request.args.get("tenant", "")
        entries = [e for e in reader.parked() if not tenant or e.tenant_id == tenant]
        now = datetime.now(UTC).timestamp()
        return render_template("parked.html", entries=entries, now=now, tenant=tenant)

    def parked_entry(tenant: str, entity: str, entity_id: str, action: str) -> Any:
        from qbsync.parked import ACTIONS, NotParked, find_parked

        if action not in ACTIONS:
            abort(400, f"action: {action!r} is not one of {', '.join(ACTIONS)}")
        try:
            return find_parked(reader.parked(), tenant, entity, entity_id)
        except NotParked as exc:
            abort(404, str(exc))

    def parked_page(entry: Any, action: str, *, done: bool) -> str:
        from qbsync.parked import consequence

        return render_template(
            "parked_confirm.html",
            entry=entry,
            action=action,
            title={"release": "Release", "dead-letter": "Dead-letter"}[action],
            what=consequence(entry, action, settings),
            done=done,
            now=datetime.now(UTC).timestamp(),
        )

    @app.get("/parked/confirm")
    @staff("operator")
    def parked_confirm() -> str:
        """What releasing or dead-lettering this parked record will do, before it is asked."""
        args = request.args
        action = args.get("action", "")
        entry = parked_entry(
            args.get("tenant", ""), args.get("entity", ""), args.get("id", ""), action
        )
        return parked_page(entry, action, done=False)

    @app.post("/parked/act")
    @staff("operator")
    def parked_act() -> str:
        """The request the worker carries out at its next sweep (``qbsync parked``'s code),
        for the version confirmed: a newer event of the record since is a 409."""
        from qbsync.parked import ask_worker

        form = request.form
        action = form.get("action", "")
        entry = parked_entry(
            form.get("tenant", ""), form.get("entity", ""), form.get("id", ""), action
        )
        try:
            confirmed = float(form.get("parked_at", ""))
        except ValueError:
            abort(400, "parked_at: missing; open the confirmation again")
        if abs(entry.parked_at - confirmed) > 1e-6:
            abort(
                409,
                "A newer event of this record replaced the one you confirmed: look at it again"
                " before deciding.",
            )
        ask_worker(store, entry, action, by=g.principal.subject)
        audit(
            f"parked.{action}",
            f"{entry.tenant_id}:{entry.entity}:{entry.entity_id}",
            kind=entry.kind,
            waiting_on=list(entry.waiting_on),
            parked_at=entry.parked_at,
        )
        return parked_page(entry, action, done=True)

    @app.get("/audit")
    @staff()
    def audit_page() -> str:
        return render_template("audit.html", entries=console.audit_log(limit=500))

    # -- the bookkeeper's setup page -------------------------------------------------------

    @app.get("/setup/<token>")
    def open_setup(token: str) -> BaseResponse:
        link, why = console.use_setup_link(token)
        if link is None:
            words = {
                "used": "This setup link was used already; links work once. Ask support for"
                " a new one.",
                "expired": "This setup link has expired. Ask support for a new one.",
                "unknown": "This setup link is not valid. Check that you copied all of it.",
            }[why]
            abort(410 if why != "unknown" else 404, words)
        session_id = new_secret()
        console.open_session(
            session_id,
            kind="setup",
            subject=link.profile_id,
            role="bookkeeper",
            csrf_token=new_secret(),
            ttl=timedelta(seconds=settings.console.setup_link_ttl_s),
            since=link.created_at,
        )
        console.audit(f"bookkeeper:{link.profile_id}", "setup-link.opened", link.profile_id, {})
        response = redirect(url_for("setup"))
        set_cookie(
            response,
            SETUP_COOKIE,
            session_id,
            settings.console.setup_link_ttl_s,
            (request.script_root or "") + "/setup",
        )
        return response

    def bookkeeper() -> tuple[Principal, Any]:
        principal: Principal | None = g.principal
        if principal is None or principal.kind != "setup":
            abort(401, "Open the setup link support sent you.")
        profile = store.profile(principal.subject)
        if profile is None:
            abort(404, "This company file no longer exists.")
        return principal, profile

    def status_of(principal: Principal, profile: Any) -> dict[str, str]:
        return setup_status(
            last_seen_at=profile.last_seen_at,
            since=principal.since or datetime.now(UTC),
            failed_logins=profile.failed_logins,
        )

    @app.get("/setup")
    def setup() -> str:
        principal, profile = bookkeeper()
        return render_template(
            "setup.html",
            profile=profile,
            status=status_of(principal, profile),
            password=None,
            poll_s=settings.console.status_poll_s,
        )

    @app.get("/setup/status")
    def setup_status_json() -> Response:
        principal, profile = bookkeeper()
        return jsonify(status_of(principal, profile))

    @app.get("/setup/qbsync.qwc")
    def setup_qwc() -> Response:
        from connectors.qbwc import QwcError, render_qwc

        _principal, profile = bookkeeper()
        url = settings.gateway.public_url or (
            f"http://{settings.gateway.host}:{settings.gateway.port}/qbwc"
        )
        try:
            text = render_qwc(profile, url=url)
        except QwcError as exc:
            abort(409, f"{exc} (support: set QBSYNC_GATEWAY_PUBLIC_URL)")
        return Response(
            text,
            mimetype="application/xml",
            headers={"Content-Disposition": 'attachment; filename="qbsync.qwc"'},
        )

    @app.post("/setup/password")
    def setup_password() -> str:
        from connectors.qbwc import reset_password

        principal, profile = bookkeeper()
        created = reset_password(store, profile.id)
        audit("setup.password-reset", profile.id)
        return render_template(
            "setup.html",
            profile=created.profile,
            status=status_of(principal, created.profile),
            password=created.password,
            poll_s=settings.console.status_poll_s,
        )

    return Console(app=app, store=store, reader=reader)
