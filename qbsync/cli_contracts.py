"""``qbsync publish`` and ``qbsync schemas``: the event contracts on the command line.

Registered in :mod:`qbsync.cli`. Problems and progress go to stderr as plain text (never
through Rich markup: event values are user data); results meant for scripts go to stdout.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from core.contracts import (
    EVENT_TYPES,
    AvroCodec,
    EventPublisher,
    EventType,
    InvalidEvent,
    UnknownEventType,
    check_compatibility,
    event_type,
    load_released,
    load_schemas,
    parse_json,
    prepare_event,
    render_events_doc,
    to_json,
)
from core.settings import Settings
from qbsync._cli_shell import command_group
from qbsync._local_run import use_local_broker

__all__ = ["publish", "schemas_app"]

schemas_app = command_group("The event schemas: list, document, check.")

_DOCS = Path("docs") / "events.md"


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")


def publish(
    tenant: Annotated[str, typer.Option(help="The tenant; also the message key.")],
    type_: Annotated[str, typer.Option("--type", help="The event type, e.g. invoice.upserted.")],
    file: Annotated[
        Path,
        typer.Option(
            "--file",
            help="The event as JSON: envelope and payload ('-' reads stdin).",
            allow_dash=True,
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and print the event; send nothing.")
    ] = False,
    lines: Annotated[
        bool,
        typer.Option("--lines", help="The file holds many events, one JSON object per line."),
    ] = False,
) -> None:
    """Publish one event, checked against its schema.

    It goes to <prefix>.events, keyed by tenant.
    Every problem is listed with its path; nothing is sent unless the whole event is valid.
    With --lines, every line is an event, all are checked first, and all are published by
    one producer, in file order (one JSON line per delivery).
    """
    try:
        kind = event_type(type_)
    except UnknownEventType as exc:
        raise typer.BadParameter(str(exc), param_hint="--type") from None
    source = "stdin" if str(file) == "-" else str(file)
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {source}: {exc}", param_hint="--file") from None
    settings = Settings()
    # A dry run must not register schemas, so it encodes without the registry.
    codec = AvroCodec(registry_url="") if dry_run else AvroCodec()
    if lines:
        _publish_lines(settings, codec, kind, text, source, tenant, dry_run)
        return
    try:
        prepared = prepare_event(codec, kind, parse_json(text, source=source), tenant_id=tenant)
    except InvalidEvent as exc:
        count = len(exc.problems)
        problems = f"{count} problem{'s' if count != 1 else ''}"
        _say(f"{source} is not a valid {kind.name} event ({problems}); nothing was sent:")
        for problem in exc.problems:
            _say(f"  {problem}")
        raise typer.Exit(1) from None
    if dry_run:
        sys.stdout.write(json.dumps(to_json(prepared.record), indent=2, ensure_ascii=False) + "\n")
        _say(
            f"dry run: {source} is a valid {kind.name} event ({len(prepared.value)} bytes,"
            f" {codec.wire_format} encoding); it would go to {settings.topics.events} with key"
            f" {prepared.tenant_id!r}. Nothing was sent."
        )
        return
    use_local_broker(settings, _say)
    with EventPublisher(settings, codec=codec) as publisher:
        delivery = publisher.publish(prepared)
    sys.stdout.write(
        json.dumps(
            {
                "event_id": delivery.event_id,
                "event_type": delivery.event_type,
                "topic": delivery.topic,
                "partition": delivery.partition,
                "offset": delivery.offset,
            }
        )
        + "\n"
    )
    _say(f"published {kind.name} {delivery.event_id} to {delivery.topic}[{delivery.partition}]")


@schemas_app.command("list")
def schemas_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON array.")] = False,
) -> None:
    """The event types and their schemas.

    With each schema's fingerprint (CRC-64-AVRO).
    """
    schemas = load_schemas()
    rows = [
        {
            "type": name,
            "entity": kind.entity,
            "kind": kind.kind,
            "schema": kind.schema,
            "payload_field": kind.payload_field,
            "fingerprint": schemas.fingerprint(kind.schema).hex(),
        }
        for name, kind in EVENT_TYPES.items()
    ]
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    width = max(len(row["type"]) for row in rows)
    for row in rows:
        sys.stdout.write(f"{row['type']:<{width}}  {row['fingerprint']}  {row['schema']}\n")


@schemas_app.command("docs")
def schemas_docs(
    output: Annotated[Path, typer.Option(help="Where to write the page.")] = _DOCS,
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the page is stale.")
    ] = False,
) -> None:
    """Write docs/events.md from the schemas and their examples."""
    page = render_events_doc()
    current = output.read_text(encoding="utf-8") if output.is_file() else None
    if check:
        if current != page:
            _say(f"{output} is stale: run `qbsync schemas docs`")
            raise typer.Exit(1)
        _say(f"{output} is up to date")
        return
    if current == page:
        _say(f"{output} is up to date")
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(page, encoding="utf-8")
    _say(f"wrote {output}")


@schemas_app.command("check")
def schemas_check(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON report.")] = False,
) -> None:
    """Check compatibility with every released version.

    Exit 1 on a break.
    """
    current = load_schemas()
    problems = [
        f"{version}: {problem}"
        for version, released in load_released().items()
        for problem in check_compatibility(released, current, version=version)
    ]
    if as_json:
        sys.stdout.write(
            json.dumps({"released": list(load_released()), "problems": problems}) + "\n"
        )
    for problem in problems:
        _say(problem)
    if problems:
        raise typer.Exit(1)
    _say(f"compatible with {', '.join(load_released()) or 'no released version'}")


def _publish_lines(
    settings: Settings,
    codec: AvroCodec,
    kind: EventType,
    text: str,
    source: str,
    tenant: str,
    dry_run: bool,
) -> None:
    """``publish --lines``: every non-empty line one event; all valid, or nothing sent."""
    prepared, bad = [], 0
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"{source} line {number}"
        try:
            prepared.append(
                prepare_event(codec, kind, parse_json(line, source=where), tenant_id=tenant)
            )
        except InvalidEvent as exc:
            bad += 1
            _say(f"{where} is not a valid {kind.name} event:")
            for problem in exc.problems:
                _say(f"  {problem}")
    if bad or not prepared:
        _say(f"{bad} of {bad + len(prepared)} events invalid; nothing was sent")
        raise typer.Exit(1)
    if dry_run:
        _say(f"dry run: {len(prepared)} valid {kind.name} events; nothing was sent")
        return
    with EventPublisher(settings, codec=codec) as publisher:
        for event in prepared:
            delivery = publisher.publish(event)
            sys.stdout.write(
                json.dumps(
                    {
                        "event_id": delivery.event_id,
                        "partition": delivery.partition,
                        "offset": delivery.offset,
                    }
                )
                + "\n"
            )
    _say(f"published {len(prepared)} events to {settings.topics.events}")
