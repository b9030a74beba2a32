"""The issue's QBO rules as data in the rules' QBO column (issue 19, third step): only
approved time entries; drafts and $0 invoices withheld unless a discount or retainer brings
the total to zero; transactions carry the checks only the company can answer (start date,
a worker's day) for the sender. Pure planner tests: no I/O."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.qbo import PROJECT_INCOME_ACCOUNT, PROJECT_ITEMS, QboEntityRequest, QboOperation
from connectors.store import Mapping
from core.messages import Command
from streams.translate import Context, Skip, plan
from tests.streams._events import NOW, example, knows_everything

QBO = Context("p-1", None, {}, resolve=knows_everything, api="qbo")
DESKTOP = Context("p-1", None, {}, resolve=knows_everything)


def planned(event: dict[str, Any], context: Context = QBO) -> Any:
    return plan(event, context, command_id=str(uuid.uuid4()), now=NOW)


def qbo_of(command: Any) -> QboEntityRequest:
    assert isinstance(command, Command), command
    assert command.qbo is not None
    return QboEntityRequest.from_avro(command.qbo.to_avro())


@pytest.mark.parametrize("approval", ["PENDING", "REJECTED"])
def test_a_time_entry_not_approved_is_not_sent(approval: str) -> None:
    outcome = planned(example("time_entry.upserted", approval=approval))
    assert isinstance(outcome, Skip)
    assert outcome.code == "not-sendable"
    assert f"approval is {approval}" in outcome.reason


def test_an_approved_time_entry_carries_the_start_date_and_day_limit_checks() -> None:
    request = qbo_of(planned(example("time_entry.upserted", approval="APPROVED")))
    assert request.entity == "TimeActivity"
    assert request.checks == ("start-date", "day-limit")


def test_an_event_without_approval_reads_as_approved() -> None:
    event = example("time_entry.upserted")
    del event["time_entry"]["approval"]
    assert qbo_of(planned(event)).entity == "TimeActivity"


def _lines(*amounts: str) -> list[dict[str, Any]]:
    return [
        {"line_id": f"l{n}", "item": {"id": "itm-55"}, "description": "x", "amount": a}
        for n, a in enumerate(amounts)
    ]


def test_a_zero_invoice_is_withheld_but_one_zeroed_by_a_discount_is_sent() -> None:
    zero = planned(example("invoice.upserted", lines=_lines("0.00")))
    assert isinstance(zero, Skip)
    assert "$0 invoices" in zero.reason
    discounted = qbo_of(planned(example("invoice.upserted", lines=_lines("250.00", "-250.00"))))
    assert [line["Amount"] for line in discounted.body["Line"]] == [250.0, -250.0]
    assert discounted.checks == ("start-date", "names", "project-items")
    # Desktop keeps its own rule (the rule's skip): a $0 invoice is never sent there.
    assert isinstance(
        planned(example("invoice.upserted", lines=_lines("250.00", "-250.00")), DESKTOP), Skip
    )


def test_a_draft_invoice_is_not_sent_to_qbo() -> None:
    outcome = planned(example("invoice.upserted", status="DRAFT"))
    assert isinstance(outcome, Skip)
    assert "drafts are not sent" in outcome.reason


def test_a_payment_carries_the_start_date_and_names_checks_and_a_list_none() -> None:
    payment = example(
        "payment.upserted",
        applied_to=[{"transaction": {"id": "inv-1"}, "amount": "10.00"}],
        amount="10.00",
    )
    # The start date, and its references by name (a configured deposit account) as Ids.
    assert qbo_of(planned(payment)).checks == ("start-date", "names")
    assert qbo_of(planned(example("customer.upserted"))).checks == ()


def test_a_bill_has_account_and_item_lines_and_is_resent_only_if_missing() -> None:
    request = qbo_of(planned(example("bill.upserted")))
    assert (request.entity, request.checks) == ("Bill", ("start-date", "names"))
    assert request.body["VendorRef"] == {"value": "ID-vendor-ven-301"}
    assert (request.body["DocNumber"], request.body["TxnDate"]) == ("MW-55102", "2026-03-03")
    expense, item = request.body["Line"]
    assert expense["DetailType"] == "AccountBasedExpenseLineDetail"
    assert expense["AccountBasedExpenseLineDetail"] == {
        "AccountRef": {"name": "Freight"},
        "CustomerRef": {"value": "ID-customer-prj-220"},
        "BillableStatus": "Billable",
    }
    assert expense["Amount"] == 42.1
    assert item["ItemBasedExpenseLineDetail"]["ItemRef"] == {"name": "Duct:Flex 8in"}
    assert (item["ItemBasedExpenseLineDetail"]["Qty"], item["Amount"]) == (6, 232.5)
    synced = Mapping("acme-hvac", "bill", "bil-7781", "91", "0", None)
    again = planned(
        example("bill.upserted"), Context("p-1", synced, {}, resolve=knows_everything, api="qbo")
    )
    resent = qbo_of(again)
    assert (resent.operation, resent.body["Id"]) == (QboOperation.ENSURE, "91")
    assert resent.checks == ("start-date", "names")


@pytest.mark.parametrize(
    ("payment_type", "paid_by"),
    [("CHECK", "Check"), ("CASH", "Cash"), ("CREDIT_CARD", "CreditCard")],
)
def test_an_expense_is_a_purchase_paid_from_its_account_and_resent_only_if_missing(
    payment_type: str, paid_by: str
) -> None:
    request = qbo_of(planned(example("expense.upserted", payment_type=payment_type)))
    assert (request.entity, request.checks) == ("Purchase", ("start-date", "names"))
    assert request.body["PaymentType"] == paid_by
    assert request.body["AccountRef"] == {"name": "Company Visa"}
    assert request.body["EntityRef"] == {"value": "ID-vendor-ven-301", "type": "Vendor"}
    assert (request.body["DocNumber"], request.body["TxnDate"]) == ("V-88213", "2026-03-04")
    expense, item = request.body["Line"]
    assert expense["AccountBasedExpenseLineDetail"]["AccountRef"] == {"name": "Freight"}
    assert item["ItemBasedExpenseLineDetail"]["UnitPrice"] == 38.75
    synced = Mapping("acme-hvac", "expense", "exp-5120", "44", "0", None)
    again = planned(
        example("expense.upserted"),
        Context("p-1", synced, {}, resolve=knows_everything, api="qbo"),
    )
    assert (qbo_of(again).operation, qbo_of(again).body["Id"]) == (QboOperation.ENSURE, "44")


def test_an_employee_reimbursed_is_the_purchases_employee_entity() -> None:
    def employees_only(entity: str, external_id: str) -> Mapping | None:
        return knows_everything(entity, external_id) if entity != "vendor" else None

    event = example("expense.upserted", payee={"id": "usr-31", "full_name": None})
    context = Context("p-1", None, {}, resolve=employees_only, api="qbo")
    request = qbo_of(planned(event, context))
    assert request.body["EntityRef"] == {"value": "ID-employee-usr-31", "type": "Employee"}


def test_a_projects_income_account_rides_beside_each_line_item() -> None:
    """The planner decides: the lines of a project with its own income account name it
    beside their item (the sender re-points them at the per-project item); another
    customer's lines do not."""
    event = example("invoice.upserted", lines=_lines("250.00", "100.00"))
    project = event["invoice"]["customer"]["id"]
    settings = {"qbo_project_defaults": {project: {"income_account": "Clinic Income"}}}
    overridden = qbo_of(planned(event, Context("p-1", None, settings, knows_everything, api="qbo")))
    details = [line["SalesItemLineDetail"] for line in overridden.body["Line"]]
    assert [d[PROJECT_INCOME_ACCOUNT] for d in details] == ["Clinic Income", "Clinic Income"]
    assert all(d["ItemRef"] == {"value": "ID-item-itm-55"} for d in details)  # the base item
    assert PROJECT_ITEMS in overridden.checks
    other = {"qbo_project_defaults": {"j-other": {"income_account": "Clinic Income"}}}
    plain = qbo_of(planned(event, Context("p-1", None, other, knows_everything, api="qbo")))
    assert all(
        PROJECT_INCOME_ACCOUNT not in line["SalesItemLineDetail"] for line in plain.body["Line"]
    )
