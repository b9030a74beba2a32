"""More entities in the QBO column of the rules (issue 19, second step): payments, items,
vendors, employees, and the issue's rules for them. Pure planner tests: no I/O."""

from __future__ import annotations

import uuid
from typing import Any

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.store import Mapping
from core.messages import Command
from streams.translate import Context, Rejection, Skip, Waiting, nothing_known, plan
from tests.streams._events import NOW, example, knows_everything


def planned(event: dict[str, Any], context: Context) -> Any:
    return plan(event, context, command_id=str(uuid.uuid4()), now=NOW)


def qbo_of(command: Any) -> QboEntityRequest:
    assert isinstance(command, Command), command
    return QboEntityRequest.from_avro(command.qbo.to_avro())


def two_invoices() -> dict[str, Any]:
    return example(
        "payment.upserted",
        amount="900.00",
        deposit_to=None,
        applied_to=[
            {"transaction": {"id": "inv-1"}, "amount": "614.00"},
            {"transaction": {"id": "inv-2"}, "amount": "286.00"},
        ],
    )


def test_a_payment_for_several_invoices_is_one_payment_with_a_line_each() -> None:
    request = qbo_of(
        planned(two_invoices(), Context("p-1", None, {}, resolve=knows_everything, api="qbo"))
    )
    assert (request.operation, request.entity) == (QboOperation.CREATE, "Payment")
    assert request.body["TotalAmt"] == 900.0
    assert request.body["CustomerRef"] == {"value": "ID-customer-cus-1042"}
    assert request.body["Line"] == [
        {"Amount": 614.0, "LinkedTxn": [{"TxnId": "ID-invoice-inv-1", "TxnType": "Invoice"}]},
        {"Amount": 286.0, "LinkedTxn": [{"TxnId": "ID-invoice-inv-2", "TxnType": "Invoice"}]},
    ]


def test_a_payment_waits_while_any_of_its_invoices_is_missing_in_qbo() -> None:
    def all_but_inv_2(entity: str, external_id: str) -> Mapping | None:
        return None if external_id == "inv-2" else knows_everything(entity, external_id)

    outcome = planned(two_invoices(), Context("p-1", None, {}, resolve=all_but_inv_2, api="qbo"))
    assert isinstance(outcome, Waiting)
    assert outcome.on == ("invoice:inv-2",)


def test_a_payment_deposits_to_undeposited_funds_unless_configured() -> None:
    context = Context("p-1", None, {}, resolve=knows_everything, api="qbo")
    default = qbo_of(planned(two_invoices(), context))
    # No account: QBO puts the payment in Undeposited Funds.
    assert "DepositToAccountRef" not in default.body
    configured = Context(
        "p-1",
        None,
        {"deposit_to": "account", "deposit_account": "Operating Checking"},
        resolve=knows_everything,
        api="qbo",
    )
    assert qbo_of(planned(two_invoices(), configured)).body["DepositToAccountRef"] == {
        "name": "Operating Checking"
    }


def test_a_synced_payment_is_not_updated_only_resent_if_missing() -> None:
    mapping = Mapping("acme-hvac", "payment", "pmt-5120", "77", "0", None)
    request = qbo_of(
        planned(two_invoices(), Context("p-1", mapping, {}, resolve=knows_everything, api="qbo"))
    )
    # Read by Id first (the sender): present, nothing written; missing, created again.
    assert (request.operation, request.body["Id"]) == (QboOperation.ENSURE, "77")
    assert "SyncToken" not in request.body
    assert request.body["TotalAmt"] == 900.0


def test_a_vendor_is_a_create_with_its_display_name_and_address() -> None:
    request = qbo_of(planned(example("vendor.upserted"), Context("p-1", None, {}, api="qbo")))
    assert (request.operation, request.entity) == (QboOperation.CREATE, "Vendor")
    assert request.body["DisplayName"] == "Midwest Duct Supply"
    assert request.body["BillAddr"]["City"] == "Joliet"
    assert request.body["PrimaryEmailAddr"] == {"Address": "orders@mwduct.example"}
    assert request.body["Vendor1099"] is False


def test_an_employee_is_a_create_named_like_desktop() -> None:
    event = example("employee.upserted", first_name="Ada", last_name="Lovelace")
    request = qbo_of(planned(event, Context("p-1", None, {}, api="qbo")))
    assert (request.operation, request.entity) == (QboOperation.CREATE, "Employee")
    assert (request.body["GivenName"], request.body["FamilyName"]) == ("Ada", "Lovelace")
    assert "Lovelace" in request.body["DisplayName"]


def test_an_item_has_qbo_type_and_waits_for_its_income_account() -> None:
    event = example("item.upserted", income_account={"id": "acc-9"})
    waiting = planned(event, Context("p-1", None, {}, resolve=nothing_known, api="qbo"))
    assert isinstance(waiting, Waiting)
    assert waiting.on == ("account:acc-9",)
    request = qbo_of(planned(event, Context("p-1", None, {}, resolve=knows_everything, api="qbo")))
    assert (request.entity, request.body["Type"]) == ("Item", "Service")
    assert request.body["Name"] == "RTU service call"
    assert request.body["UnitPrice"] == 185.0
    assert request.body["IncomeAccountRef"] == {"value": "ID-account-acc-9"}


def time_entry(minutes: int) -> dict[str, Any]:
    return example("time_entry.upserted", duration_minutes=minutes)


def test_a_time_entry_is_a_time_activity_in_hours_and_minutes() -> None:
    context = Context("p-1", None, {}, resolve=knows_everything, api="qbo")
    request = qbo_of(planned(time_entry(150), context))
    assert (request.operation, request.entity) == (QboOperation.CREATE, "TimeActivity")
    assert request.body["NameOf"] == "Employee"
    assert request.body["EmployeeRef"] == {"value": "ID-employee-usr-31"}
    assert (request.body["Hours"], request.body["Minutes"]) == (2, 30)
    assert request.body["TxnDate"] == "2026-03-02"
    assert request.body["BillableStatus"] == "Billable"


def test_a_1099_workers_time_goes_to_the_vendor() -> None:
    def as_vendor(entity: str, external_id: str) -> Mapping | None:
        return None if entity == "employee" else knows_everything(entity, external_id)

    request = qbo_of(
        planned(time_entry(60), Context("p-1", None, {}, resolve=as_vendor, api="qbo"))
    )
    assert request.body["NameOf"] == "Vendor"
    assert request.body["VendorRef"] == {"value": "ID-vendor-usr-31"}
    assert "EmployeeRef" not in request.body


def test_time_rules_negative_hours_more_than_a_day_and_never_resent() -> None:
    context = Context("p-1", None, {}, resolve=knows_everything, api="qbo")
    negative = planned(time_entry(-30), context)
    assert isinstance(negative, Skip)
    assert negative.reason == "negative hours are not sent to QuickBooks Online"

    too_long = planned(time_entry(24 * 60 + 1), context)
    assert isinstance(too_long, Rejection)
    assert too_long.code == "refused-by-rule"
    assert "more than 24 hours" in too_long.reason
    assert "duration_minutes" in too_long.reason
    assert isinstance(qbo_of(planned(time_entry(24 * 60), context)), QboEntityRequest)

    mapping = Mapping("acme-hvac", "time_entry", "te-44120", "91", "0", None)
    synced = planned(
        time_entry(90), Context("p-1", mapping, {}, resolve=knows_everything, api="qbo")
    )
    assert isinstance(synced, Skip)
    assert synced.code == "synced-once"
