"""Dead letters for support, shared by ``qbsync dlq`` and the console: read them with
filters, describe one (its whole story), plan a replay (pure) and carry it out.

Replay puts dead letters back where they came from, in their original order: refused
commands on their company file's topic (with a fresh retry budget), events on the events
topic. Each is replayed once (recorded one by one, so an interruption never replays one
twice) unless forced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.errors import QbsyncError
from core.messages import COMMAND, DEAD_LETTER
from core.settings import Settings

if TYPE_CHECKING:
    from connectors.kafka import LetterAt
    from connectors.store import Store
    from core.contracts import AvroCodec

__all__ = [
    "Letter",
    "LetterFilter",
    "ReplayPlan",
    "carry_out_replay",
    "find_letter",
    "plan_replay",
    "read_blocked",
    "read_letter_at",
    "read_letter_page",
    "read_letters",
    "story",
    "summary",
]

Letter = Mapping[str, Any]


@dataclass(frozen=True)
class LetterFilter:
    """Which dead letters: every field optional; ``since`` without a zone is UTC."""

    code: str | None = None
    tenant: str | None = None
    file: str | None = None
    since: datetime | None = None

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("code", self.code),
                ("tenant", self.tenant),
                ("file", self.file),
                ("since", self.since.isoformat() if self.since else None),
            )
            if value
        ]
        return ", ".join(parts) or "every dead letter"


def _reading(
    settings: Settings, chosen: LetterFilter
) -> tuple[Callable[[bytes], dict[str, Any]], Callable[[Mapping[str, Any]], bool]]:
    """How to decode the topic's letters, and which of them ``chosen`` keeps."""
    from connectors.kafka import DeadLetterFilter
    from core.contracts import codec_from_settings

    if not settings.kafka.bootstrap_servers:
        raise QbsyncError("QBSYNC_KAFKA_BOOTSTRAP_SERVERS is empty: no dead-letter topic to read")
    codec = codec_from_settings(settings)
    since = chosen.since
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    matches = DeadLetterFilter(
        code=chosen.code, tenant=chosen.tenant, profile=chosen.file, since=since
    ).matches
    return (lambda data: codec.decode(data, expected=DEAD_LETTER)[1]), matches


def read_letters(settings: Settings, chosen: LetterFilter | None = None) -> list[dict[str, Any]]:
    """The dead letters on the topic that match ``chosen``, oldest first."""
    from connectors.kafka import read_dead_letters

    decode, matches = _reading(settings, chosen or LetterFilter())
    letters = read_dead_letters(
        settings.kafka.client_config(), settings.topics.dead_letters, decode
    )
    return [letter for letter in letters if matches(letter)]


def read_letter_page(
    settings: Settings, chosen: LetterFilter, *, before: int | None, size: int
) -> tuple[list[dict[str, Any]], int | None]:
    """The dead letters matching ``chosen`` among at most ``size`` of the topic's newest (or
    those before offset ``before``), oldest first, and where the next older page ends
    (None: this page reaches the topic's start). A page reads a window, never the topic."""
    from connectors.kafka import read_dead_letter_window

    decode, matches = _reading(settings, chosen)
    window = read_dead_letter_window(
        settings.kafka.client_config(),
        settings.topics.dead_letters,
        decode,
        before=before,
        size=size,
    )
    return [letter for letter in window.letters if matches(letter)], window.older


def read_letter_at(settings: Settings, partition: int, offset: int) -> LetterAt:
    """The dead letter at ``offset`` of the topic's ``partition`` (as the list links it):
    one seek and one record, never the whole topic."""
    from connectors.kafka import read_dead_letter_at

    decode, _ = _reading(settings, LetterFilter())
    return read_dead_letter_at(
        settings.kafka.client_config(),
        settings.topics.dead_letters,
        decode,
        partition=partition,
        offset=offset,
    )


def read_blocked(settings: Settings, letter: Letter, *, size: int) -> tuple[list[Letter], int]:
    """The dead letters ``letter`` blocks (their ``blocked_by`` is its id) among the ``size``
    letters after it on the topic (a blocked one is dead-lettered after its blocker), and
    how many records that read."""
    from connectors.kafka import read_dead_letter_window

    decode, _ = _reading(settings, LetterFilter())
    after = int(letter["dead_letter_offset"]) + 1
    window = read_dead_letter_window(
        settings.kafka.client_config(),
        settings.topics.dead_letters,
        decode,
        before=after + size,
        size=size,
    )
    # Near the topic's end the window reaches back before ``letter``: only those after count.
    later = [dl for dl in window.letters if dl["dead_letter_offset"] >= after]
    letter_id = str(letter["dead_letter_id"])
    blocked: list[Letter] = [dl for dl in later if dl.get("blocked_by") == letter_id]
    return blocked, len(window.letters)


