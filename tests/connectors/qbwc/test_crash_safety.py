"""Kill -9 the gateway at each step of a Web Connector session: after a restart nothing is
lost, every command settles exactly once, and QuickBooks holds no duplicate."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from connectors.qbxml import build_message, build_request, parse_response
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from qbsync.processes import ChildProcess, child_process
from qbsync.runtime import child_env, free_port, wait_healthy
from tests.support.gateway import Served, enqueue, enqueue_requests, results
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
        ticket = (
            wc.call(
                "authenticate",
                strUserName=served.profile.profile.username,
                strPassword=served.profile.password,
            )[0].text
            or ""
        )
        if crash != "after-authenticate":
            request = (
                wc.call(
                    "sendRequestXML",
                    ticket=ticket,
                    strHCPResponse="",
                    strCompanyFileName="",
                    qbXMLCountry="US",
                    qbXMLMajorVers="13",
                    qbXMLMinorVers="0",
                ).text
                or ""
            )
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
