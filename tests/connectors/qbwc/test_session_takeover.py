"""A Web Connector whose session died (crash, killed QBWC, lost network) gets its file back as
soon as it authenticates again, not after the session TTL; another client still finds the
file busy; what the dead session had sent is looked up in QuickBooks, not applied twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.qbxml import build_request
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from tests.support.gateway import (
    Served,
    authenticate,
    enqueue_requests,
    results,
    send_request,
)

pytestmark = pytest.mark.integration


def test_the_same_web_connector_takes_its_file_back_at_once(served: Served, tmp_path: Path) -> None:
    assert served.settings.gateway.session_ttl_s >= 600  # the TTL is not what frees it here
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    enqueue_requests(
        served,
        [
            (name, "ADD", build_request("customer", "Add", {"Name": name}))
            for name in ("Ada", "Grace", "Alan")
        ],
    )

    def web_connector(agent: str) -> SandboxWebConnector:
        return SandboxWebConnector(
            HttpTransport(served.url + "/qbwc", user_agent=agent),
            username=served.profile.profile.username,
            password=served.profile.password,
            company=company,
        )

    crashed = web_connector("QBWC on the office PC")
    ticket = authenticate(crashed, served.profile)
    request = send_request(crashed, ticket)
    company.process(request)  # QuickBooks applies the batch; the Web Connector dies
    crashed.close()

    # Another PC with the same credentials: the file is busy while the session lives.
    assert web_connector("QBWC on another PC").run_once().authenticate == "busy"

    # The same Web Connector, restarted: its file at once, and the batch settles once.
    again = web_connector("QBWC on the office PC")
    report = again.run_once()
    assert report.authenticate == "", report
    assert report.last_progress == 100, report
    # The dead session's ticket is no longer a session.
    assert send_request(again, ticket) == ""
    again.close()

    assert sorted(c["FullName"] for c in company.customers()) == ["Ada", "Alan", "Grace"]
    assert company.duplicate_names() == 0
    found = results(served, 3)
    assert sorted(str(r["entity_id"]) for r in found) == ["Ada", "Alan", "Grace"]
    by_name = {c["FullName"]: c["ListID"] for c in company.customers()}
    for result in found:
        assert result["status_code"] == 0, result  # matched by name, never a 3100 failure
        assert result["qb_id"] == by_name[str(result["entity_id"])]
    company.close()
