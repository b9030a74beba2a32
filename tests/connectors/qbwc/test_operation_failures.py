"""An exception inside a Web Connector operation (a broker or database hiccup) is never
spyne's bare SOAP "Internal Error": the gateway logs its type and ids, answers as the
protocol expects on failure, leaves the batch as an unknown outcome, and getLastError says
what happened. Recovered at the next update, every record exists once in QuickBooks and
settles once.

Real gateway over HTTP, real Kafka, a real sandbox Web Connector and company file; the
fault is injected by wrapping the gateway's own Kafka adapters (they raise what the real
ones raise: DeliveryFailed, CommandTopicNotReady) once, at the named operation."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.kafka import CommandTopicNotReady, DeliveryFailed
from connectors.qbwc import Gateway, GatewayServer, create_gateway, create_profile
from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, enqueue_requests, results
from tests.support.waiting import until

pytestmark = pytest.mark.integration


class _FailOnce:
    """Delegates to ``inner``; the first call of ``method`` raises ``error`` instead."""

    def __init__(self, inner: Any, method: str, error: Exception) -> None:
        self._inner = inner
        self._method = method
        self._error = error
        self.raised = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(self._inner, name)
        if name != self._method or self.raised:
            return real

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.raised += 1
            raise self._error

        return failing


# operation -> (adapter attribute of the conversation, a dotted path; its method; the error)
FAULTS: dict[str, tuple[str, str, Callable[[], Exception]]] = {
    "authenticate": (
        "_commands",
        "pending",
        lambda: CommandTopicNotReady("command topic 'x': partition 0 has no leader yet"),
    ),
    "sendRequestXML": (
        "_drain._commands",
        "fetch",
        lambda: CommandTopicNotReady("command topic 'x': partition 0 has no leader yet"),
    ),
    "receiveResponseXML": (
        "_drain._sink",
        "send_all",
        lambda: DeliveryFailed("1 record(s) unacknowledged, 0 failed", [], 1),
    ),
}


@contextmanager
def gateway_with_fault(
    settings: Settings, operation: str
) -> Iterator[tuple[str, Gateway, _FailOnce]]:
    gateway = create_gateway(settings)
    attribute, method, error = FAULTS[operation]
    *path, name = attribute.split(".")
    owner = functools.reduce(getattr, path, gateway.conversation)
    fault = _FailOnce(getattr(owner, name), method, error())
    setattr(owner, name, fault)
    server = GatewayServer(gateway.wsgi, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}", gateway, fault
    finally:
        server.stop()
        thread.join(10)
        gateway.close()


@pytest.mark.parametrize("operation", sorted(FAULTS))
def test_an_exception_in_an_operation_is_answered_recorded_and_recovered_once(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    operation: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.database.url = type(settings.database.url)(database_url)
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Shared Co", tenants=["t-1"])
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    invoice = build_request(
        "invoice",
        "Add",
        {
            "CustomerRef": {"FullName": "Ada"},
            "RefNumber": "INV-9",
            "InvoiceLineAdd": [{"Desc": "Service call", "Amount": Decimal("80.00")}],
        },
    )
    with gateway_with_fault(settings, operation) as (url, gateway, fault):
        served = Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
        enqueue_requests(
            served,
            [
                ("Ada", "ADD", build_request("customer", "Add", {"Name": "Ada"})),
                ("Grace", "ADD", build_request("customer", "Add", {"Name": "Grace"})),
            ],
        )
        enqueue_requests(served, [("INV-9", "ADD", invoice)], entity="invoice")
        wc = SandboxWebConnector(
            HttpTransport(url + "/qbwc"),
            username=profile.profile.username,
            password=profile.password,
            company=company,
        )
        with caplog.at_level(logging.INFO, logger="connectors.qbwc"):
            first = wc.run_once()  # a SOAP fault would raise SoapFault here
        assert fault.raised == 1
        if operation == "authenticate":
            assert first.authenticate == "busy"  # the Web Connector comes back later
            assert first.errors == []
        else:
            assert first.errors, first
            said = first.errors[-1]
            assert f"while answering {operation}" in said
            assert type(FAULTS[operation][2]()).__name__ in said
            assert "looked up in QuickBooks" in said
            assert "Nothing in flight was settled" in said
        if operation == "receiveResponseXML":
            # QuickBooks applied the batch; its answer was lost with the results.
            assert sorted(c["FullName"] for c in company.customers()) == ["Ada", "Grace"]

        (logged,) = [r for r in caplog.records if r.getMessage() == "operation failed"]
        assert logged.levelno == logging.ERROR
        assert logged.__dict__["operation"] == operation
        assert logged.__dict__["error"] == type(FAULTS[operation][2]()).__name__
        if operation != "authenticate":
            assert logged.__dict__["profile_id"] == profile.profile.id
            assert logged.__dict__["session_marked"] is True
        error_type = type(FAULTS[operation][2]()).__name__
        assert (
            gateway.registry.get_sample_value(
                "qbsync_gateway_operation_failures_total",
                {"operation": operation, "error": error_type},
            )
            == 1.0
        )
        # Ids and codes only: no record, no error text.
        text = " ".join(str(v) for v in logged.__dict__.values())
        for secret in ("Ada", "no leader", "unacknowledged"):
            assert secret not in text

        until(
            lambda: wc.run_once().authenticate == "none",
            timeout=90,
            what="the queue to drain after the failed operation",
        )
        wc.close()

    assert sorted(c["FullName"] for c in company.customers()) == ["Ada", "Grace"]
    assert company.duplicate_names() == 0
    assert [r["RefNumber"] for r in company.records("Invoice")] == ["INV-9"]
    found = results(served, 3)
    assert sorted(str(r["entity_id"]) for r in found) == ["Ada", "Grace", "INV-9"]
    assert all(r["status_code"] == 0 for r in found), found
    in_quickbooks = {c["FullName"]: c["ListID"] for c in company.customers()}
    assert {str(r["entity_id"]): r["qb_id"] for r in found if r["entity"] == "customer"} == (
        in_quickbooks
    )
    company.close()
    store.close()
