from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.qbxml import build_message, build_request, parse_response
from connectors.sandbox import CompanyFile, SandboxError
from connectors.sandbox._catalog import SEED
from tests.connectors.sandbox.qbxml_text import Sender, rq


@pytest.fixture
def company(tmp_path: Path) -> Iterator[CompanyFile]:
    file = CompanyFile(tmp_path / "company.db")
    yield file
    file.close()


def send(company: CompanyFile, *requests: str, on_error: str = "continueOnError") -> list:  # type: ignore[type-arg]
    message = build_message(
        [(str(i), r) for i, r in enumerate(requests, 1)],
        version="13.0",
        on_error=on_error,  # type: ignore[arg-type]
    )
    response, hresult, _ = company.process(message)
    assert hresult == ""
    return parse_response(response)


def test_add_assigns_quickbooks_shaped_ids(company: CompanyFile) -> None:
    (status,) = send(company, build_request("customer", "Add", {"Name": "Ada"}))
    assert status.ok
    assert status.qb_id is not None
    assert re.fullmatch(r"[0-9A-F]{8}-\d{10}", status.qb_id)
    assert status.edit_sequence
    assert company.customers()[0]["ListID"] == status.qb_id


def test_duplicate_name_is_3100_case_insensitive(company: CompanyFile) -> None:
    first, second = send(
        company,
        build_request("customer", "Add", {"Name": "Ada"}),
        build_request("customer", "Add", {"Name": "ADA"}),
    )
    assert first.ok
    assert second.status_code == 3100
    assert len(company.customers()) == 1


def test_mod_with_current_edit_sequence_changes_it(company: CompanyFile) -> None:
    (added,) = send(company, build_request("customer", "Add", {"Name": "Ada"}))
    (modded,) = send(
        company,
        build_request(
            "customer",
            "Mod",
            {"Name": "Ada L"},
            qb_id=added.qb_id,
            edit_sequence=added.edit_sequence,
        ),
    )
    assert modded.ok
    assert modded.qb_id == added.qb_id
    assert modded.edit_sequence != added.edit_sequence
    assert company.customers()[0]["FullName"] == "Ada L"


def test_mod_with_stale_edit_sequence_is_3200(company: CompanyFile) -> None:
    (added,) = send(company, build_request("customer", "Add", {"Name": "Ada"}))
    mod = build_request("customer", "Mod", {"Name": "B"}, qb_id=added.qb_id, edit_sequence="1")
    (status,) = send(company, mod)
    assert status.status_code == 3200
    assert company.customers()[0]["FullName"] == "Ada"


def test_mod_of_unknown_record_is_3120(company: CompanyFile) -> None:
    mod = build_request("customer", "Mod", {"Name": "B"}, qb_id="80000099-1", edit_sequence="1")
    (status,) = send(company, mod)
    assert status.status_code == 3120


def test_deactivation_keeps_the_record(company: CompanyFile) -> None:
    (added,) = send(company, build_request("customer", "Add", {"Name": "Ada"}))
    send(
        company,
        build_request(
            "customer",
            "Mod",
            {"IsActive": False},
            qb_id=added.qb_id,
            edit_sequence=added.edit_sequence,
        ),
    )
    assert company.customers() == [{**company.customers()[0], "IsActive": False, "FullName": "Ada"}]


def test_stop_on_error_stops(company: CompanyFile) -> None:
    statuses = send(
        company,
        build_request("customer", "Add", {"Name": "Ada"}),
        build_request("customer", "Add", {"Name": "Ada"}),
        build_request("customer", "Add", {"Name": "Grace"}),
        on_error="stopOnError",
    )
    assert [s.status_code for s in statuses] == [0, 3100]
    assert [c["FullName"] for c in company.customers()] == ["Ada"]


def test_unparsable_document_is_refused_whole(company: CompanyFile) -> None:
    response, hresult, message = company.process("<QBXML><QBXMLMsgsRq>")
    assert (response, hresult) == ("", "0x80040400")
    assert "parsing the provided XML" in message


# -- the file itself ---------------------------------------------------------------------


def test_a_new_file_is_seeded_like_a_new_quickbooks_company(tmp_path: Path) -> None:
    file = CompanyFile(tmp_path / "new.db", company_name="Acme Builders")
    try:
        names = {r["FullName"] for r in file.records("Account")}
        assert {"Accounts Receivable", "Undeposited Funds", "Checking", "Sales"} <= names
        assert {r["FullName"] for r in file.records("SalesTaxCode")} == {"Tax", "Non"}
        assert file.company_name == "Acme Builders"
        assert file.customers() == []
    finally:
        file.close()


def test_everything_survives_reopening_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    first = CompanyFile(path, company_name="Kept")
    (status,) = send(first, build_request("customer", "Add", {"Name": "Ada"}))
    first.close()
    again = CompanyFile(path, company_name="Ignored for an existing file")
    try:
        assert again.company_name == "Kept"
        assert again.customers()[0]["ListID"] == status.qb_id
        assert len(again.records("Account")) == sum(1 for kind, _ in SEED if kind == "Account")
    finally:
        again.close()


def test_a_file_from_an_older_sandbox_is_refused_with_advice(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.execute("create table lists (list_id text primary key)")
    db.commit()
    db.close()
    with pytest.raises(SandboxError, match="delete it"):
        CompanyFile(path)


def test_records_record_and_sql_inspect_the_file(company: CompanyFile) -> None:
    (status,) = send(company, build_request("customer", "Add", {"Name": "Ada"}))
    (row,) = company.records("Customer")
    assert (row["FullName"], row["Balance"], row["ListID"]) == ("Ada", "0.00", status.qb_id)
    ret = company.record(status.qb_id or "")
    assert ret is not None
    assert ret.tag == "CustomerRet"
    assert company.record("nothing") is None
    assert company.sql("select count(*) from lists where kind = ?", ("Customer",)) == [(1,)]
    with pytest.raises(SandboxError, match="select"):
        company.sql("delete from lists")
    with pytest.raises(SandboxError, match="unknown kind"):
        company.records("Widget")


def test_ship_to_addresses_are_kept(tmp_path: Path, qbxml_reference: Path) -> None:
    file = CompanyFile(tmp_path / "ship.db", validate_with=qbxml_reference)
    try:
        ship = (
            "<ShipToAddress><Name>Site</Name><Addr1>1 Dock Rd</Addr1>"
            "<DefaultShipTo>true</DefaultShipTo></ShipToAddress>"
        )
        ret = Sender(file, qbxml_reference).ok(rq("CustomerAdd", f"<Name>Ada</Name>{ship}"))
        assert ret.findtext("ShipToAddress/Addr1") == "1 Dock Rd"
        assert ret.findtext("ShipToAddress/DefaultShipTo") == "true"
    finally:
        file.close()
