"""The parking lot: events and commands that must wait, kept in a Faust table.

Three kinds wait here, one entry per record (tenant, entity, source id), so a newer event of
a record replaces what was parked for it and a late release never sends a stale version:

- ``waiting``: the event names records not in QuickBooks yet (a payment before its invoice);
  released when one of them is mapped (the result that maps it), re-planned every
  ``recheck_s`` in case it was mapped some other way, and dead-lettered after ``park_limit_s``;
- ``paused``: the tenant's integration is off; re-planned every ``recheck_s``, never expires
  ("off pauses, nothing is lost");
- ``retry``: a command QuickBooks refused for a passing reason (busy, in use); sent again
  when ``due_at`` comes (backoff with jitter), while the file's other commands go on;
- ``manual``: a manual-sync tenant's latest event of a record, held until a sync is requested
  for it or for what it belongs to (``waiting_on`` then lists what it references, so a
  job's sync finds its invoices); never expires, never rechecked.

Why a table and not the database: the entries are the worker's own working state, written
at the pace of the event stream; the table's changelog topic makes every park and release
durable in the same broker round trip as the commands, and a restarted worker (or the one
that takes over the partition) recovers them before it processes anything.

:class:`ParkingLot` is plain Python over a ``MutableMapping[bytes, bytes]`` and a ``write``
callback, so its logic is tested without a broker; :func:`faust_lot` wires it to a table.
The partition of every write is the entry's own (the partition of the message that parked
it), which also lets the sweep write outside stream iteration.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

__all__ = ["Kind", "Parked", "ParkingLot", "faust_lot", "latest_parked", "record_key"]

Kind = Literal["waiting", "paused", "retry", "manual"]
Write = Callable[[int, bytes, bytes | None], None]


def record_key(tenant_id: str, entity: str, entity_id: str) -> bytes:
    """One key per record: what is parked for it is replaced by its newer event."""
    return "\x1f".join((tenant_id, entity, entity_id)).encode()


@dataclass(frozen=True)
class Parked:
    """One parked event or command, with where it came from (for its dead letter)."""

    kind: Kind
    tenant_id: str
    entity: str
    entity_id: str
    value: bytes  # the event (waiting, paused) or the command to re-send (retry)
    key: bytes | None  # its message key
    source_topic: str
    partition: int  # the source message's partition: the changelog partition too
    offset: int
    parked_at: float  # epoch seconds, first parked (kept across re-plans)
    checked_at: float  # last planned
    reason: str
    waiting_on: tuple[str, ...] = ()  # "entity:id", alternatives joined by "|"
    due_at: float | None = None  # retry: when to send it again
    profile_id: str | None = None
    attempts: int = 1
    first_failed_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def record(self) -> bytes:
        return record_key(self.tenant_id, self.entity, self.entity_id)

    def dependencies(self) -> Iterator[str]:
        """Every record whose mapping may release it ("customer:C-1", "job:C-1")."""
        for wanted in self.waiting_on:
            yield from wanted.split("|")

    def checked(self, now: float, **changes: Any) -> Parked:
        return replace(self, checked_at=now, **changes)

    def dumps(self) -> bytes:
        data = asdict(self)
        data["value"] = base64.b64encode(self.value).decode("ascii")
        data["key"] = None if self.key is None else base64.b64encode(self.key).decode("ascii")
        return json.dumps(data, separators=(",", ":")).encode()

    @classmethod
    def loads(cls, raw: bytes) -> Parked:
        data = json.loads(raw)
        data["value"] = base64.b64decode(data["value"])
        data["key"] = None if data["key"] is None else base64.b64decode(data["key"])
        data["waiting_on"] = tuple(data["waiting_on"])
        return cls(**data)


class ParkingLot:
    """Parked entries by record, with an index from dependency to the entries waiting on it.

    ``data`` is the table's local store (what this worker's partitions hold, recovered from
    the changelog at start); ``write(partition, key, value_or_None)`` sends the change to the
    changelog. The index is rebuilt whenever ``data`` changed behind the lot's back
    (recovery, a rebalance).
    """

    def __init__(self, data: MutableMapping[bytes, bytes], write: Write) -> None:
        self._data = data
        self._write = write
        self._entries: dict[bytes, Parked] = {}
        self._by_dependency: dict[tuple[str, str], set[bytes]] = {}
        # One record and the bytes object stored for it: see _sync.
        self._probe: bytes | None = None
        self._probe_raw: bytes | None = None

    # -- changes ----------------------------------------------------------------------

    def park(self, entry: Parked) -> None:
        self._sync()
        self._forget(entry.record)
        raw = entry.dumps()
        self._data[entry.record] = raw
        self._write(entry.partition, entry.record, raw)
        self._remember(entry.record, entry, raw)

    def touch(self, entry: Parked) -> None:
        """Remember that ``entry`` was planned again and nothing changed: in memory only,
        so a recheck of thousands of waiting events writes nothing to the changelog (after
        a restart they are merely rechecked once more)."""
        self._sync()
        if entry.record in self._entries:
            self._entries[entry.record] = entry

    def remove(self, record: bytes) -> Parked | None:
        self._sync()
        entry = self._entries.get(record)
        if entry is None:
            return None
        self._forget(record)
        self._data.pop(record, None)
        self._write(entry.partition, record, None)
        if record == self._probe:
            self._set_probe()
        return entry

    # -- questions --------------------------------------------------------------------

    def get(self, record: bytes) -> Parked | None:
        self._sync()
        return self._entries.get(record)

    def waiting_on(self, tenant_id: str, dependency: str) -> list[Parked]:
        """The entries of ``tenant_id`` that ``dependency`` ("customer:C-1") may release,
        oldest first (the order they were parked in)."""
        self._sync()
        keys = self._by_dependency.get((tenant_id, dependency), set())
        found = [self._entries[key] for key in keys if key in self._entries]
        return sorted(found, key=lambda entry: (entry.parked_at, entry.offset))

    def due(self, now: float) -> list[Parked]:
        """Retries whose time has come, oldest first."""
        self._sync()
        ready = [
            e
            for e in self._entries.values()
            if e.kind == "retry" and e.due_at is not None and e.due_at <= now
        ]
        return sorted(ready, key=lambda entry: (entry.due_at or 0.0, entry.offset))

    def expired(self, now: float, limit_s: float) -> list[Parked]:
        """Waiting entries parked longer than ``limit_s``."""
        self._sync()
        return [
            e for e in self._entries.values() if e.kind == "waiting" and now - e.parked_at > limit_s
        ]

    def stale(self, now: float, recheck_s: float, limit: int) -> list[Parked]:
        """Up to ``limit`` waiting or paused entries not planned for ``recheck_s``."""
        self._sync()
        old = [
            e
            for e in self._entries.values()
            if e.kind in ("waiting", "paused") and now - e.checked_at >= recheck_s
        ]
        return sorted(old, key=lambda entry: entry.checked_at)[:limit]

    def counts(self) -> dict[str, int]:
        self._sync()
        counted = {"waiting": 0, "paused": 0, "retry": 0, "manual": 0}
        for entry in self._entries.values():
            counted[entry.kind] += 1
        return counted

    def __len__(self) -> int:
        self._sync()
        return len(self._entries)

    # -- the index --------------------------------------------------------------------

    def _remember(self, record: bytes, entry: Parked, raw: bytes) -> None:
        self._entries[record] = entry
        self._probe, self._probe_raw = record, raw
        for dependency in entry.dependencies():
            self._by_dependency.setdefault((entry.tenant_id, dependency), set()).add(record)

    def _forget(self, record: bytes) -> None:
        entry = self._entries.pop(record, None)
        if entry is None:
            return
        for dependency in entry.dependencies():
            keys = self._by_dependency.get((entry.tenant_id, dependency))
            if keys is not None:
                keys.discard(record)
                if not keys:
                    del self._by_dependency[(entry.tenant_id, dependency)]

    def _sync(self) -> None:
        """Rebuild the index if the store changed without us (changelog recovery, a
        rebalance): O(1) per call, not a walk of the keys. The store must hold as many keys
        as the index, and the probe (the entry the lot parked last, or the newest left) the
        same bytes: a store emptied, grown, shrunk, refilled with as many other keys, or
        whose probe was replaced, is re-read. Not seen, as with the earlier check of the
        first 8 keys: a change elsewhere that keeps both the count and the probe."""
        data = self._data
        if len(data) == len(self._entries) and (
            self._probe is None or data.get(self._probe) == self._probe_raw
        ):
            return
        self._entries.clear()
        self._by_dependency.clear()
        self._probe = self._probe_raw = None
        for record, raw in list(data.items()):
            self._remember(record, Parked.loads(raw), raw)

    def _set_probe(self) -> None:
        """After a release: the newest remaining entry is the probe (or none if empty)."""
        if not self._entries:
            self._probe = self._probe_raw = None
            return
        record = next(reversed(self._entries))
        self._probe, self._probe_raw = record, self._data.get(record)


def faust_lot(table: Any) -> ParkingLot:
    """A :class:`ParkingLot` over a Faust table (raw keys and values)."""

    def write(partition: int, key: bytes, value: bytes | None) -> None:
        table.send_changelog(partition, key, value, key_serializer="raw", value_serializer="raw")

    return ParkingLot(table.data, write)


def latest_parked(writes: Iterable[tuple[bytes, bytes | None]]) -> list[Parked]:
    """What is parked after these changelog writes (in order, of every partition): the last
    write of a key wins, a tombstone (None) is a release. For readers outside the worker
    (``qbsync parked``); entries only touched in memory show their last written check."""
    current: dict[bytes, bytes] = {}
    for key, value in writes:
        if value is None:
            current.pop(key, None)
        else:
            current[key] = value
    return [Parked.loads(raw) for raw in current.values()]
