"""``qbsync dlq``: what support needs to find, read and replay dead letters.

The logic lives in :mod:`qbsync.dead_letters` (the console uses it too); this is its
command line."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qbsync.dead_letters import (
    LetterFilter,
    carry_out_replay,
    find_letter,
    plan_replay,
    read_letters,
    story,
    summary,
)
from qbsync.settings import Settings

__all__ = ["dlq_app"]

dlq_app = typer.Typer(no_args_is_help=True, help="The dead-letter topic: list, show, replay.")
err = Console(stderr=True)

CodeOption = Annotated[str | None, typer.Option("--code", help="e.g. undecodable, 3171.")]
TenantOption = Annotated[str | None, typer.Option("--tenant")]
FileOption = Annotated[str | None, typer.Option("--file", help="Profile (company file) id.")]
SinceOption = Annotated[
    datetime | None, typer.Option("--since", help="ISO date or time (UTC when no zone).")
]


@dlq_app.command("list")
def dlq_list(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Dead letters, oldest first, with why they are there."""
    letters = read_letters(Settings(), LetterFilter(code, tenant, file, since))
    rows: list[dict[str, Any]] = [summary(letter) for letter in letters]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(
        "id", "failed at", "code", "tenant", "record", "reason", title=f"{len(rows)} dead letters"
    )
    for row in rows:
        table.add_row(
            row["id"][:8],
            row["failed_at"][:19],
            row["code"],
            row["tenant"] or "",
            row["record"] or "",
            row["reason"],
        )
    Console().print(table)


@dlq_app.command("show")
def dlq_show(dead_letter_id: Annotated[str, typer.Argument(help="The id, or its start.")]) -> None:
    """One dead letter in full (the original message as text when it is text)."""
    settings = Settings()
    letter = find_letter(read_letters(settings), dead_letter_id)
    sys.stdout.write(json.dumps(story(letter, settings), indent=2) + "\n")


@dlq_app.command("replay")
def dlq_replay(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")] = False,
    force: Annotated[bool, typer.Option(help="Replay even what was replayed before.")] = False,
) -> None:
    """Put dead letters back where they came from, in their original order: refused
    commands on their company file's topic (with a fresh retry budget), events on the
    events topic.

    Each dead letter is replayed once: replaying again does nothing unless --force. An
    event whose record reached QuickBooks in the meantime becomes a Mod, never a second Add.
    """
    from connectors.store import open_store

    settings = Settings()
    letters = read_letters(settings, LetterFilter(code, tenant, file, since))
    with open_store(settings.database_url) as store:
        done = store.replayed([str(dl["dead_letter_id"]) for dl in letters])
        plan = plan_replay(letters, done, settings, force=force)
        err.print(plan.describe())
        if dry_run or not plan.todo:
            for letter in plan.todo:
                err.print(
                    f"  would replay {letter['dead_letter_id']} ({letter['code']})"
                    f" to {letter['source_topic']}"
                )
            return

        def progress(number: int, _letter: Any) -> None:
            if number % 100 == 0 or number == len(plan.todo):
                err.print(f"  replayed {number}/{len(plan.todo)}")

        sent = carry_out_replay(plan, settings, store, on_each=progress)
    err.print(f"replayed {sent}")
