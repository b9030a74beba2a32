"""Faults a test injects into the QBO sandbox: what Intuit does on a bad day.

Each :class:`Fault` applies to the next ``times`` matching requests of one realm (and entity,
when given). ``throttle`` and ``unavailable``/``server_error`` answer without doing the work;
``expired_token`` expires the access token the request carries; ``stale_object`` lets
"someone else" edit the record first (so the write meets a real 5010); ``gone`` lets
someone delete it first (a real 610); ``duplicate_name`` and
``closed_books`` answer 6240 / 6210; ``slow`` does the work, then answers only after
``delay_s`` (longer than the client's time-out: the write happened, the answer was lost).
A fault naming an entity also hits a batch item of that entity: ``throttle`` and
``server_error`` become that item's fault (3001, 10000), ``duplicate_name`` and
``closed_books`` its 6240 / 6210, ``slow`` delays the whole batch's answer; a fault naming
no entity applies to the batch request as a whole. A fault naming an ``operation``
(``delete``) hits only such writes (a delete refused for closed books, say).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["Fault", "FaultKind", "Faults"]

FaultKind = Literal[
    "throttle",
    "expired_token",
    "stale_object",
    "gone",
    "duplicate_name",
    "closed_books",
    "server_error",
    "unavailable",
    "slow",
]


@dataclass
class Fault:
    kind: FaultKind
    times: int = 1
    entity: str | None = None  # QBO's entity name; None: any request
    writes_only: bool = True
    retry_after_s: int = 1
    delay_s: float = 0.0
    # Only writes of this ``?operation=`` ("delete", "void"); None: any request.
    operation: str | None = None


class Faults:
    def __init__(self) -> None:
        self._pending: dict[str, list[Fault]] = {}
        self._lock = threading.Lock()
        self.fired: list[tuple[str, FaultKind]] = []

    def inject(self, realm_id: str, fault: Fault) -> None:
        with self._lock:
            self._pending.setdefault(realm_id, []).append(fault)

    def take(
        self,
        realm_id: str,
        entity: str | None,
        write: bool,
        kinds: frozenset[FaultKind] | None = None,
        operation: str = "",
    ) -> Fault | None:
        """The first pending fault matching this request (counted down), or None; only of
        ``kinds`` when given (a batch item takes only faults an item can have)."""
        with self._lock:
            for fault in self._pending.get(realm_id, []):
                if fault.writes_only and not write:
                    continue
                if kinds is not None and fault.kind not in kinds:
                    continue
                if fault.entity is not None and fault.entity != entity:
                    continue
                if fault.operation is not None and fault.operation != operation:
                    continue
                fault.times -= 1
                if fault.times <= 0:
                    self._pending[realm_id].remove(fault)
                self.fired.append((realm_id, fault.kind))
                return fault
            return None
