"""Kill -9 the gateway at each step of a Web Connector session: after a restart nothing is
lost, every command settles exactly once, and QuickBooks holds no duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.qbxml import build_message, build_request, parse_response
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from core.processes import ChildProcess, child_process
from qbsync.runtime import child_env, free_port, wait_healthy
from tests.support.gateway import (
    Served,
    authenticate,
    enqueue,
    enqueue_requests,
    results,
    send_request,
)
from tests.support.waiting import until

pytestmark = pytest.mark.integration

CRASH_POINTS = ["after-authenticate", "after-send", "after-apply", "after-receive"]


@contextmanager
def gateway_process(served: Served, port: int, log_dir: Path) -> Iterator[ChildProcess]:
    env = {
        **child_env(served.settings),
        "QBSYNC_GATEWAY_PORT": str(port),
        # A Web Connector that died leaves its session behind; it frees the file quickly here.
        "QBSYNC_GATEWAY_SESSION_TTL_S": "1",
    }
    with child_process("gateway", ["gateway"], env=env, log_dir=log_dir) as child:
        wait_healthy(child, f"http://127.0.0.1:{port}/healthz")
        yield child


@pytest.mark.parametrize("crash", CRASH_POINTS)
def test_kill_9_at_any_step_loses_nothing_and_duplicates_nothing(
    served: Served, tmp_path: Path, crash: str
) -> None:
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    # One customer already in QuickBooks, which the batch modifies (a Mod re-sent after a
    # crash meets a changed EditSequence).
    existing = build_request("customer", "Add", {"Name": "Existing"})
    (added,) = parse_response(company.process(build_message([("0", existing)], version="13.0"))[0])
    enqueue(served, "Ada", "Grace", "Alan")
    served_mod = build_request(
        "customer",
        "Mod",
        {"Name": "Existing", "Phone": "555-0100"},
        qb_id=added.qb_id,
        edit_sequence=added.edit_sequence,
    )
    enqueue_requests(served, [("existing", "MOD", served_mod)])

    port = free_port()
    url = f"http://127.0.0.1:{port}/qbwc"
    logs = tmp_path / "logs"
    with gateway_process(served, port, logs) as first:
        wc = SandboxWebConnector(
            HttpTransport(url),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=company,
        )
        ticket = authenticate(wc, served.profile)
        if crash != "after-authenticate":
            request = send_request(wc, ticket)
            assert request.count("requestID=") == 4
            if crash != "after-send":
                response, _, _ = company.process(request)  # QuickBooks applies the batch
                if crash == "after-receive":
                    wc.call(
                        "receiveResponseXML",
                        ticket=ticket,
                        response=response,
                        hresult="",
                        message="",
                    )
        first.process.kill()  # kill -9: no cleanup, no goodbye
        first.process.wait(10)
        wc.close()

    with gateway_process(served, port, logs):
        wc = SandboxWebConnector(
            HttpTransport(url),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=company,
        )
        # Scheduled runs: "busy" until the dead session expires, then the batch again.
        until(
            lambda: wc.run_once().authenticate == "none",
            timeout=60,
            what="the queue to drain after the restart",
        )
        wc.close()

    names = sorted(c["FullName"] for c in company.customers())
    assert names == ["Ada", "Alan", "Existing", "Grace"]  # nothing lost, nothing twice
    assert company.duplicate_names() == 0
    found = results(served, 4)
    by_entity = {}
    for result in found:
        by_entity.setdefault(result["entity_id"], []).append(result)
    assert set(by_entity) == {"Ada", "Grace", "Alan", "existing"}
    in_quickbooks = {c["FullName"]: c for c in company.customers()}
    for name in ("Ada", "Grace", "Alan"):
        for result in by_entity[name]:  # at-least-once: every copy says the same
            assert result["status_code"] == 0, result
            assert result["qb_id"] == in_quickbooks[name]["ListID"]
    final_mod = by_entity["existing"][-1]
    assert final_mod["status_code"] == 0, final_mod
    assert final_mod["edit_sequence"] == in_quickbooks["Existing"]["EditSequence"]
    if crash != "after-receive":
        # The first attempt never reported, so each command has exactly one result.
        assert all(len(copies) == 1 for copies in by_entity.values())
    company.close()


def test_quickbooks_crashing_after_applying_invoices_adds_each_once(
    served: Served, tmp_path: Path
) -> None:
    """The sandbox's crash fault: QuickBooks applies a batch of invoices and the Web
    Connector dies before answering; the gateway is killed too. Invoices have no unique name,
    so the re-sent adds are looked up by RefNumber first and settle without a second copy."""
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    customer = build_request("customer", "Add", {"Name": "Ada"})
    company.process(build_message([("0", customer)], version="13.0"))

    def invoice(ref_number: str) -> str:
        return build_request(
            "invoice",
            "Add",
            {
                "CustomerRef": {"FullName": "Ada"},
                "RefNumber": ref_number,
                "InvoiceLineAdd": [{"Desc": "Service call", "Amount": Decimal("125.00")}],
            },
        )

    enqueue_requests(
        served,
        [(ref, "ADD", invoice(ref)) for ref in ("INV-1", "INV-2", "INV-3")],
        entity="invoice",
    )
    company.faults.crash_after_apply(batches=1)
    port = free_port()
    url = f"http://127.0.0.1:{port}/qbwc"
    logs = tmp_path / "logs"

    def connector() -> SandboxWebConnector:
        return SandboxWebConnector(
            HttpTransport(url),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=company,
        )

    with gateway_process(served, port, logs) as first:
        wc = connector()
        crashed = wc.run_once()
        wc.close()
        assert crashed.crashed
        assert sorted(r["RefNumber"] for r in company.records("Invoice")) == [
            "INV-1",
            "INV-2",
            "INV-3",
        ]  # applied, never answered
        first.process.kill()
        first.process.wait(10)

    with gateway_process(served, port, logs):
        wc = connector()
        until(
            lambda: wc.run_once().authenticate == "none",
            timeout=60,
            what="the queue to drain after the crash",
        )
        wc.close()

    invoices = company.records("Invoice")
    assert sorted(r["RefNumber"] for r in invoices) == ["INV-1", "INV-2", "INV-3"]  # once each
    found = {r["entity_id"]: r for r in results(served, 3)}
    assert set(found) == {"INV-1", "INV-2", "INV-3"}
    by_ref = {r["RefNumber"]: r["TxnID"] for r in invoices}
    for ref, result in found.items():
        assert result["status_code"] == 0, result
        assert result["qb_id"] == by_ref[ref]
        assert "RefNumber" in str(result["status_message"])
    company.close()


@pytest.mark.parametrize("crash", ["after-stage", "after-staged-apply"])
def test_kill_9_with_the_next_batch_staged_loses_nothing_and_duplicates_nothing(
    served: Served, tmp_path: Path, crash: str
) -> None:
    """Each settle records the next batch in its own write and sendRequestXML serves it
    without one (issue 14): killed after that settle, or after the served batch was applied
    but never answered, the restarted gateway sends it again, looked up first (its commands
    were marked sent with the settle's write), and QuickBooks holds each record once."""
    served.settings.gateway.batch_size = 2
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    enqueue(served, "Ada", "Grace", "Alan", "Linus")
    port = free_port()
    url = f"http://127.0.0.1:{port}/qbwc"
    logs = tmp_path / "logs"

    def connector() -> SandboxWebConnector:
        return SandboxWebConnector(
            HttpTransport(url),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=company,
        )

    with gateway_process(served, port, logs) as first:
        wc = connector()
        ticket = authenticate(wc, served.profile)
        request = send_request(wc, ticket)
        assert [name in request for name in ("Ada", "Grace", "Alan")] == [True, True, False]
        response, _, _ = company.process(request)
        progress = wc.call(
            "receiveResponseXML", ticket=ticket, response=response, hresult="", message=""
        ).text
        assert 0 < int(progress or "-1") < 100  # settled, and the next batch staged
        if crash == "after-staged-apply":
            staged = send_request(wc, ticket)
            assert [name in staged for name in ("Alan", "Linus", "Ada")] == [True, True, False]
            company.process(staged)  # QuickBooks applies it; the answer never arrives
        first.process.kill()  # kill -9
        first.process.wait(10)
        wc.close()

    with gateway_process(served, port, logs):
        wc = connector()
        until(
            lambda: wc.run_once().authenticate == "none",
            timeout=60,
            what="the queue to drain after the restart",
        )
        wc.close()

    names = sorted(c["FullName"] for c in company.customers())
    assert names == ["Ada", "Alan", "Grace", "Linus"]  # nothing lost, nothing twice
    assert company.duplicate_names() == 0
    in_quickbooks = {c["FullName"]: c["ListID"] for c in company.customers()}
    found = results(served, 4)
    assert {r["entity_id"] for r in found} == set(in_quickbooks)
    for result in found:
        assert result["status_code"] == 0, result
        assert result["qb_id"] == in_quickbooks[str(result["entity_id"])]
    company.close()
