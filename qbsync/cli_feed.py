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

from qbsync.errors import ConfigurationError
from qbsync.settings import Settings

__all__ = ["feed_app", "read_feed"]

feed_app = typer.Typer(
    no_args_is_help=True,
    help="What the apps read back: QuickBooks changes and sync statuses of one tenant.",
)

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
    from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

    from qbsync.contracts import codec_from_settings, to_json

    if not settings.kafka.bootstrap_servers:
        raise ConfigurationError(
            "QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: set it to the broker qbsync uses"
        )
    codec = codec_from_settings(settings)
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": "qbsync-feed-reader",
            "enable.auto.commit": False,
        }
    )
    try:
        try:
            metadata = consumer.list_topics(topic, timeout=10)
        except KafkaException as exc:
            raise ConfigurationError(f"the broker did not answer: {exc}") from None
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            raise ConfigurationError(f"no topic {topic!r}: is QBSYNC_TOPIC_PREFIX right?")
        ends = {}
        for partition in found.partitions:
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            ends[partition] = high
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in found.partitions])
        behind = {p for p, high in ends.items() if high > 0}
        key = tenant.encode()
        while True:
            batch = consumer.consume(500, timeout=idle_s)
            for message in batch:
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                if offset + 1 >= ends.get(partition, 0):
                    behind.discard(partition)
                if message.key() != key:
                    continue
                try:
                    _, value = codec.decode(message.value() or b"")
                except Exception as exc:  # one bad message must not end the feed
                    yield {"error": f"undecodable at {partition}@{offset}: {exc}"}
                    continue
                yield to_json(value)
            if not behind and not batch and not follow():
                return
    finally:
        consumer.close()


def _print(event: dict[str, Any], as_json: bool, fields: tuple[str, ...]) -> None:
    if as_json:
        sys.stdout.write(json.dumps(event) + "\n")
    else:
        sys.stdout.write("  ".join(str(event.get(f, "")) for f in fields) + "\n")
    sys.stdout.flush()


def _run(topic: str, tenant: str, follow: bool, as_json: bool, fields: tuple[str, ...]) -> None:
    settings = Settings()
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
    """QuickBooksChange events of the tenant: what someone else changed in QuickBooks."""
    fields = ("detected_at", "kind", "entity", "entity_id", "qb_id", "qb_edit_sequence")
    _run("{topics.changes}", tenant, follow, as_json, fields)


@feed_app.command("status")
def feed_status(
    tenant: TenantOption, follow: FollowOption = False, as_json: JsonOption = False
) -> None:
    """SyncStatus events of the tenant: what happened to each record sent to QuickBooks."""
    fields = ("at", "status", "entity", "entity_id", "qb_id", "code", "explanation")
    _run("{topics.status}", tenant, follow, as_json, fields)
