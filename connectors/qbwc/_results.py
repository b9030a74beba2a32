"""Settling a batch: one :class:`Result` per command on ``results``, then the commit.

:func:`results` is pure (what each command's result says); :class:`Settler` publishes them,
waits for the broker's acknowledgement, records the versions we wrote (so an import can tell
our writes from the bookkeeper's) and only then commits past the batch: a crash before the
commit re-sends the batch, which recovery recognises; a crash after it loses nothing. The
commit is handed to the queue's committing thread, not waited for: the session's next batch
does not need it, and the gateway waits for it before the file's work ends
(``WebConnectorGateway._take``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from connectors.kafka import CompanyDrain
from connectors.qbwc._metrics import GatewayObserver
from connectors.qbwc._recovery import Flight
from connectors.store import Store
from core.messages import Result

__all__ = ["Settled", "Settler", "results"]


@dataclass(frozen=True)
class Settled:
    ok: int
    failed: int
    failed_keys: frozenset[str]


def results(profile_id: str, flight: Flight, processed_at: datetime) -> list[Result]:
    """What QuickBooks (or qbsync, for a blocked or unanswered command) said of each."""
    return [
        Result(
            command_id=sent.command_id,
            tenant_id=sent.tenant_id,
            profile_id=profile_id,
            entity=sent.entity,
            entity_id=sent.entity_id,
            action=sent.action,
            status_code=sent.answer.status_code,
            status_severity=sent.answer.status_severity,
            status_message=sent.answer.status_message,
            processed_at=processed_at,
            qb_id=sent.answer.qb_id,
            edit_sequence=sent.answer.edit_sequence,
            full_name=sent.answer.full_name,
            ref_number=sent.answer.ref_number,
            command=sent.command,
        )
        for sent in flight.commands
    ]


class Settler:
    def __init__(
        self,
        drain: CompanyDrain,
        store: Store,
        observer: GatewayObserver,
        *,
        record_written: bool,
    ) -> None:
        self._drain = drain
        self._store = store
        self._observer = observer
        self._record_written = record_written

    def settle(self, profile_id: str, flight: Flight) -> Settled:
        """Publish, wait for the acknowledgement, commit past the batch."""
        answers = results(profile_id, flight, datetime.now(UTC))
        self._drain.publish([self._drain.outgoing(result) for result in answers])
        if self._record_written:
            self._store.record_written(
                [
                    (c.tenant_id, c.entity, c.answer.qb_id, c.answer.edit_sequence)
                    for c in flight.commands
                    if c.answer.edit_sequence and c.answer.qb_id and not c.answer.failed
                ]
            )
        failed = [c for c in flight.commands if c.answer.failed]
        self._observer.settled(len(answers) - len(failed), len(failed))
        # Only after every result is acknowledged (see the module's docstring).
        self._drain.commit(profile_id, flight.next_offset, wait=False)
        return Settled(
            ok=len(answers) - len(failed),
            failed=len(failed),
            failed_keys=frozenset(c.key for c in failed),
        )
