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

from core.settings import Settings
from qbsync._cli_shell import command_group, emit_json, say
from qbsync._local_run import use_local_broker
from qbsync.dead_letters import (
    LetterFilter,
    carry_out_replay,
    find_letter,
    plan_replay,
    read_letters,
    story,
    summary,
)

__all__ = ["dlq_app"]

dlq_app = command_group("The dead-letter topic: list, show, replay.")

CodeOption = Annotated[str | None, typer.Option("--code", help="e.g. undecodable, 3171.")]
TenantOption = Annotated[str | None, typer.Option("--tenant")]
FileOption = Annotated[str | None, typer.Option("--file", help="Profile (company file) id.")]
SinceOption = Annotated[
    datetime | None, typer.Option("--since", help="ISO date or time (UTC when no zone).")
]


def _settings() -> Settings:
    """Settings with a broker: the configured one, else the local `qbsync run`'s."""
    return use_local_broker(Settings(), say)


@dlq_app.command("list")
def dlq_list(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Dead letters, oldest first, with why they are there."""
    letters = read_letters(_settings(), LetterFilter(code, tenant, file, since))
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
    """One dead letter in full.

    With the original message as text when it is text.
    """
    settings = _settings()
    letter = find_letter(read_letters(settings), dead_letter_id)
    sys.stdout.write(json.dumps(story(letter, settings), indent=2) + "\n")


@dlq_app.command("replay")
def dlq_replay(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replay even what was replayed before.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Put dead letters back where they came from.

    In their original order: refused commands on their company file's topic (with a fresh
    retry budget), events on the events topic.

    Each dead letter is replayed once: replaying again does nothing unless --force. An
    event whose record reached QuickBooks in the meantime becomes a Mod, never a second Add.
    """
    from qbsync.runtime import open_cli_store

    settings = _settings()
    letters = read_letters(settings, LetterFilter(code, tenant, file, since))
    with open_cli_store(settings) as store:
        done = store.replayed([str(dl["dead_letter_id"]) for dl in letters])
        plan = plan_replay(letters, done, settings, force=force)
        say(plan.describe())
        replayed: list[str] = []
        if dry_run:
            for letter in plan.todo:
                say(
                    f"  would replay {letter['dead_letter_id']} ({letter['code']})"
                    f" to {letter['source_topic']}"
                )
        elif plan.todo:

            def progress(number: int, letter: Any) -> None:
                replayed.append(str(letter["dead_letter_id"]))
                if number % 100 == 0 or number == len(plan.todo):
                    say(f"  replayed {number}/{len(plan.todo)}")

            say(f"replayed {carry_out_replay(plan, settings, store, on_each=progress)}")
    if as_json:
        emit_json(
            {
                "dry_run": dry_run,
                "to_replay": [str(dl["dead_letter_id"]) for dl in plan.todo],
                "replayed": replayed,
                "replayed_before": plan.before,
                "not_replayable": plan.not_replayable,
            }
        )
