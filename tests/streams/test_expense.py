"""An expense paid at once through the planner into a QuickBooks Desktop company file (the
sandbox, both directions checked against Intuit's XSD): a check, a cash purchase and a card
charge land with their account, payee, lines and the total QuickBooks adds up."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.sandbox import CompanyFile
from connectors.store import Mapping
from core.messages import Command
from streams.translate import Context, plan
from tests.connectors.sandbox.qbxml_text import Sender, customer_add, rq
from tests.streams._events import NOW, example


@pytest.fixture
def qb(tmp_path: Path, qbxml_reference: Path) -> Iterator[Sender]:
    """The company file, its requests and answers checked against Intuit's XSD."""
    file = CompanyFile(tmp_path / "company.db", validate_with=qbxml_reference)
    yield Sender(file, qbxml_reference)
    file.close()


@pytest.mark.parametrize(
    ("payment_type", "paid_from", "qb_object"),
    [
        ("CHECK", "Checking", "Check"),
        ("CASH", "Checking", "Check"),
        ("CREDIT_CARD", "Company Visa", "CreditCardCharge"),
    ],
)
def test_an_expense_lands_in_a_desktop_company_as_its_check_or_card_charge(
    qb: Sender, payment_type: str, paid_from: str, qb_object: str
) -> None:
    qb.ok(rq("AccountAdd", "<Name>Company Visa</Name><AccountType>CreditCard</AccountType>"))
    qb.ok(rq("AccountAdd", "<Name>Freight</Name><AccountType>Expense</AccountType>"))
    vendor = qb.ok(rq("VendorAdd", "<Name>Midwest Duct</Name>"))
    job = qb.ok(customer_add("Patel"))
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
    landed = qb.ok(command.request_xml)
    assert landed.tag == f"{qb_object}Ret"
    assert landed.findtext("AccountRef/FullName") == paid_from
    assert landed.findtext("PayeeEntityRef/ListID") == ids["vendor"]
    assert (landed.findtext("RefNumber"), landed.findtext("TxnDate")) == ("V-88213", "2026-03-04")
    assert Decimal(landed.findtext("Amount") or "") == Decimal("42.10")
    (line,) = landed.findall("ExpenseLineRet")
    assert line.findtext("AccountRef/FullName") == "Freight"
    assert line.findtext("CustomerRef/ListID") == ids["customer"]
    assert line.findtext("BillableStatus") == "Billable"
