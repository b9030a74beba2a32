"""What the gateway keeps of its sessions for people (the console's connections and file
pages): the Web Connector's version from ``clientVersion``, QuickBooks' country and qbXML
version from ``sendRequestXML``'s parameters, and each session's start, end and outcome.

Kept apart from the protocol on purpose: every write here is best effort (a failure is
logged and the Web Connector's call goes on), at most one write per session event, and the
Web Connector version is written only when a client reports a new one.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict

from connectors.store import SessionLog, Store, WebConnectorSession

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

    def opened(self, profile_id: str, ticket: str, client: str) -> None:
        try:
            self._log.opened(profile_id, _hash(ticket), client or None)
        except Exception:
            log.exception("session history not recorded", extra={"profile_id": profile_id})

    def reported(
        self, ticket: str, country: str | None, major: int | None, minor: int | None
    ) -> None:
        """``sendRequestXML``'s qbXMLCountry, qbXMLMajorVers, qbXMLMinorVers: written once
        per session (the first call; the same values come with every call)."""
        key = _hash(ticket)
        if not ticket or not self._reported.changed(key, f"{country}|{major}|{minor}"):
            return
        try:
            self._log.reported(key, country or "", major, minor)
        except Exception:
            log.exception("quickbooks version not recorded")

    def ended(
        self,
        ticket: str,
        outcome: str,
        session: WebConnectorSession | None = None,
        error: str | None = None,
    ) -> None:
        """``closeConnection`` (``closed``, with the session's counts) or
        ``connectionError`` (``error``: the Web Connector could not reach QuickBooks)."""
        try:
            self._log.ended(
                _hash(ticket),
                outcome,
                settled=session.settled if session else None,
                failed=session.failed if session else None,
                qbxml_version=session.qbxml_version if session else None,
                last_error=error or (session.last_error if session else None),
            )
        except Exception:
            log.exception("session end not recorded")
