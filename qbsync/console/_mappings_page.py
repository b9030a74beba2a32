"""A tenant's mappings, the company's records no app record is mapped to (as ``qbsync map
unmapped`` lists them): match and unmatch."""

from __future__ import annotations

from typing import Any

from flask import abort, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from qbsync.console._context import Context

__all__ = ["register"]


def register(ctx: Context) -> None:
    app, store, staff, audit = ctx.app, ctx.store, ctx.staff, ctx.audit

    # -- mappings --------------------------------------------------------------------------

    def reading(tenant: str, entity: str) -> dict[str, Any] | None:
        """The entity's read from QuickBooks: what is asked, how far one under way got."""
        from qbsync.mappings import import_rows, profile_of, under_way
        from streams.two_way.from_quickbooks import IMPORTED_AS

        if not tenant or not entity:
            return None
        rows = import_rows(store.watermarks(profile_of(store, tenant)))
        row = next((r for r in rows if r["entity"] == IMPORTED_AS.get(entity)), None)
        return None if row is None else {**row, "progress": under_way(row)}

    def mappings_page(tenant: str, entity: str, report: Any = None) -> str:
        from qbsync.mappings import unmapped
        from streams.two_way.from_quickbooks import IMPORTED_AS
        from streams.two_way.get_all import delivered_as_new

        confirmed = store.mapping_confirmations([tenant]).get(tenant, {}) if tenant else {}
        return render_template(
            "mappings.html",
            rows=store.mappings(tenant, entity or None) if tenant else [],
            # What a match could still adopt: per entity, as last read from QuickBooks.
            unmapped=unmapped(store, tenant, entity) if tenant and entity else None,
            tenant=tenant,
            entity=entity,
            tenants=store.tenants(),
            report=report,
            # "Get all" waits for these: may the entity be confirmed, and was it.
            confirmable=entity in delivered_as_new([IMPORTED_AS.get(entity, "")]),
            confirmed_at=confirmed.get(entity),
            refreshing=request.args.get("refreshing") == "1",
            reading=reading(tenant, entity),
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

    # -- before a "get all": read everything for matching, confirm the mapping ---------

    def chosen() -> tuple[str, str]:
        """The form's tenant and entity (the rules check both and say what is wrong)."""
        return request.form.get("tenant", ""), request.form.get("entity", "")

    @app.post("/mappings/done")
    @staff("operator")
    def mapping_done() -> BaseResponse:
        from qbsync.mappings import confirm

        tenant, entity = chosen()
        undo = request.form.get("undo") == "1"
        confirm(store, tenant, entity, by=g.principal.subject, undo=undo)
        audit("map.reopen" if undo else "map.done", f"{tenant}:{entity}")
        return redirect(url_for("mappings", tenant=tenant, entity=entity))

    @app.post("/mappings/refresh")
    @staff("operator")
    def mapping_refresh() -> BaseResponse:
        from qbsync.mappings import refresh

        tenant, entity = chosen()
        reads = refresh(store, ctx.settings, tenant, entity)
        audit("map.refresh", f"{tenant}:{entity}", reads=reads)
        return redirect(url_for("mappings", tenant=tenant, entity=entity, refreshing=1))
