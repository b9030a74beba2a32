"""The batch in flight of each working session, kept beside its JSON text.

Every Web Connector call of a working session reads the session's row, and with it the
batch in flight (``Flight``, ~25 commands, some 10-30 KB of JSON). It changes once a batch,
and this process wrote it (or read it) the call before, so parsing it again on each call
was parsing the same text (the JSON and ``Flight.from_json`` of 25 commands: ~120 us, twice
a batch; docs/gateway-scale.md, "The batch in flight from memory").

The memo keeps, per session, the text last written or read and the flight it is, and
answers from memory only when the row's text **is that text** (compared whole): a row
written by another replica, by an older version, or by any other path of this one, is
parsed. So it can only save work, never answer with a flight the row does not hold. The
text of a write is computed as the store writes it (its JSON serializer, ``json_text``); if
they ever differ, every read is a miss and parses, as before. A session is forgotten when
its flight is cleared (the gateway's write of nothing in flight, the end of its work), and
the memo is bounded: the least recently used session goes first (a miss costs a parse,
nothing else).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from connectors.qbwc._recovery import Flight

__all__ = ["FlightMemo"]

# Sessions remembered: a working session's calls come one after another, so a few hundred
# cover every session a gateway has mid-batch at once; each entry is ~2x its text.
DEFAULT_SIZE = 512


class FlightMemo:
    def __init__(self, json_text: Callable[[Any], str], size: int = DEFAULT_SIZE) -> None:
        self._json_text = json_text
        self._size = size
        self._lock = threading.Lock()
        self._memo: OrderedDict[str, tuple[str, Flight]] = OrderedDict()
        self.parsed = 0  # flights parsed from a row's text (for tests and benches)

    def read(self, key: str, text: str | None) -> Flight | None:
        """The flight the row's ``text`` holds (None: no batch in flight)."""
        if text is None:
            return None
        with self._lock:
            known = self._memo.get(key)
            if known is not None and known[0] == text:
                self._memo.move_to_end(key)
                return known[1]
        data = orjson.loads(text)
        if not data:  # JSON null: the row's in_flight was cleared
            self.forget(key)
            return None
        flight = Flight.from_json(data)
        self._put(key, text, flight, parsed=True)
        return flight

    def written(self, key: str, flight: Flight) -> dict[str, Any]:
        """``flight``'s JSON form, for the session's write; remembered with its text."""
        data = flight.to_json()
        self._put(key, self._json_text(data), flight)
        return data

    def __len__(self) -> int:
        with self._lock:
            return len(self._memo)

    def forget(self, key: str) -> None:
        with self._lock:
            self._memo.pop(key, None)

    def _put(self, key: str, text: str, flight: Flight, *, parsed: bool = False) -> None:
        with self._lock:
            self.parsed += parsed
            self._memo[key] = (text, flight)
            self._memo.move_to_end(key)
            while len(self._memo) > self._size:
                self._memo.popitem(last=False)
