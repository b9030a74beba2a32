"""What the benchmark scripts share about measuring (imported from the script's folder)."""

from __future__ import annotations

import threading
import time

from connectors.sandbox import HttpTransport

__all__ = ["TimedTransport", "percentile"]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0-1) by nearest rank; 0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class TimedTransport:
    """HTTP for a sandbox Web Connector, recording each call's SOAP operation and latency
    in ``sink`` (shared by many connectors, so under ``lock``)."""

    def __init__(
        self,
        url: str,
        sink: list[tuple[str, float]],
        lock: threading.Lock,
        *,
        timeout: float = 30.0,
    ) -> None:
        self._inner = HttpTransport(url, timeout=timeout)
        self._sink = sink
        self._lock = lock

    def post(self, body: bytes, soap_action: str) -> bytes:
        started = time.perf_counter()
        answer = self._inner.post(body, soap_action)
        elapsed = time.perf_counter() - started
        with self._lock:
            self._sink.append((soap_action.rsplit("/", 1)[-1], elapsed))
        return answer

    def close(self) -> None:
        self._inner.close()
