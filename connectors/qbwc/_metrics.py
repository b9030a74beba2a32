"""Prometheus metrics for the gateway, attached from outside the conversation:

- SOAP calls by operation and outcome, with latency, through spyne's event hooks;
- session, batch and result counts through the :class:`GatewayObserver` seam;
- sessions active and Web Connectors gone quiet, read from the store at scrape time.

Labels are bounded (operation names, outcomes, status classes): never a profile or tenant.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from connectors.store import Store

__all__ = ["GatewayMetrics", "GatewayObserver", "NullObserver", "StoreCollector"]


class GatewayObserver(Protocol):
    def authenticated(self, outcome: str) -> None: ...

    def batch_sent(self, requests: int, size_bytes: int) -> None: ...

    def settled(self, ok: int, failed: int) -> None: ...

    def operation_failed(self, operation: str, error: str) -> None: ...

    def password_checked(self, cpu_s: float) -> None: ...


class NullObserver:
    def authenticated(self, outcome: str) -> None:
        pass

    def batch_sent(self, requests: int, size_bytes: int) -> None:
        pass

    def settled(self, ok: int, failed: int) -> None:
        pass

    def operation_failed(self, operation: str, error: str) -> None:
        pass

    def password_checked(self, cpu_s: float) -> None:
        pass


class GatewayMetrics:
    """The gateway's counters in ``registry``; also a :class:`GatewayObserver`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.calls = Counter(
            "qbsync_gateway_soap_calls_total",
            "SOAP calls by operation and outcome (ok or fault).",
            ["operation", "outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "qbsync_gateway_soap_call_seconds",
            "Time to answer a SOAP call, by operation.",
            ["operation"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.authentications = Counter(
            "qbsync_gateway_authentications_total",
            "authenticate answers: session (work to do), none, busy, nvu, throttled,"
            " overloaded (no password check slot free), disabled.",
            ["outcome"],
            registry=registry,
        )
        self.batch_requests = Histogram(
            "qbsync_gateway_batch_requests",
            "Requests per qbXML message sent to QuickBooks.",
            buckets=(1, 2, 5, 10, 20, 25, 50, 100, 250),
            registry=registry,
        )
        self.batch_bytes = Histogram(
            "qbsync_gateway_batch_bytes",
            "Size of each qbXML message sent to QuickBooks.",
            buckets=(1e3, 4e3, 16e3, 64e3, 256e3, 1e6),
            registry=registry,
        )
        self.commands_sent = Counter(
            "qbsync_gateway_commands_sent_total", "Commands sent to QuickBooks.", registry=registry
        )
        self.results = Counter(
            "qbsync_gateway_results_total",
            "Results emitted, by class (ok or error).",
            ["status_class"],
            registry=registry,
        )
        self.failures = Counter(
            "qbsync_gateway_operation_failures_total",
            "Operations that raised inside the gateway (answered as failures, the batch left"
            " as an unknown outcome), by operation and exception type.",
            ["operation", "error"],
            registry=registry,
        )
        self.refused = Counter(
            "qbsync_gateway_requests_refused_total",
            "Requests answered with a SOAP fault before spyne read them, by reason (empty,"
            " encoding, dtd, not-xml, not-envelope, no-operation, fault, too-large, length).",
            ["reason"],
            registry=registry,
        )

        self.password_checks = Counter(
            "qbsync_gateway_password_checks_total",
            "scrypt password checks run (a login the credential cache did not answer).",
            registry=registry,
        )
        self.password_check_cpu = Counter(
            "qbsync_gateway_password_check_cpu_seconds_total",
            "CPU seconds spent in scrypt password checks.",
            registry=registry,
        )

    def request_refused(self, reason: str) -> None:
        self.refused.labels(reason).inc()

    # -- GatewayObserver ---------------------------------------------------------------

    def authenticated(self, outcome: str) -> None:
        self.authentications.labels(outcome or "session").inc()

    def batch_sent(self, requests: int, size_bytes: int) -> None:
        self.batch_requests.observe(requests)
        self.batch_bytes.observe(size_bytes)
        self.commands_sent.inc(requests)

    def settled(self, ok: int, failed: int) -> None:
        self.results.labels("ok").inc(ok)
        self.results.labels("error").inc(failed)

    def operation_failed(self, operation: str, error: str) -> None:
        self.failures.labels(operation, error).inc()

    def password_checked(self, cpu_s: float) -> None:
        self.password_checks.inc()
        self.password_check_cpu.inc(cpu_s)

    # -- SOAP calls -------------------------------------------------------------------------

    def soap_call(self, operation: str, outcome: str, seconds: float) -> None:
        """One answered call (the lean path reports here; spyne through :meth:`attach`)."""
        self.calls.labels(operation, outcome).inc()
        self.latency.labels(operation).observe(seconds)

    def attach(self, application: Any) -> None:
        """Time and count every call through spyne's event manager."""

        def started(ctx: Any) -> None:
            ctx.udc = time.perf_counter()

        def finished(ctx: Any, outcome: str) -> None:
            operation = ctx.descriptor.name if ctx.descriptor is not None else "unknown"
            if isinstance(ctx.udc, float):
                self.soap_call(operation, outcome, time.perf_counter() - ctx.udc)
            else:
                self.calls.labels(operation, outcome).inc()

        application.event_manager.add_listener("method_call", started)
        application.event_manager.add_listener(
            "method_return_object", lambda ctx: finished(ctx, "ok")
        )
        application.event_manager.add_listener(
            "method_exception_object", lambda ctx: finished(ctx, "fault")
        )


class StoreCollector(Collector):
    """Sessions active and Web Connectors gone quiet, read from the store when scraped."""

    def __init__(self, store: Store, *, stalled_factor: float) -> None:
        self._store = store
        self._factor = stalled_factor

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(
            "qbsync_gateway_profiles_stalled",
            f"Enabled profiles whose Web Connector has not called for {self._factor:g} x its"
            " schedule: the first thing support should look at.",
            value=self._store.stalled_profiles(self._factor),
        )
        yield GaugeMetricFamily(
            "qbsync_gateway_sessions_active",
            "Live Web Connector sessions (all replicas).",
            value=self._store.live_session_count(),
        )
