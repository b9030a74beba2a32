"""The dead-letter list, one dead letter, and replay (preview, then confirm)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import abort, g, render_template, request

from qbsync.console._context import Context, parse_day
from qbsync.console._views import format_age

__all__ = ["register"]


def register(ctx: Context) -> None:
    app, settings, store, console = ctx.app, ctx.settings, ctx.store, ctx.console
    staff, audit = ctx.staff, ctx.audit

    # -- dead letters ----------------------------------------------------------------------

    def letter_filter() -> Any:
        from qbsync.dead_letters import LetterFilter

        source = request.form if request.method == "POST" else request.args
        return LetterFilter(
            code=source.get("code") or None,
            tenant=source.get("tenant") or None,
            file=source.get("file") or None,
            since=parse_day(source.get("since"), "since"),
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

    def placed(source: Any) -> tuple[int, int] | None:
        """Where the list says a dead letter is (``partition`` and ``offset``), if it says."""
        partition, offset = source.get("partition", ""), source.get("offset", "")
        if not offset:
            return None
        if not (partition or "0").isdigit() or not offset.isdigit():
            abort(400, "partition, offset: where the dead letter is on its topic (whole numbers)")
        return int(partition or 0), int(offset)

    def one_letter(letter_id: str, at: tuple[int, int]) -> Any:
        """The dead letter at ``at``: a seek and one record; 404 unless it is ``letter_id``."""
        from qbsync.dead_letters import read_letter_at

        found = read_letter_at(settings, *at).letter
        if found is None or not letter_id or not str(found["dead_letter_id"]).startswith(letter_id):
            abort(404, f"No dead letter {letter_id!r} at offset {at[1]} of partition {at[0]}.")
        return found

    @app.get("/dead-letters/<letter_id>")
    @staff()
    def dead_letter(letter_id: str) -> str:
        from qbsync.dead_letters import find_letter, read_blocked, read_letters, story, summary

        at = placed(request.args)
        if at is not None:
            # Linked from the list: read where it is, and what it blocks after it.
            letter = one_letter(letter_id, at)
            size = settings.console.dead_letter_page
            blocked, fetched = read_blocked(settings, letter, size=size)
            fetched += 1
            searched: int | None = size
        else:
            # By id alone (a "blocked by" link, an id from ``qbsync dlq``): the whole topic.
            letters = read_letters(settings)
            letter = find_letter(letters, letter_id)
            letter_id = str(letter["dead_letter_id"])
            blocked = [dl for dl in letters if dl.get("blocked_by") == letter_id]
            fetched, searched = len(letters), None
        view = story(letter, settings)
        if not g.principal.may("operator"):
            # The original message may carry customer data: an operator's to see.
            view.pop("original_hex_head", None)
            if "command" in view:
                view["command"].pop("request_xml", None)
        return render_template(
            "dead_letter.html",
            view=view,
            blocks=[summary(dl) for dl in blocked],
            searched=searched,
            fetched=fetched,
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
        only = request.form.get("id")
        at = placed(request.form)
        if only and at is not None:
            letters = [one_letter(only, at)]  # one dead letter, read where it is
        else:
            letters = read_letters(settings, chosen)
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
                at=at,
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
