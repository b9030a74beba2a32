"""Web Connectors on a schedule, as QBWC runs them: every N seconds ("Every_Min"), one thread
per company file, many at once.

Time is scaled, not faked: ``time_scale=0.001`` turns a 60-second schedule (and the waits a
server asks for in ``authenticate``) into 60 ms, so a test or the demo sees many runs quickly
while the arithmetic stays QBWC's. Tests wait with :meth:`ScheduledWebConnector.wait_for_runs`
(a condition variable), never by sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from connectors.sandbox._web_connector import SandboxWebConnector, SessionReport

__all__ = ["ScheduledWebConnector", "WebConnectorPool"]

_KEPT_REPORTS = 100


class ScheduledWebConnector:
    """Runs one Web Connector every ``every`` seconds in its own thread until stopped.

    The server's optional ``authenticate`` values are honoured as QBWC honours them: the
    third (seconds until the next update) postpones the next run once, the fourth (minimum
    seconds between updates) raises the interval for good.
    """

    def __init__(
        self,
        connector: SandboxWebConnector,
        *,
        every: float = 60.0,
        time_scale: float = 1.0,
        on_report: Callable[[SessionReport], None] | None = None,
        name: str | None = None,
    ) -> None:
        self.connector = connector
        self.interval = every * time_scale
        self._scale = time_scale
        self._on_report = on_report
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(
            target=self._loop, name=name or f"qbwc-{connector.company.path.stem}", daemon=True
        )
        self.runs = 0
        self.reports: list[SessionReport] = []
        self.failure: str | None = None

    def start(self) -> ScheduledWebConnector:
        self._thread.start()
        return self

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop after the session under way (a session is never cut in the middle)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def wait_for_runs(self, count: int, timeout: float = 30.0) -> bool:
        """Block until ``count`` sessions have run (or the loop failed); ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: self.runs >= count or self.failure is not None, timeout
            )

    def wait_until(
        self, check: Callable[[SessionReport], bool], timeout: float = 30.0
    ) -> SessionReport | None:
        """Block until a session's report satisfies ``check``; that report, or ``None``."""
        found: list[SessionReport] = []

        def seen() -> bool:
            found.extend(r for r in self.reports if check(r))
            return bool(found) or self.failure is not None

        with self._changed:
            self._changed.wait_for(seen, timeout)
        return found[0] if found else None

    def _loop(self) -> None:
        while not self._stop.is_set():
            delay = self.interval
            try:
                report = self.connector.run_once()
            except Exception as exc:  # shown to whoever runs the schedule, never swallowed
                with self._changed:
                    self.failure = f"{type(exc).__name__}: {exc}"
                    self.runs += 1
                    self._changed.notify_all()
                return
            if report.min_run_every_seconds:
                self.interval = max(self.interval, report.min_run_every_seconds * self._scale)
                delay = self.interval
            if report.next_update_seconds:
                delay = report.next_update_seconds * self._scale
            with self._changed:
                self.runs += 1
                self.reports = [*self.reports[-(_KEPT_REPORTS - 1) :], report]
                self._changed.notify_all()
            if self._on_report is not None:
                self._on_report(report)
            self._stop.wait(delay)


class WebConnectorPool:
    """Many scheduled Web Connectors (one per company file), started and stopped together."""

    def __init__(
        self,
        connectors: Iterable[SandboxWebConnector],
        *,
        every: float = 60.0,
        time_scale: float = 1.0,
    ) -> None:
        self.members = [
            ScheduledWebConnector(c, every=every, time_scale=time_scale) for c in connectors
        ]

    def start(self) -> WebConnectorPool:
        for member in self.members:
            member.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        for member in self.members:
            member.request_stop()
        for member in self.members:
            member.stop(timeout)

    def wait_for_runs(self, count: int, timeout: float = 30.0) -> bool:
        return all(member.wait_for_runs(count, timeout) for member in self.members)

    @property
    def failures(self) -> list[str]:
        return [m.failure for m in self.members if m.failure is not None]
