"""QuickBooks records in the apps' shapes: from qbXML captured from real QuickBooks and from
the sandbox, each encoded with the QuickBooksChange schema (so every shape is a valid
change event)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import Record, build_message, build_query, build_request, parse_response
from connectors.sandbox import CompanyFile, find_reference
from core.contracts import AvroCodec, EncodeError
from streams.two_way.from_quickbooks import (
    PLACEHOLDERS,
    QBO_PLACEHOLDERS,
    AppRecord,
    app_records,
)

CHANGE = "com.qbsync.events.QuickBooksChange"


def nobody(_entity: str, _qb_id: str | None) -> str | None:
    return None


def as_change(record: AppRecord) -> dict[str, Any]:
    """Encoded and decoded again with the contract: what an app would read."""
    codec = AvroCodec()
    change = {
        "change_id": str(uuid.uuid4()),
        "tenant_id": "t-1",
        "entity": record.entity,
        "kind": "CREATED",
        "qb_id": "X",
        "detected_at": datetime.now(UTC),
        "placeholders": list(record.placeholders),
        record.entity: record.payload,
    }
    return codec.decode(codec.encode(CHANGE, change))[1]


def captured(qbxml_reference: Path, name: str) -> list[Record]:
    answer = (qbxml_reference / "samples" / name).read_bytes()
    return [record for status in parse_response(answer) for record in status.records]


def test_customers_captured_from_quickbooks(qbxml_reference: Path) -> None:
    palmer = captured(qbxml_reference, "responses-customer_query_rs.xml")[0]
    (shaped,) = app_records(palmer.kind, palmer.fields, nobody)
    change = as_change(shaped)
    assert change["entity"] == "customer"
    customer = change["customer"]
    assert (customer["first_name"], customer["last_name"]) == ("Keith", "Palmer")
    assert customer["bill_address"]["city"] == "Storrs"
    assert customer["company_name"] is None  # a person: no placeholder needed
    assert change["placeholders"] == []


def test_an_item_captured_from_quickbooks_is_an_item(qbxml_reference: Path) -> None:
    (item,) = captured(qbxml_reference, "responses-item_inventory_add_rs.xml")
    (shaped,) = app_records(item.kind, item.fields, nobody)  # inventory: not a cost code
    change = as_change(shaped)["item"]
    assert change["item_type"] == "INVENTORY"
    assert change["price"] == Decimal("85.00000")
    assert change["description"] == "your sales description here"
    assert shaped.placeholders == ("is_taxable",)


def test_a_payment_captured_from_quickbooks_names_the_invoices_it_pays(
    qbxml_reference: Path,
) -> None:
    payment = captured(qbxml_reference, "responses-receive_payment_query_rs.xml")[0]

    def ours(entity: str, qb_id: str | None) -> str | None:
        return "inv-13988" if (entity, qb_id) == ("invoice", "244B-1263497335") else None

    (shaped,) = app_records(payment.kind, payment.fields, ours)
    assert shaped.refers_to_ours
    change = as_change(shaped)["payment"]
    assert change["amount"] == Decimal("112.35")
    assert change["applied_to"] == [
        {"transaction": {"id": "inv-13988", "full_name": "OP13988"}, "amount": Decimal("112.35")}
    ]
    (stranger,) = app_records(payment.kind, payment.fields, nobody)
    assert not stranger.refers_to_ours


@pytest.fixture
def company(tmp_path: Path) -> Iterator[CompanyFile]:
    file = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    yield file
    file.close()


def entered(company: CompanyFile, *requests: tuple[str, str, dict[str, Any]]) -> None:
    message = build_message(
        [(str(i), build_request(e, "Add", v)) for i, (e, _, v) in enumerate(requests)],
        version="13.0",
    )
    answer = company.process(message)[0]
    assert answer.count('statusCode="0"') == len(requests), answer


def queried(company: CompanyFile, entity: str, **values: Any) -> list[Record]:
    answer = company.process(
        build_message([("q", build_query(entity, values or None))], version="13.0")
    )[0]
    return list(parse_response(answer)[0].records)


def test_a_customer_job_is_the_apps_project_and_ship_tos_its_service_locations(
    company: CompanyFile,
) -> None:
    entered(
        company,
        (
            "customer",
            "",
            {
                "Name": "Acme",
                "CompanyName": "Acme Inc",
                "ShipToAddress": [
                    {"Name": "Depot", "Addr1": "9 Side", "City": "Austin", "DefaultShipTo": True},
                    {"Name": "Yard", "Addr1": "1 Back"},
                ],
            },
        ),
        (
            "customer",
            "",
            {
                "Name": "Kitchen",
                "ParentRef": {"FullName": "Acme"},
                "JobStatus": "InProgress",
                "JobDesc": "Remodel",
            },
        ),
    )
    acme, kitchen = sorted(queried(company, "customer"), key=lambda r: r.full_name or "")

    def resolve(entity: str, qb_id: str | None) -> str | None:
        return "app-acme" if (entity, qb_id) == ("customer", acme.qb_id) else None

    (customer,) = app_records(acme.kind, acme.fields, resolve)
    locations = as_change(customer)["customer"]["ship_to_locations"]
    assert [(loc["name"], loc["is_default"]) for loc in locations] == [
        ("Depot", True),
        ("Yard", False),
    ]
    assert locations[0]["address"]["city"] == "Austin"

    (job,) = app_records(kitchen.kind, kitchen.fields, resolve)  # a job, not a customer
    project = as_change(job)["job"]
    assert project["parent_customer"] == {"id": "app-acme", "full_name": "Acme"}
    assert (project["name"], project["status"], project["description"]) == (
        "Kitchen",
        "IN_PROGRESS",
        "Remodel",
    )


def test_placeholders_fill_what_quickbooks_leaves_empty_and_are_reported(
    company: CompanyFile,
) -> None:
    entered(
        company,
        ("vendor", "", {"Name": "Bob Supply"}),
        ("employee", "", {"FirstName": "Cher"}),
        ("customer", "", {"Name": "Walk-in"}),
    )
    (vendor,) = app_records("Vendor", queried(company, "vendor")[0].fields, nobody)
    assert vendor.placeholders == ("kind", "company_name")
    assert as_change(vendor)["vendor"]["company_name"] == "Bob Supply"
    (employee,) = app_records("Employee", queried(company, "employee")[0].fields, nobody)
    assert employee.placeholders == ("last_name",)
    assert as_change(employee)["employee"]["last_name"] == "-"
    (walk_in,) = app_records("Customer", queried(company, "customer")[0].fields, nobody)
    assert walk_in.placeholders == ("company_name",)
    # Every placeholder is documented.
    for record in (vendor, employee, walk_in):
        for name in record.placeholders:
            assert f"{record.entity}.{name}" in PLACEHOLDERS


def test_a_bill_carries_its_job_costs_and_a_service_item_is_also_a_cost_code(
    company: CompanyFile,
) -> None:
    entered(
        company,
        ("vendor", "", {"Name": "Lumber Co"}),
        ("customer", "", {"Name": "Acme"}),
        ("customer", "", {"Name": "Kitchen", "ParentRef": {"FullName": "Acme"}}),
        (
            "item_service",
            "",
            {
                "Name": "03-300",
                "SalesOrPurchase": {"Desc": "Concrete", "AccountRef": {"FullName": "Services"}},
            },
        ),
    )
    entered(
        company,
        (
            "bill",
            "",
            {
                "VendorRef": {"FullName": "Lumber Co"},
                "TxnDate": date(2026, 11, 20),
                "RefNumber": "B-7",
                "ItemLineAdd": [
                    {
                        "ItemRef": {"FullName": "03-300"},
                        "Amount": Decimal("400.00"),
                        "CustomerRef": {"FullName": "Acme:Kitchen"},
                    }
                ],
            },
        ),
    )
    (kitchen,) = [r for r in queried(company, "customer") if r.full_name == "Acme:Kitchen"]

    def resolve(entity: str, qb_id: str | None) -> str | None:
        return "proj-9" if (entity, qb_id) == ("job", kitchen.qb_id) else None

    (bill_record,) = queried(company, "bill", IncludeLineItems=True)
    (bill,) = app_records(bill_record.kind, bill_record.fields, resolve)
    shaped = as_change(bill)["bill"]
    assert (shaped["ref_number"], shaped["txn_date"], shaped["status"]) == (
        "B-7",
        date(2026, 11, 20),
        "APPROVED",
    )
    (line,) = shaped["item_lines"]
    assert line["customer"] == {"id": "proj-9", "full_name": "Acme:Kitchen"}  # the job cost
    assert line["amount"] == Decimal("400.00")

    (service,) = queried(company, "item")
    item, cost_code = app_records(service.kind, service.fields, nobody)
    assert (item.entity, cost_code.entity) == ("item", "cost_code")
    code = as_change(cost_code)["cost_code"]
    assert (code["code"], code["name"]) == ("03-300", "Concrete")
    assert code["item"]["full_name"] == "03-300"


def test_time_entered_in_quickbooks_is_the_apps_time_entry(company: CompanyFile) -> None:
    entered(
        company,
        ("employee", "", {"FirstName": "Ada", "LastName": "Lovelace"}),
        ("vendor", "", {"Name": "Babbage Contracting"}),
        ("customer", "", {"Name": "Acme"}),
        ("customer", "", {"Name": "Kitchen", "ParentRef": {"FullName": "Acme"}}),
        (
            "item_service",
            "",
            {"Name": "Labor", "SalesOrPurchase": {"AccountRef": {"FullName": "Services"}}},
        ),
    )
    entered(
        company,
        (
            "time_tracking",
            "",
            {
                "TxnDate": date(2026, 11, 20),
                "EntityRef": {"FullName": "Ada Lovelace"},
                "CustomerRef": {"FullName": "Acme:Kitchen"},
                "ItemServiceRef": {"FullName": "Labor"},
                "Duration": "PT7H30M0S",
                "Notes": "framing",
                "BillableStatus": "Billable",
            },
        ),
        (
            "time_tracking",
            "",
            {
                "TxnDate": date(2026, 11, 21),
                "EntityRef": {"FullName": "Babbage Contracting"},
                "Duration": "PT45M",
                "BillableStatus": "NotBillable",
            },
        ),
    )
    (kitchen,) = [r for r in queried(company, "customer") if r.full_name == "Acme:Kitchen"]
    (ada,) = queried(company, "employee")
    (babbage,) = queried(company, "vendor")
    known = {
        ("job", kitchen.qb_id): "proj-9",
        ("employee", ada.qb_id): "emp-1",
        ("vendor", babbage.qb_id): "emp-1099",  # a 1099 worker the app has as an employee
    }

    def resolve(entity: str, qb_id: str | None) -> str | None:
        return known.get((entity, qb_id or ""))

    first, second = sorted(queried(company, "time_tracking"), key=lambda r: r.fields["TxnDate"])
    (worked,) = app_records(first.kind, first.fields, resolve)
    entry = as_change(worked)["time_entry"]
    assert entry["employee"] == {"id": "emp-1", "full_name": "Ada Lovelace"}
    assert (entry["date"], entry["duration_minutes"]) == (date(2026, 11, 20), 450)
    assert entry["customer"] == {"id": "proj-9", "full_name": "Acme:Kitchen"}
    assert entry["service_item"]["full_name"] == "Labor"
    assert (entry["is_billable"], entry["memo"], entry["approval"]) == (True, "framing", "APPROVED")
    (contracted,) = app_records(second.kind, second.fields, resolve)
    entry = as_change(contracted)["time_entry"]
    assert entry["employee"] == {"id": "emp-1099", "full_name": "Babbage Contracting"}
    assert (entry["duration_minutes"], entry["is_billable"], entry["customer"]) == (45, False, None)


@pytest.mark.parametrize(
    ("duration", "minutes"),
    [("PT8H", 480), ("PT0H15M0S", 15), ("PT1H30M59S", 90), ("PT90S", 1), ("-PT2H", -120)],
)
def test_a_time_entrys_duration_in_minutes(duration: str, minutes: int) -> None:
    (shaped,) = app_records(
        "TimeTracking",
        {"TxnDate": "2026-11-20", "EntityRef": {"ListID": "80-1"}, "Duration": duration},
        nobody,
    )
    assert shaped.payload["duration_minutes"] == minutes


def test_a_time_entry_without_a_duration_cannot_be_a_change() -> None:
    """No usable Duration: nothing is made up (the worker dead-letters it, ``unshapeable``)."""
    for duration in ("", "P1D", "PT", "eight hours"):
        fields = {"TxnDate": "2026-11-20", "EntityRef": {"ListID": "80-1"}, "Duration": duration}
        (shaped,) = app_records("TimeTracking", fields, nobody)
        assert shaped.payload["duration_minutes"] is None
        with pytest.raises(EncodeError, match="duration_minutes"):
            as_change(shaped)


def test_accounts_and_classes_entered_in_quickbooks_are_the_apps(company: CompanyFile) -> None:
    # qbsync adds no accounts or classes to a company file; the bookkeeper does (raw qbXML).
    for kind, body in (
        (
            "Account",
            "<Name>Materials</Name><AccountType>CostOfGoodsSold</AccountType>"
            "<AccountNumber>5000</AccountNumber><Desc>job materials</Desc>",
        ),
        (
            "Account",
            "<Name>Lumber</Name><ParentRef><FullName>Materials</FullName></ParentRef>"
            "<AccountType>CostOfGoodsSold</AccountType>",
        ),
        ("Class", "<Name>North</Name>"),
        ("Class", "<Name>Yard</Name><ParentRef><FullName>North</FullName></ParentRef>"),
    ):
        request = f"<{kind}AddRq><{kind}Add>{body}</{kind}Add></{kind}AddRq>"
        answer = company.process(build_message([("1", request)], version="13.0"))[0]
        assert 'statusCode="0"' in answer, answer
    accounts = {r.full_name: r for r in queried(company, "account")}
    classes = {r.full_name: r for r in queried(company, "class")}
    known = {
        ("account", accounts["Materials"].qb_id): "acc-1",
        ("class", classes["North"].qb_id): "cls-1",
    }

    def resolve(entity: str, qb_id: str | None) -> str | None:
        return known.get((entity, qb_id or ""))

    def change(record: Record) -> dict[str, Any]:
        (shaped,) = app_records(record.kind, record.fields, resolve)
        return as_change(shaped)

    materials = change(accounts["Materials"])["account"]
    assert (materials["name"], materials["number"], materials["description"]) == (
        "Materials",
        "5000",
        "job materials",
    )
    assert (materials["account_type"], materials["sub_type"], materials["parent"]) == (
        "COST_OF_GOODS_SOLD",
        None,  # QuickBooks Online's AccountSubType: Desktop has none
        None,
    )
    lumber = change(accounts["Materials:Lumber"])["account"]
    assert lumber["parent"] == {"id": "acc-1", "full_name": "Materials"}
    yard = change(classes["North:Yard"])["class"]
    assert (yard["name"], yard["parent"], yard["is_active"]) == (
        "Yard",
        {"id": "cls-1", "full_name": "North"},
        True,
    )


@pytest.mark.parametrize(
    ("spelled", "symbol"),
    [
        ("AccountsReceivable", "ACCOUNTS_RECEIVABLE"),  # qbXML
        ("Accounts Receivable", "ACCOUNTS_RECEIVABLE"),  # QuickBooks Online
        ("Cost of Goods Sold", "COST_OF_GOODS_SOLD"),
        ("NonPosting", "NON_POSTING"),
        ("Other Current Liability", "OTHER_CURRENT_LIABILITY"),
    ],
)
def test_an_accounts_type_is_the_apps_symbol_however_quickbooks_spells_it(
    spelled: str, symbol: str
) -> None:
    (shaped,) = app_records("Account", {"Name": "A", "AccountType": spelled}, nobody)
    assert shaped.payload["account_type"] == symbol


def test_kinds_the_apps_do_not_get_give_nothing() -> None:
    assert app_records("Terms", {"ListID": "1", "Name": "Net 30"}, nobody) == []
    # An account of a type the app's enum does not name (or none): not delivered.
    assert app_records("Account", {"ListID": "1", "Name": "Bank"}, nobody) == []
    assert app_records("Account", {"Name": "X", "AccountType": "Suspense"}, nobody) == []


def test_docs_list_every_placeholder_as_the_code_fills_it() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "two-way.md").read_text()
    table = doc.split("<!-- placeholders:")[1].split("\n\n")[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    documented = {field.strip().strip("`"): why.strip() for field, why in rows}
    assert documented == PLACEHOLDERS


def test_qbo_records_get_from_quickbooks_and_zero_rates_desktop_keeps_its_own() -> None:
    employee = {"ListID": "55", "Name": "Sam", "IsActive": "true"}
    (desktop,) = app_records("Employee", employee, nobody)
    (online,) = app_records("Employee", employee, nobody, "qbo")
    assert (desktop.payload["first_name"], desktop.payload["last_name"]) == ("Sam", "-")
    assert (online.payload["first_name"], online.payload["last_name"]) == (
        "FromQuickBooks",
        "FromQuickBooks",
    )
    assert online.placeholders == ("first_name", "last_name")
    (item, *_) = app_records("ItemService", {"ListID": "7", "Name": "Consulting"}, nobody, "qbo")
    assert (item.payload["price"], item.payload["cost"]) == (0, 0)
    assert {"price", "cost"} <= set(item.placeholders)
    priced = {"ListID": "8", "Name": "Audit", "SalesAndPurchase": {"SalesPrice": "90"}}
    (item, *_) = app_records("ItemService", priced, nobody, "qbo")
    assert item.payload["price"] == 90
    assert "price" not in item.placeholders


def test_docs_list_every_qbo_placeholder_as_the_code_fills_it() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "qbo.md").read_text()
    table = doc.split("<!-- qbo-placeholders:")[1].split("\n\n")[0]
    rows = [line.split("|")[1:3] for line in table.splitlines() if line.startswith("| `")]
    documented = {field.strip().strip("`"): why.strip() for field, why in rows}
    assert documented == {k: why for k, (_, why) in QBO_PLACEHOLDERS.items()}


def test_an_invoices_balance_names_its_customer_or_job_and_date() -> None:
    """A payment received in QuickBooks against an invoice qbsync synced: its balance, and
    whose and when (the app's job when the invoice is for one of its jobs)."""

    def the_apps(entity: str, qb_id: str | None) -> str | None:
        return {("job", "80000012-1"): "job-7"}.get((entity, qb_id or ""))

    fields = {
        "TxnID": "9-1",
        "CustomerRef": {"ListID": "80000012-1", "FullName": "Palmer:Kitchen"},
        "TxnDate": "2026-03-02",
        "RefNumber": "1042",
        "Subtotal": "100.00",
        "SalesTaxTotal": "8.00",
        "AppliedAmount": "-108.00",
        "BalanceRemaining": "0.00",
        "IsPaid": "true",
        "Memo": "March visit",
    }
    (shaped,) = app_records("Invoice", fields, the_apps)
    invoice = as_change(shaped)["invoice"]
    assert invoice["customer"] == {"id": "job-7", "full_name": "Palmer:Kitchen"}
    assert (invoice["txn_date"], invoice["memo"]) == (date(2026, 3, 2), "March visit")
    assert (invoice["total"], invoice["applied"], invoice["is_paid"]) == (
        Decimal("108.00"),
        Decimal("108.00"),
        True,
    )
