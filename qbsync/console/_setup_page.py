"""The bookkeeper's setup page: the one-time link, the .qwc, the password, the status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Response, abort, g, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from qbsync.console._auth import Principal, new_secret
from qbsync.console._context import SETUP_COOKIE, Context
from qbsync.console._views import setup_status

__all__ = ["register"]


def register(ctx: Context) -> None:
    app, settings, store, console = ctx.app, ctx.settings, ctx.store, ctx.console
    audit, set_cookie = ctx.audit, ctx.set_cookie

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
