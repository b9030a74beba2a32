"""What the gateway keeps of its sessions for people (the console's connections and file
pages): the Web Connector's version from ``clientVersion``, QuickBooks' country and qbXML
version from ``sendRequestXML``'s parameters, and each session's start, end and outcome.

Off the protocol's hot path (issue 14): a session's start is written in its claim's
transaction, its end in the write that releases the file (or in the close that deletes a
live row), and QuickBooks' version in the session's next write after ``sendRequestXML``
reported it: :meth:`SessionHistory.reported` only keeps it here until the gateway's write
takes it (:meth:`SessionHistory.take`). So the history costs no transaction of its own. The
Web Connector version (``clientVersion``, before any ticket) is still its own write, best
effort, and only when a client reports a new one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

from connectors.store import QuickBooksReport, SessionLog, Store

__all__ = ["SessionHistory"]

log = logging.getLogger(__name__)

_REMEMBERED = 10_000  # clients and tickets kept in memory to skip repeated writes


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()  # as qbwc_sessions.ticket_hash


class _Recent:
    """A bounded, thread-safe map of what was written last."""

    def __init__(self) -> None:
        self._items: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def changed(self, key: str, value: str) -> bool:
        """Whether ``key`` now has a new value (and remember it)."""
        with self._lock:
            if self._items.get(key) == value:
                return False
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > _REMEMBERED:
                self._items.popitem(last=False)
            return True


class SessionHistory:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._made: SessionLog | None = None
        self._clients = _Recent()
        self._reported = _Recent()
        # Reported, not yet written: by ticket hash, the oldest dropped past _REMEMBERED.
        self._pending: OrderedDict[str, QuickBooksReport] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def _log(self) -> SessionLog:
        """Made at the first write (a gateway built for one call may have no store)."""
        if self._made is None:
            self._made = SessionLog(self._store)
        return self._made

    def client_version(self, client: str, version: str) -> None:
        """``clientVersion``: remember the client's Web Connector version."""
        if not version or not client or not self._clients.changed(client, version):
            return
        try:
            self._log.note_client(client, version)
        except Exception:
            log.exception("web connector version not recorded")

    def reported(
        self, ticket: str, country: str | None, major: int | None, minor: int | None
    ) -> None:
        """``sendRequestXML``'s qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers: kept for the
        session's next write (the same values come with every call: taken once)."""
        key = _hash(ticket)
        if not ticket or not self._reported.changed(key, f"{country}|{major}|{minor}"):
            return
        with self._lock:
            self._pending[key] = QuickBooksReport(country or "", major, minor)
            self._pending.move_to_end(key)
            while len(self._pending) > _REMEMBERED:
                self._pending.popitem(last=False)

    def take(self, ticket_hash: str) -> QuickBooksReport | None:
        """What was reported for this session and not yet handed to a write."""
        with self._lock:
            return self._pending.pop(ticket_hash, None)
