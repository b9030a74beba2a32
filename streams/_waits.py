"""The releases support asks for with ``qbsync parked release``, which the worker holding the
parked record picks up at its sweep (records that are not moving get a sync log row the
moment they wait, are held or refused: :func:`streams.flows.translate.waiting_log`).
"""

from __future__ import annotations

import logging
from dataclasses import replace

from connectors.store import Store
from streams.parking import Parked, ParkingLot, record_key

__all__ = ["Releases"]

log = logging.getLogger(__name__)

# How often the sweep asks the store for releases, and how long a request no worker holds
# is kept (the worker holding the record may be restarting).
RELEASE_POLL_S = 2.0
RELEASE_KEPT_S = 300.0


class Releases:
    """Releases and dead-letterings support requested, for the sweep: at most one store
    read every :data:`RELEASE_POLL_S`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._checked_at = 0.0

    def due(
        self, lot: ParkingLot, now: float, gone: set[bytes]
    ) -> tuple[list[Parked], list[tuple[Parked, str | None]]]:
        """``(to plan again, to dead-letter with who asked)``: the parked records this
        worker holds that support asked about, except those leaving the lot anyway
        (``gone``: expired in this sweep). A manual one released as if its sync was
        requested. A request about a version of the record that a newer event replaced
        since is dropped: support decided about what it saw, not about the newer one."""
        if now - self._checked_at < RELEASE_POLL_S:
            return [], []
        self._checked_at = now
        try:
            requests = self._store.release_requests()
        except Exception:  # the store is down: the sweep's other work goes on
            log.exception("release requests unreadable")
            return [], []
        released: list[Parked] = []
        dead: list[tuple[Parked, str | None]] = []
        done: list[tuple[str, str, str]] = []
        for request in requests:
            entry = lot.get(record_key(*request.record))
            if entry is not None:
                done.append(request.record)
                if entry.record in gone:
                    continue
                if (
                    request.parked_at is not None
                    and abs(entry.parked_at - request.parked_at) > 1e-3
                ):
                    log.info("release request for a replaced version dropped")
                elif request.action == "dead-letter":
                    dead.append((entry, request.requested_by))
                else:
                    extra = {**entry.extra, "requested": True}
                    released.append(
                        replace(entry, extra=extra) if entry.kind == "manual" else entry
                    )
            elif now - request.requested_at.timestamp() > RELEASE_KEPT_S:
                done.append(request.record)  # no worker holds it
        try:
            # Forgotten before the step is carried out: a crash in between leaves the
            # record parked (support asks again), never dead-lettered twice.
            self._store.forget_releases(done)
        except Exception:  # asked once more at the next poll
            log.exception("release requests not forgotten")
            return [], []
        if released or dead:
            log.info("parked records released", extra={"count": len(released), "dead": len(dead)})
        return released, dead