def find_letter(letters: Sequence[Letter], start: str) -> Letter:
    """The one dead letter whose id starts with ``start``."""
    found = [dl for dl in letters if str(dl["dead_letter_id"]).startswith(start)]
    if len(found) != 1 or not start:
        raise QbsyncError(f"{len(found)} dead letters match {start!r}; give more of the id")
    return found[0]


def summary(letter: Letter) -> dict[str, Any]:
    """One line's worth of a dead letter (``dlq list``, the console's list)."""
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
        "partition": letter.get("dead_letter_partition"),
        "offset": letter.get("dead_letter_offset"),
        "reason": letter["reason"],
        "explanation": letter.get("explanation") or "",
        "remedy": letter.get("remedy") or "",
    }


def story(letter: Letter, settings: Settings) -> dict[str, Any]:
    """A dead letter in full: why, what to do, the original message (the command QuickBooks
    was asked, when it was a command), what waits on it."""
    original = letter["original_value"] or b""
    view = {
        **summary(letter),
        "original_key": (letter["original_key"] or b"").decode("utf-8", "replace"),
        "original_bytes": len(original),
        "original_hex_head": original[:64].hex(" "),
    }
    if letter["source_topic"].startswith(settings.topics.commands("")):
        from core.contracts import DecodeError, codec_from_settings

        try:
            _, command = codec_from_settings(settings).decode(original, expected=COMMAND)
            view["command"] = {
                "action": command["action"],
                "depends_on": command["depends_on"],
                "request_xml": command["request_xml"],
            }
        except DecodeError as exc:
            view["command"] = {"error": str(exc)}
    return view


@dataclass(frozen=True)
class ReplayPlan:
    """What a replay would do: ``todo`` in order; how many were replayed before and how
    many cannot be replayed here (results without their command)."""

    todo: list[Letter]
    before: int
    not_replayable: int

    def describe(self) -> str:
        return (
            f"{len(self.todo)} to replay, {self.before} replayed before,"
            f" {self.not_replayable} not replayable here (results without their command:"
            " re-publish the record from the source app)"
        )


def plan_replay(
    letters: Sequence[Letter], replayed: set[str], settings: Settings, *, force: bool = False
) -> ReplayPlan:
    """Pure: which of ``letters`` go back, in which order (``replayed``: ids done before)."""
    from connectors.kafka import replayable

    chosen = replayable(letters, settings.topics.events, settings.topics.commands(""))
    todo = [dl for dl in chosen if force or str(dl["dead_letter_id"]) not in replayed]
    return ReplayPlan(
        todo=todo, before=len(chosen) - len(todo), not_replayable=len(letters) - len(chosen)
    )


def carry_out_replay(
    plan: ReplayPlan,
    settings: Settings,
    store: Store,
    *,
    on_each: Callable[[int, Letter], None] | None = None,
) -> int:
    """Send ``plan.todo`` one by one, recording each replay right after it is acknowledged;
    ``on_each(number, letter)`` after each. Returns how many were sent."""
    from connectors.kafka import RecordProducer
    from core.contracts import codec_from_settings

    if not plan.todo:
        return 0
    codec = codec_from_settings(settings)
    producer = RecordProducer(settings.kafka.client_config())
    try:
        for number, letter in enumerate(plan.todo, 1):
            producer.send_all([_replayed(letter, settings.topics.events, codec)])
            # Recorded one by one: an interruption never replays one twice.
            store.record_replays([str(letter["dead_letter_id"])])
            if on_each is not None:
                on_each(number, letter)
    finally:
        producer.close()
    return len(plan.todo)


def _replayed(
    letter: Letter, events_topic: str, codec: AvroCodec
) -> tuple[str, bytes | None, bytes]:
    """Where a dead letter goes back to, and what: an event as it was; a command with its
    attempt count reset, so a passing failure after the fix is retried again."""
    value: bytes = letter["original_value"]
    if letter["source_topic"] == events_topic:
        return events_topic, letter["original_key"], value
    _, command = codec.decode(value, expected=COMMAND)
    fresh = {**command, "attempt": 1, "first_failed_at": None}
    return (
        letter["source_topic"],
        letter["original_key"],
        codec.encode(COMMAND, fresh),
    )
