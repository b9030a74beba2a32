"""Sender processes share the QBO companies instead of racing for them.

Every sender registers itself in the store with a heartbeat (``qbo_senders``); a sender whose
heartbeat lapsed (killed, its host gone) no longer counts. Each sender computes the same
assignment from the same two lists, the connected companies and the live senders
(:func:`assign`, rendezvous hashing with a bound on the load), drains only its own companies
and gives back the drain lease of any company that moved to another sender. The per-company
drain lease (``QboConnections.claim_drain``) still guards the moment two senders disagree
(one has not yet seen a sender join or leave): a company is drained by its lease holder only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from connectors.store import QboSenderRow

__all__ = ["SenderRoster", "assign"]


def _score(member: str, company: str) -> bytes:
    return hashlib.blake2b(f"{member}\x00{company}".encode(), digest_size=8).digest()


def assign(companies: Iterable[str], members: Iterable[str]) -> dict[str, str]:
    """Which member serves each company: every company exactly one member, the loads at
    most one apart (``companies // members``, and one more for ``companies % members`` of
    them), and few moves when a member joins or leaves (each company goes to its
    highest-scoring member that still has room). Pure and deterministic: every sender that
    sees the same lists gets the same answer."""
    everyone = sorted(set(members))
    if not everyone:
        return {}
    wanted = sorted(set(companies))
    base, extra = divmod(len(wanted), len(everyone))
    load = dict.fromkeys(everyone, 0)
    fuller = 0  # members already at base + 1

    def room(member: str) -> bool:
        return load[member] < base or (load[member] == base and fuller < extra)

    chosen: dict[str, str] = {}
    for company in wanted:
        ranked = sorted(everyone, key=lambda m: _score(m, company), reverse=True)
        member = next(m for m in ranked if room(m))
        load[member] += 1
        fuller += load[member] == base + 1
        chosen[company] = member
    return chosen


class SenderRoster:
    """The live sender processes, as rows with a heartbeat in the store."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    def beat(self, owner: str, ttl: timedelta) -> None:
        """Say ``owner`` is alive for ``ttl`` more; rows of senders dead for longer than
        ``ttl`` are removed on the way."""
        now = datetime.now(UTC)
        with self._sessions.begin() as session:
            done = session.execute(
                update(QboSenderRow)
                .where(QboSenderRow.owner == owner)
                .values(alive_until=now + ttl)
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0) != 1:
                session.add(QboSenderRow(owner=owner, started_at=now, alive_until=now + ttl))
            session.execute(
                delete(QboSenderRow)
                .where(QboSenderRow.alive_until < now - ttl)
                .execution_options(synchronize_session=False)
            )

    def live(self) -> list[str]:
        """The senders whose heartbeat has not lapsed."""
        now = datetime.now(UTC)
        with self._sessions() as session:
            rows = session.scalars(
                select(QboSenderRow.owner).where(QboSenderRow.alive_until >= now)
            )
            return sorted(rows)

    def leave(self, owner: str) -> None:
        """``owner`` stops: the others take its companies at their next drain."""
        with self._sessions.begin() as session:
            session.execute(
                delete(QboSenderRow)
                .where(QboSenderRow.owner == owner)
                .execution_options(synchronize_session=False)
            )
