"""``qbsync dlq``: what support needs to find, read and replay dead letters."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qbsync.errors import QbsyncError
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


def _letters(
    code: str | None, tenant: str | None, profile: str | None, since: datetime | None
) -> tuple[Settings, list[dict[str, Any]]]:
    from connectors.kafka import DeadLetterFilter, read_dead_letters
    from qbsync.contracts import codec_from_settings

    settings = Settings()
    if not settings.kafka.bootstrap_servers:
        raise QbsyncError("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: no dead-letter topic to read")
    codec = codec_from_settings(settings)
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    chosen = DeadLetterFilter(code=code, tenant=tenant, profile=profile, since=since)
    letters = read_dead_letters(
        settings.kafka.client_config(),
        settings.topics.dead_letters,
        lambda data: codec.decode(data, expected="com.qbsync.pipeline.DeadLetter")[1],
    )
    return settings, [letter for letter in letters if chosen.matches(letter)]


def _summary(letter: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(letter["dead_letter_id"]),
        "failed_at": letter["failed_at"].isoformat(),
        "code": letter["code"],
        "tenant": letter["tenant_id"],
        "file": letter["profile_id"],
        "source": "{source_topic}[{source_partition}]@{source_offset}".format(**letter),
        "reason": letter["reason"],
    }


@dlq_app.command("list")
def dlq_list(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON array.")] = False,
) -> None:
    """Dead letters, oldest first, with why they are there."""
    _, letters = _letters(code, tenant, file, since)
    rows = [_summary(letter) for letter in letters]
    if as_json:
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table("id", "failed at", "code", "tenant", "reason", title=f"{len(rows)} dead letters")
    for row in rows:
        table.add_row(
            row["id"][:8], row["failed_at"][:19], row["code"], row["tenant"] or "", row["reason"]
        )
    Console().print(table)


@dlq_app.command("show")
def dlq_show(dead_letter_id: Annotated[str, typer.Argument(help="The id, or its start.")]) -> None:
    """One dead letter in full (the original message as text when it is text)."""
    _, letters = _letters(None, None, None, None)
    found = [dl for dl in letters if str(dl["dead_letter_id"]).startswith(dead_letter_id)]
    if len(found) != 1:
        raise QbsyncError(
            f"{len(found)} dead letters match {dead_letter_id!r}; give more of the id"
        )
    letter = found[0]
    original = letter["original_value"] or b""
    view = {
        **_summary(letter),
        "original_key": (letter["original_key"] or b"").decode("utf-8", "replace"),
        "original_bytes": len(original),
        "original_hex_head": original[:64].hex(" "),
    }
    sys.stdout.write(json.dumps(view, indent=2) + "\n")


@dlq_app.command("replay")
def dlq_replay(
    code: CodeOption = None,
    tenant: TenantOption = None,
    file: FileOption = None,
    since: SinceOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Say what would be replayed.")] = False,
    force: Annotated[bool, typer.Option(help="Replay even what was replayed before.")] = False,
) -> None:
    """Put dead-lettered events back on the events topic, in their original order.

    Each dead letter is replayed once: replaying again does nothing unless --force. A record
    that reached QuickBooks in the meantime becomes a Mod, never a second Add."""
    from connectors.kafka import RecordProducer, replayable
    from connectors.store import open_store

    settings, letters = _letters(code, tenant, file, since)
    chosen = replayable(letters, settings.topics.events)
    with open_store(settings.database_url) as store:
        done = set() if force else store.replayed([str(dl["dead_letter_id"]) for dl in chosen])
        todo = [dl for dl in chosen if str(dl["dead_letter_id"]) not in done]
        skipped = len(letters) - len(chosen)
        err.print(
            f"{len(todo)} to replay, {len(chosen) - len(todo)} replayed before,"
            f" {skipped} not replayable here (QuickBooks refusals: fix the record, then"
            " re-publish it from the source app)"
        )
        if dry_run or not todo:
            for letter in todo:
                err.print(f"  would replay {letter['dead_letter_id']} ({letter['code']})")
            return
        producer = RecordProducer(settings.kafka.client_config())
        try:
            producer.send_all(
                [(settings.topics.events, dl["original_key"], dl["original_value"]) for dl in todo]
            )
        finally:
            producer.close()
        store.record_replays([str(dl["dead_letter_id"]) for dl in todo])
        err.print(f"replayed {len(todo)}")
