"""Faust's table recovery, which must not give up in silence.

After every assignment Faust's recovery service seeks the partitions, reads the tables'
changelogs, then resumes the flow of messages; each step is awaited for at most
``broker_request_timeout`` (90 s). A step that outlasts it is reported by mode's
``wait_first`` exactly as a stop of the service, and the recovery loop then *ends* (its
``except ServiceStopped: break``): no message flows again, no later rebalance restarts it,
and the process lives on, ready to nobody and doing nothing, until someone notices (a
broker slow to answer the committed offsets during a rolling restart can be enough). Here such
a timeout stops the worker (:func:`streams._halt.exit_now`): ``qbsync run`` or Kubernetes
starts a fresh one, which reads from the committed offsets (nothing was acknowledged past
them). A real stop of the service, or its crash, goes on as Faust's.
"""

from __future__ import annotations

from typing import Any

from faust.tables import TableManager
from faust.tables.recovery import Recovery, ServiceStopped

from streams._halt import exit_now

__all__ = ["GuardedTableManager"]


class _GuardedRecovery(Recovery):
    async def _wait(self, coro: Any, timeout: Any = None) -> None:
        try:
            await super()._wait(coro, timeout)
        except ServiceStopped:
            if timeout is not None and not self.should_stop and not self._crashed.is_set():
                exit_now(
                    "worker stopping: a step of Faust's table recovery outlasted its timeout,"
                    " after which no message would flow again; a restarted worker recovers",
                    timeout_s=timeout,
                    step=getattr(coro, "__qualname__", type(coro).__name__),
                )
            raise


class GuardedTableManager(TableManager):
    """Faust's table manager with :class:`_GuardedRecovery` (the app's ``TableManager``)."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = _GuardedRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery
