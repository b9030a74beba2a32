"""``qbsync dlq``: what support needs to find, read and replay dead letters."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from qbsync.errors import QbsyncError
from qbsync.settings import Settings

if TYPE_CHECKING:
    from qbsync.contracts import AvroCodec

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


def _summary(letter: Mapping[str, Any]) -> dict[str, Any]:
    first = letter.get("first_failed_at")
    return {
        "id": str(letter["dead_letter_id"]),
        "failed_at": letter["failed_at"].isoformat(),
        "first_failed_at": first.isoformat() if first else None,
        "code": letter["code"],
        "category": letter.get("category") or "",
        "tenant": letter["tenant_id"],
        "file": letter["profile_id"],
        "record": f"{letter['entity']}:{letter['entity_id']}" if letter.get("entity") else None,
        "attempts": letter.get("attempts", 1),
        "blocked_by": letter.get("blocked_by"),
        "source": "{source_topic}[{source_partition}]@{source_offset}".format(**letter),
        "reason": letter["reason"],
        "explanation": letter.get("explanation") or "",
        "remedy": letter.get("remedy") or "",
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
    settings, letters = _letters(None, None, None, None)
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
    if letter["source_topic"].startswith(settings.topics.commands("")):
        # A refused command: what QuickBooks was asked, so support sees the request itself.
        from qbsync.contracts import DecodeError, codec_from_settings

        try:
            _, command = codec_from_settings(settings).decode(
                original, expected="com.qbsync.pipeline.Command"
            )
            view["command"] = {
                "action": command["action"],
                "depends_on": command["depends_on"],
                "request_xml": command["request_xml"],
            }
        except DecodeError as exc:
            view["command"] = {"error": str(exc)}
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
    """Put dead letters back where they came from, in their original order: refused
    commands on their company file's topic (with a fresh retry budget), events on the
    events topic.

    Each dead letter is replayed once: replaying again does nothing unless --force. An
    event whose record reached QuickBooks in the meantime becomes a Mod, never a second Add.
    """
    from connectors.kafka import RecordProducer, replayable
    from connectors.store import open_store
    from qbsync.contracts import codec_from_settings

    settings, letters = _letters(code, tenant, file, since)
    chosen = replayable(letters, settings.topics.events, settings.topics.commands(""))
    with open_store(settings.database_url) as store:
        done = set() if force else store.replayed([str(dl["dead_letter_id"]) for dl in chosen])
        todo = [dl for dl in chosen if str(dl["dead_letter_id"]) not in done]
        skipped = len(letters) - len(chosen)
        err.print(
            f"{len(todo)} to replay, {len(chosen) - len(todo)} replayed before,"
            f" {skipped} not replayable here (results without their command: re-publish the"
            " record from the source app)"
        )
        if dry_run or not todo:
            for letter in todo:
                err.print(
                    f"  would replay {letter['dead_letter_id']} ({letter['code']})"
                    f" to {letter['source_topic']}"
                )
            return
        codec = codec_from_settings(settings)
        producer = RecordProducer(settings.kafka.client_config())
        try:
            for number, letter in enumerate(todo, 1):
                producer.send_all([_replayed(letter, settings.topics.events, codec)])
                # Recorded one by one: an interruption never replays one twice.
                store.record_replays([str(letter["dead_letter_id"])])
                if number % 100 == 0 or number == len(todo):
                    err.print(f"  replayed {number}/{len(todo)}")
        finally:
            producer.close()
        err.print(f"replayed {len(todo)}")


def _replayed(
    letter: Mapping[str, Any], events_topic: str, codec: AvroCodec
) -> tuple[str, bytes | None, bytes]:
    """Where a dead letter goes back to, and what: an event as it was; a command with its
    attempt count reset, so a passing failure after the fix is retried again."""
    value: bytes = letter["original_value"]
    if letter["source_topic"] == events_topic:
        return events_topic, letter["original_key"], value
    _, command = codec.decode(value, expected="com.qbsync.pipeline.Command")
    fresh = {**command, "attempt": 1, "first_failed_at": None}
    return (
        letter["source_topic"],
        letter["original_key"],
        codec.encode("com.qbsync.pipeline.Command", fresh),
    )
