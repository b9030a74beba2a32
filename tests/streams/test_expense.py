"""An expense paid at once through the planner into a QuickBooks Desktop company file (the
sandbox, both directions checked against Intuit's XSD): a check, a cash purchase and a card
charge land with their account, payee, lines and the total QuickBooks adds up."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from connectors.qbxml import build_message, parse_xml
from connectors.sandbox import CompanyFile
from connectors.store import Mapping
from core.messages import Command
from streams.translate import Context, plan
from tests.streams._events import NOW, example


@pytest.fixture
def company(tmp_path: Path, qbxml_reference: Path) -> Iterator[CompanyFile]:
    file = CompanyFile(tmp_path / "company.db", validate_with=qbxml_reference)
    yield file
    file.close()


def _ok(company: CompanyFile, request: str) -> tuple[str, etree._Element]:
    """The ``*Ret`` of one request the company file must accept."""
    response, hresult, message = company.process(build_message([("1", request)], version="13.0"))
    assert hresult == "", message
    messages = parse_xml(response).find("QBXMLMsgsRs")
    assert messages is not None, response
    (answer,) = messages
    assert answer.get("statusCode") == "0", answer.get("statusMessage")
    return answer.tag, answer[0]


@pytest.mark.parametrize(
    ("payment_type", "paid_from", "qb_object"),
    [
        ("CHECK", "Checking", "Check"),
        ("CASH", "Checking", "Check"),
        ("CREDIT_CARD", "Company Visa", "CreditCardCharge"),
    ],
)
def test_an_expense_lands_in_a_desktop_company_as_its_check_or_card_charge(
    company: CompanyFile, payment_type: str, paid_from: str, qb_object: str
) -> None:
    _ok(
        company,
        "<AccountAddRq><AccountAdd><Name>Company Visa</Name>"
        "<AccountType>CreditCard</AccountType></AccountAdd></AccountAddRq>",
    )
    _ok(
        company,
        "<AccountAddRq><AccountAdd><Name>Freight</Name>"
        "<AccountType>Expense</AccountType></AccountAdd></AccountAddRq>",
    )
    _tag, vendor = _ok(
        company, "<VendorAddRq><VendorAdd><Name>Midwest Duct</Name></VendorAdd></VendorAddRq>"
    )
    _tag, job = _ok(
        company, "<CustomerAddRq><CustomerAdd><Name>Patel</Name></CustomerAdd></CustomerAddRq>"
    )
    ids = {"vendor": vendor.findtext("ListID"), "customer": job.findtext("ListID")}

    def resolve(entity: str, source_id: str) -> Mapping | None:
        qb_id = ids.get(entity)
        return Mapping("acme-hvac", entity, source_id, qb_id, "1", None) if qb_id else None

    event = example(
        "expense.upserted",
        payment_type=payment_type,
        paid_from={"id": None, "full_name": paid_from},
        item_lines=[],
        total="42.10",
    )
    command = plan(event, Context("p-1", None, {}, resolve), command_id="c-1", now=NOW)
    assert isinstance(command, Command), command
    tag, landed = _ok(company, command.request_xml)
    assert tag == f"{qb_object}AddRs"
    assert landed.findtext("AccountRef/FullName") == paid_from
    assert landed.findtext("PayeeEntityRef/ListID") == ids["vendor"]
    assert (landed.findtext("RefNumber"), landed.findtext("TxnDate")) == ("V-88213", "2026-03-04")
    assert Decimal(landed.findtext("Amount") or "") == Decimal("42.10")
    (line,) = landed.findall("ExpenseLineRet")
    assert line.findtext("AccountRef/FullName") == "Freight"
    assert line.findtext("CustomerRef/ListID") == ids["customer"]
    assert line.findtext("BillableStatus") == "Billable"
