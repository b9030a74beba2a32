"""``qbsync feed changes|status --tenant T [--follow] [--json]``: what a source app reads
back, for support and for an app's developers: the ``QuickBooksChange`` events on
``<prefix>.changes`` (what someone changed in QuickBooks) and the ``SyncStatus`` events on
``<prefix>.status`` (what happened to each record sent), one tenant's, oldest first.

Without ``--follow`` it prints what the topic holds and exits; with it, it goes on printing
as events arrive until interrupted (Ctrl-C exits 0). ``--json`` prints one JSON object per
line (JSON Lines), so a follower can be piped. Exit codes: 0 done, 2 configuration.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer

from core.settings import Settings
from qbsync._cli_shell import command_group, say
from qbsync._local_run import use_local_broker

__all__ = ["feed_app", "read_feed"]

feed_app = command_group("What an app reads back: QuickBooks changes, sync statuses.")

TenantOption = Annotated[str, typer.Option("--tenant", help="The tenant id.")]
FollowOption = Annotated[
    bool, typer.Option("--follow", "-f", help="Keep printing new events until Ctrl-C.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON object per line.")]


def read_feed(
    settings: Settings,
    topic: str,
    tenant: str,
    *,
    follow: Callable[[], bool] = lambda: False,
    idle_s: float = 1.0,
) -> Iterator[dict[str, Any]]:
    """The tenant's events on ``topic`` (every partition, from the start), decoded; after
    the end, more as they come while ``follow()`` says so."""
    from connectors.kafka import read_topic
    from core.contracts import codec_from_settings, to_json

    codec = codec_from_settings(settings)
    key = tenant.encode()
    config = settings.kafka.client_config()
    for message in read_topic(config, topic, follow=follow, idle_s=idle_s):
        if message.key != key:
            continue
        try:
            _, value = codec.decode(message.value or b"")
        except Exception as exc:  # one bad message must not end the feed
            yield {"error": f"undecodable at {message.partition}@{message.offset}: {exc}"}
            continue
        yield to_json(value)


def _print(event: dict[str, Any], as_json: bool, fields: tuple[str, ...]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(event) + "\n")
    else:
        sys.stdout.write("  ".join(str(event.get(f, "")) for f in fields) + "\n")
    sys.stdout.flush()


def _run(topic: str, tenant: str, follow: bool, as_json: bool, fields: tuple[str, ...]) -> None:
    settings = use_local_broker(Settings(), say)
    stopping = {"now": False}

    def stop(_signum: int, _frame: Any) -> None:
        stopping["now"] = True

    previous = signal.signal(signal.SIGINT, stop) if follow else None
    try:
        target = topic.format(topics=settings.topics)
        started = time.monotonic()
        for event in read_feed(
            settings, target, tenant, follow=lambda: follow and not stopping["now"]
        ):
            _print(event, as_json, fields)
        if follow:
            typer.echo(f"stopped after {time.monotonic() - started:.0f}s", err=True)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)


@feed_app.command("changes")
def feed_changes(
    tenant: TenantOption, follow: FollowOption = False, as_json: JsonOption = False
) -> None:
    """The tenant's QuickBooksChange events.

    What someone else changed in QuickBooks.
    """
    fields = ("detected_at", "kind", "entity", "entity_id", "qb_id", "qb_edit_sequence")
    _run("{topics.changes}", tenant, follow, as_json, fields)


@feed_app.command("status")
def feed_status(
    tenant: TenantOption, follow: FollowOption = False, as_json: JsonOption = False
) -> None:
    """The tenant's SyncStatus events.

    What happened to each record sent to QuickBooks.
    """
    fields = ("at", "status", "entity", "entity_id", "qb_id", "code", "explanation")
    _run("{topics.status}", tenant, follow, as_json, fields)
