"""The sync log page and its CSV download."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

from flask import Response, abort, render_template, request

from qbsync.console._context import Context, parse_day
from qbsync.console._views import explained, filter_log

__all__ = ["register"]


def register(ctx: Context) -> None:
    app, store, staff = ctx.app, ctx.store, ctx.staff

    # -- sync log --------------------------------------------------------------------------

    def log_selection() -> tuple[str, list[Any]]:
        from qbsync.sync_log import log_rows

        tenant = request.args.get("tenant", "")
        if not tenant:
            return "", []
        since = parse_day(request.args.get("since"), "since")
        until = parse_day(request.args.get("until"), "until")
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
