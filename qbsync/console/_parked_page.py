"""What the worker holds back (release, dead-letter) and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, g, render_template, request

from core.errors import QbsyncError
from qbsync.console._context import Context
from qbsync.console._views import explained, filter_log

__all__ = ["register"]


def register(ctx: Context) -> None:
    app, settings, store, console = ctx.app, ctx.settings, ctx.store, ctx.console
    staff, audit, reader = ctx.staff, ctx.audit, ctx.reader

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
