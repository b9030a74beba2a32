"""``qbsync sandbox run`` and ``show`` (the typer sub-app, driven by CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.sandbox import CompanyFile
from qbsync.cli_sandbox import LISTS, sandbox_app
from tests.connectors.sandbox.fake_gateway import FakeGateway
from tests.connectors.sandbox.qbxml_text import (
    customer_add,
    document,
    invoice_add,
    item_service_add,
    payment_add,
)

runner = CliRunner()


def run(http_gateway: tuple[str, FakeGateway], file: Path, *extra: str) -> tuple[int, str, str]:
    url, _ = http_gateway
    result = runner.invoke(
        sandbox_app,
        [
            "run",
            "--gateway",
            url,
            "--username",
            "u",
            "--password",
            "p",
            "--file",
            str(file),
            *extra,
        ],
    )
    return result.exit_code, result.stdout, result.stderr


def test_run_until_idle_records_every_request(
    http_gateway: tuple[str, FakeGateway], tmp_path: Path, qbxml_reference: Path
) -> None:
    _, gateway = http_gateway
    gateway.idle_when_empty = True
    gateway.requests = [document(customer_add("Ada")), document(customer_add("Bob"))]
    gateway.progress = [100, 100]  # one batch per session
    file = tmp_path / "demo.db"
    code, out, err = run(
        http_gateway,
        file,
        "--until-idle",
        "--record-dir",
        str(tmp_path / "rec"),
        "--schema",
        str(qbxml_reference),
        "--json",
    )
    assert code == 0, err
    reports = json.loads(out)
    assert [r["authenticate"] for r in reports] == ["", "", "none"]
    assert sorted(p.name for p in (tmp_path / "rec").iterdir()) == ["00001.xml", "00002.xml"]
    assert "session: authenticate=none" in err
    company = CompanyFile(file)
    try:
        assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob"]
    finally:
        company.close()


def test_run_with_faults_from_a_file(http_gateway: tuple[str, FakeGateway], tmp_path: Path) -> None:
    _, gateway = http_gateway
    gateway.requests = [document(customer_add("Ada"))]
    spec = tmp_path / "faults.json"
    spec.write_text(json.dumps({"unavailable": {"sessions": 1}}), encoding="utf-8")
    code, _, err = run(http_gateway, tmp_path / "f.db", "--faults", str(spec), "--no-validate")
    assert code == 0, err
    assert "connectionError 0x80040408" in err
    assert "connectionError" in gateway.operations


def test_a_bad_fault_spec_is_refused_naming_the_field(
    http_gateway: tuple[str, FakeGateway], tmp_path: Path
) -> None:
    code, _, err = run(http_gateway, tmp_path / "f.db", "--faults", '{"locks": [{"requests": 2}]}')
    assert code == 2
    assert "faults.locks[0].record" in err
    assert http_gateway[1].calls == []


def test_run_exits_1_when_the_gateway_refuses_the_user(
    http_gateway: tuple[str, FakeGateway], tmp_path: Path
) -> None:
    http_gateway[1].authenticate = ["t", "nvu"]
    code, _, err = run(http_gateway, tmp_path / "f.db", "--no-validate")
    assert code == 1
    assert "authenticate=nvu" in err


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    file = tmp_path / "filled.db"
    company = CompanyFile(file, company_name="Acme Builders")
    for request in (
        customer_add("Ada [admin]"),
        item_service_add("Labor"),
        invoice_add("Ada [admin]", ("Labor", "2", "50.00"), ref_number="INV-1"),
    ):
        assert company.process(document(request))[1] == ""
    response, _, _ = company.process(document(payment_add("Ada [admin]", "40.00", auto=True)))
    assert 'statusCode="0"' in response
    company.close()
    return file


def test_show_customers_as_a_table(filled: Path) -> None:
    result = runner.invoke(sandbox_app, ["show", "--file", str(filled), "--list", "customers"])
    assert result.exit_code == 0, result.stderr
    assert "Acme Builders: customers (1)" in result.stdout
    assert "Ada [admin]" in result.stdout  # shown as written, never read as markup
    assert "60.00" in result.stdout


def test_show_invoices_and_payments_as_json(filled: Path) -> None:
    result = runner.invoke(
        sandbox_app, ["show", "--file", str(filled), "--list", "invoices", "--json"]
    )
    (invoice,) = json.loads(result.stdout)
    assert (invoice["RefNumber"], invoice["Amount"], invoice["Open"], invoice["IsPaid"]) == (
        "INV-1",
        "100.00",
        "60.00",
        False,
    )
    result = runner.invoke(
        sandbox_app, ["show", "--file", str(filled), "--list", "payments", "--json"]
    )
    assert json.loads(result.stdout)[0]["Amount"] == "40.00"


@pytest.mark.parametrize("name", list(LISTS))
def test_every_list_can_be_shown(filled: Path, name: str) -> None:
    result = runner.invoke(sandbox_app, ["show", "--file", str(filled), "--list", name])
    assert result.exit_code == 0, result.stderr


def test_show_refuses_an_unknown_list_or_a_missing_file(filled: Path, tmp_path: Path) -> None:
    result = runner.invoke(sandbox_app, ["show", "--file", str(filled), "--list", "widgets"])
    assert (result.exit_code, "unknown" in result.stderr) == (2, True)
    missing = tmp_path / "missing.db"
    result = runner.invoke(sandbox_app, ["show", "--file", str(missing)])
    assert result.exit_code == 2
    assert not missing.exists()  # show never creates a company file


def test_show_full_json_gives_the_whole_record(filled: Path) -> None:
    result = runner.invoke(
        sandbox_app, ["show", "--file", str(filled), "--list", "invoices", "--json", "--full"]
    )
    assert result.exit_code == 0, result.stderr
    (invoice,) = json.loads(result.stdout)
    whole = invoice["record"]
    assert whole["TxnID"] == invoice["TxnID"]
    assert whole["RefNumber"] == "INV-1"
    assert whole["CustomerRef"]["FullName"]  # beyond the summary columns
    assert "InvoiceLineRet" in whole


def test_show_reads_while_another_process_holds_the_write_lock(filled: Path) -> None:
    """Issue 15: two `sandbox show` at once failed with "database is locked": opening the
    file wrote (schema script, company name) inside a deferred transaction. Now a set-up
    file is only read on open, so `show` works even while a writer holds the lock (a Web
    Connector mid-request, or another process opening it)."""
    import sqlite3

    writer = sqlite3.connect(filled, isolation_level=None, timeout=0.1)
    try:
        writer.execute("begin immediate")  # the write lock, held across the call
        result = runner.invoke(
            sandbox_app, ["show", "--file", str(filled), "--list", "accounts", "--json"]
        )
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)
    finally:
        writer.execute("rollback")
        writer.close()


def test_several_show_processes_at_once(filled: Path) -> None:
    import subprocess
    import sys

    command = [sys.executable, "-m", "qbsync", "sandbox", "show", "--file", str(filled)]
    children = [
        subprocess.Popen(
            [*command, "--list", "accounts", "--json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    outcomes = [(child.wait(timeout=600), child.communicate()) for child in children]
    failed = [err.decode() for code, (_, err) in outcomes if code != 0]
    assert failed == []
    assert all(json.loads(out) for _, (out, _) in outcomes)
