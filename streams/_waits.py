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
    """Releases support requested, for the sweep: at most one store read every
    :data:`RELEASE_POLL_S`."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._checked_at = 0.0

    def due(self, lot: ParkingLot, now: float, planned: set[bytes]) -> list[Parked]:
        """The parked records this worker holds that support asked to release and that are
        not being planned anyway (``planned``); a manual one as if its sync was requested."""
        if now - self._checked_at < RELEASE_POLL_S:
            return []
        self._checked_at = now
        try:
            requests = self._store.release_requests()
        except Exception:  # the store is down: the sweep's other work goes on
            log.exception("release requests unreadable")
            return []
        found: list[Parked] = []
        done: list[tuple[str, str, str]] = []
        for tenant_id, entity, entity_id, requested_at in requests:
            entry = lot.get(record_key(tenant_id, entity, entity_id))
            if entry is not None:
                done.append((tenant_id, entity, entity_id))
                if entry.record not in planned:
                    extra = {**entry.extra, "requested": True}
                    found.append(replace(entry, extra=extra) if entry.kind == "manual" else entry)
            elif now - requested_at.timestamp() > RELEASE_KEPT_S:
                done.append((tenant_id, entity, entity_id))  # no worker holds it
        try:
            self._store.forget_releases(done)
        except Exception:  # planned once more at the next poll: harmless
            log.exception("release requests not forgotten")
        if found:
            log.info("parked records released", extra={"count": len(found)})
        return found
