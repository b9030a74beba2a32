"""Web Connectors on a schedule, several at once; waits are condition variables, not sleeps."""

from __future__ import annotations

from pathlib import Path

from connectors.sandbox import (
    CompanyFile,
    SandboxWebConnector,
    ScheduledWebConnector,
    SessionReport,
    WebConnectorPool,
)
from tests.connectors.sandbox.fake_gateway import FakeGateway
from tests.connectors.sandbox.qbxml_text import customer_add, document


def connector(gateway: FakeGateway, company: CompanyFile) -> SandboxWebConnector:
    return SandboxWebConnector(gateway, username="u", password="p", company=company)


def test_a_scheduled_connector_runs_again_and_again(company: CompanyFile) -> None:
    gateway = FakeGateway(requests=[document(customer_add("Ada"))])
    seen: list[SessionReport] = []
    schedule = ScheduledWebConnector(
        connector(gateway, company), every=60, time_scale=0.0001, on_report=seen.append
    ).start()
    try:
        assert schedule.wait_for_runs(3)
    finally:
        schedule.stop()
    assert not schedule.running
    assert schedule.failure is None
    assert schedule.runs >= 3
    assert seen[0].last_progress == 100  # the first run did the work, later ones found none
    assert [c["FullName"] for c in company.customers()] == ["Ada"]


def test_the_servers_wait_values_change_the_schedule(company: CompanyFile) -> None:
    gateway = FakeGateway(authenticate=["t", "none", "5", "120"])
    schedule = ScheduledWebConnector(connector(gateway, company), every=60, time_scale=0.0001)
    schedule.start()
    try:
        assert schedule.wait_for_runs(2)
    finally:
        schedule.stop()
    assert schedule.interval == 120 * 0.0001  # "minimum seconds between updates" raised it


def test_wait_until_returns_the_matching_report(company: CompanyFile) -> None:
    gateway = FakeGateway(authenticate=["t", "busy"])
    schedule = ScheduledWebConnector(connector(gateway, company), every=1, time_scale=0.001).start()
    try:
        report = schedule.wait_until(lambda r: r.authenticate == "busy")
    finally:
        schedule.stop()
    assert report is not None
    assert report.authenticate == "busy"


def test_a_failing_loop_reports_its_failure(company: CompanyFile) -> None:
    gateway = FakeGateway(fault_on="serverVersion")
    schedule = ScheduledWebConnector(connector(gateway, company), every=1, time_scale=0.001).start()
    assert schedule.wait_for_runs(1)
    schedule.stop()
    assert schedule.failure is not None
    assert "SoapFault" in schedule.failure


def test_many_connectors_run_at_once_one_per_company_file(tmp_path: Path) -> None:
    companies = [CompanyFile(tmp_path / f"c{i}.db", company_name=f"C{i}") for i in range(4)]
    gateways = [FakeGateway(requests=[document(customer_add(f"Customer {i}"))]) for i in range(4)]
    pool = WebConnectorPool(
        [connector(g, c) for g, c in zip(gateways, companies, strict=True)],
        every=60,
        time_scale=0.0001,
    ).start()
    try:
        assert pool.wait_for_runs(2)
    finally:
        pool.stop()
    assert pool.failures == []
    for i, company in enumerate(companies):
        assert [c["FullName"] for c in company.customers()] == [f"Customer {i}"]
        company.close()
