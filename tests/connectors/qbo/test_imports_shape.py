"""QBO records read back become the Desktop import's qbXML-shaped fields, which the
worker's shapes (``streams.two_way.from_quickbooks``) turn into app records: pure, no I/O."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.qbo import READABLE, ReaderConfig, as_imported
from streams.two_way.from_quickbooks import app_records

KNOWN = {("customer", "7"): "c-7", ("invoice", "130"): "inv-1", ("invoice", "131"): "inv-2"}


def resolve(entity: str, qb_id: str | None) -> str | None:
    return KNOWN.get((entity, qb_id or ""))


def shaped(entity: str, record: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    found = as_imported(entity, record)
    assert found is not None
    return found


def test_a_customer_becomes_the_desktop_customer_shape() -> None:
    name, element, fields = shaped(
        "Customer",
        {
            "Id": "7",
            "SyncToken": "3",
            "DisplayName": "Hopper, Grace",
            "GivenName": "Grace",
            "FamilyName": "Hopper",
            "PrimaryEmailAddr": {"Address": "grace@example.com"},
            "BillAddr": {
                "Line1": "1 Navy Way",
                "City": "Arlington",
                "CountrySubDivisionCode": "VA",
            },
            "Active": True,
        },
    )
    assert (name, element, fields["ListID"], fields["EditSequence"]) == (
        "customer",
        "Customer",
        "7",
        "3",
    )
    (record,) = app_records(element, fields, resolve)
    assert record.entity == "customer"
    assert record.payload["first_name"] == "Grace"
    assert record.payload["email"] == "grace@example.com"
    assert record.payload["bill_address"]["city"] == "Arlington"
    assert record.payload["bill_address"]["state"] == "VA"
    assert record.is_active


def test_an_inactive_customer_and_a_sub_customer() -> None:
    _n, element, fields = shaped("Customer", {"Id": "8", "DisplayName": "Gone", "Active": False})
    (record,) = app_records(element, fields, resolve)
    assert not record.is_active
    _n, element, fields = shaped(
        "Customer",
        {"Id": "9", "DisplayName": "Roof", "Job": True, "ParentRef": {"value": "7"}},
    )
    (job,) = app_records(element, fields, resolve)
    assert job.entity == "job"
    assert job.payload["parent_customer"]["id"] == "c-7"


def test_an_invoice_says_how_much_is_paid() -> None:
    _n, element, fields = shaped(
        "Invoice",
        {"Id": "130", "DocNumber": "INV-1", "TotalAmt": 185.0, "Balance": 0, "SyncToken": "1"},
    )
    assert fields["TxnID"] == "130"
    (record,) = app_records(element, fields, resolve)
    assert record.payload["ref_number"] == "INV-1"
    assert record.payload["total"] == Decimal("185.00")
    assert record.payload["applied"] == Decimal("185.00")
    assert record.payload["is_paid"] is True


def test_a_payment_lists_the_invoices_it_pays() -> None:
    _n, element, fields = shaped(
        "Payment",
        {
            "Id": "140",
            "CustomerRef": {"value": "7"},
            "TotalAmt": 280.0,
            "TxnDate": "2026-03-20",
            "Line": [
                {"Amount": 185.0, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]},
                {"Amount": 95.0, "LinkedTxn": [{"TxnId": "131", "TxnType": "Invoice"}]},
            ],
        },
    )
    assert element == "ReceivePayment"
    (record,) = app_records(element, fields, resolve)
    assert record.entity == "payment"
    assert record.payload["amount"] == Decimal("280.00")
    assert [
        (line["transaction"]["id"], line["amount"]) for line in record.payload["applied_to"]
    ] == [("inv-1", Decimal("185.00")), ("inv-2", Decimal("95.00"))]
    assert record.refers_to_ours


def test_items_by_type_and_kinds_not_read_back() -> None:
    _n, element, fields = shaped(
        "Item", {"Id": "21", "Name": "Filter swap", "Type": "Service", "UnitPrice": 45}
    )
    assert element == "ItemService"
    item = next(r for r in app_records(element, fields, resolve) if r.entity == "item")
    assert (item.payload["name"], item.payload["price"]) == ("Filter swap", Decimal("45.00000"))
    assert item.payload["item_type"] == "SERVICE"
    assert as_imported("Item", {"Id": "22", "Name": "Bundle", "Type": "Group"}) is None
    assert as_imported("TaxCode", {"Id": "1"}) is None  # kept by Intuit, not read back


def test_the_reader_refuses_an_entity_it_cannot_read_back_by_name() -> None:
    with pytest.raises(ValueError, match="QBSYNC_QBO_READ_ENTITIES: cannot read 'TaxCode'"):
        ReaderConfig("imports", ("Customer", "TaxCode"))
    assert set(READABLE) >= {"Customer", "Vendor", "Employee", "Item", "Invoice", "Payment"}


def test_a_time_activity_is_the_apps_time_entry() -> None:
    known = {("employee", "55"): "emp-1", ("vendor", "56"): "emp-1099", ("job", "9"): "proj-9"}

    def by_id(entity: str, qb_id: str | None) -> str | None:
        return known.get((entity, qb_id or ""))

    name, element, fields = shaped(
        "TimeActivity",
        {
            "Id": "300",
            "SyncToken": "2",
            "TxnDate": "2026-11-20",
            "NameOf": "Employee",
            "EmployeeRef": {"value": "55", "name": "Ada Lovelace"},
            "CustomerRef": {"value": "9", "name": "Acme:Kitchen"},
            "ItemRef": {"value": "3", "name": "Labor"},
            "Hours": 7,
            "Minutes": 30,
            "BillableStatus": "Billable",
            "Description": "framing",
        },
    )
    assert (name, element, fields["TxnID"], fields["EditSequence"]) == (
        "time_tracking",
        "TimeTracking",
        "300",
        "2",
    )
    assert fields["Duration"] == "PT7H30M0S"
    (entry,) = app_records(element, fields, by_id, "qbo")
    assert entry.entity == "time_entry"
    assert entry.payload["employee"] == {"id": "emp-1", "full_name": "Ada Lovelace"}
    assert entry.payload["customer"] == {"id": "proj-9", "full_name": "Acme:Kitchen"}
    assert (entry.payload["duration_minutes"], entry.payload["is_billable"]) == (450, True)
    assert entry.payload["memo"] == "framing"

    # A 1099 worker's time, entered as start and end with a break.
    _n, _e, fields = shaped(
        "TimeActivity",
        {
            "Id": "301",
            "TxnDate": "2026-11-21",
            "NameOf": "Vendor",
            "VendorRef": {"value": "56", "name": "Babbage Contracting"},
            "StartTime": "2026-11-21T08:00:00-08:00",
            "EndTime": "2026-11-21T12:15:00-08:00",
            "BreakMinutes": 15,
            "BillableStatus": "NotBillable",
        },
    )
    assert fields["Duration"] == "PT4H0M0S"
    (entry,) = app_records("TimeTracking", fields, by_id, "qbo")
    assert entry.payload["employee"] == {"id": "emp-1099", "full_name": "Babbage Contracting"}
    assert (entry.payload["duration_minutes"], entry.payload["is_billable"]) == (240, False)


def test_a_credit_memo_is_a_negative_invoice_numbered_cm() -> None:
    name, element, fields = shaped(
        "CreditMemo",
        {
            "Id": "140",
            "SyncToken": "0",
            "DocNumber": "1007",
            "CustomerRef": {"value": "7", "name": "Hopper, Grace"},
            "TxnDate": "2026-03-04",
            "TotalAmt": 80.0,
            "RemainingCredit": 30.0,
        },
    )
    assert (name, element, fields["TxnID"], fields["RefNumber"]) == (
        "credit_memo",
        "CreditMemo",
        "140",
        "CM1007",
    )
    (record,) = app_records(element, fields, resolve)
    assert record.entity == "invoice"
    assert record.payload["ref_number"] == "CM1007"
    assert record.payload["total"] == Decimal("-80.00")
    assert record.payload["balance_remaining"] == Decimal("-30.00")
    assert record.payload["applied"] == Decimal("50.00")
    assert record.payload["is_paid"] is False


def test_an_estimate_becomes_the_apps_estimate_with_its_item_lines() -> None:
    name, element, fields = shaped(
        "Estimate",
        {
            "Id": "150",
            "SyncToken": "2",
            "DocNumber": "1009",
            "CustomerRef": {"value": "7", "name": "Hopper, Grace"},
            "TxnDate": "2026-03-05",
            "ExpirationDate": "2026-04-05",
            "TxnStatus": "Accepted",
            "Line": [
                {
                    "Id": "1",
                    "Amount": 370.0,
                    "Description": "Two filters",
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {"ItemRef": {"value": "9"}, "Qty": 2, "UnitPrice": 185},
                },
                {"Amount": 370.0, "DetailType": "SubTotalLineDetail"},
            ],
        },
    )
    assert (name, element, fields["TxnID"]) == ("estimate", "Estimate", "150")
    (record,) = app_records(element, fields, resolve)
    assert record.entity == "estimate"
    payload = record.payload
    assert payload["customer"] == {"id": "c-7", "full_name": "Hopper, Grace"}
    assert (payload["ref_number"], payload["status"]) == ("1009", "APPROVED")
    (line,) = payload["lines"]  # the subtotal is no line of the app's estimate
    assert (line["quantity"], line["rate"], line["amount"]) == (
        Decimal("2.00000"),
        Decimal("185.00000"),
        Decimal("370.00"),
    )
    assert line["description"] == "Two filters"


def test_a_bill_entered_in_qbo_becomes_the_apps_bill_with_its_job_costs() -> None:
    KNOWN[("vendor", "12")] = "v-1"
    _name, element, fields = shaped(
        "Bill",
        {
            "Id": "40",
            "SyncToken": "0",
            "VendorRef": {"value": "12", "name": "Midwest Duct"},
            "DocNumber": "MD-88",
            "TxnDate": "2026-03-03",
            "Balance": 0,
            "Line": [
                {
                    "Id": "1",
                    "Amount": 42.1,
                    "Description": "Freight",
                    "DetailType": "AccountBasedExpenseLineDetail",
                    "AccountBasedExpenseLineDetail": {
                        "AccountRef": {"value": "9", "name": "Freight In"},
                        "CustomerRef": {"value": "7", "name": "Hopper, Grace"},
                        "BillableStatus": "Billable",
                    },
                },
                {
                    "Id": "2",
                    "Amount": 120,
                    "DetailType": "ItemBasedExpenseLineDetail",
                    "ItemBasedExpenseLineDetail": {
                        "ItemRef": {"value": "1", "name": "Services"},
                        "Qty": 2,
                        "UnitPrice": 60,
                        "BillableStatus": "NotBillable",
                    },
                },
            ],
        },
    )
    (record,) = app_records(element, fields, resolve)
    bill = record.payload
    assert (record.entity, bill["vendor"]["id"], bill["ref_number"]) == ("bill", "v-1", "MD-88")
    assert bill["status"] == "PAID"  # nothing left to pay
    (expense,) = bill["expense_lines"]
    assert (expense["account"]["full_name"], expense["amount"]) == ("Freight In", Decimal("42.10"))
    assert (expense["customer"]["id"], expense["is_billable"]) == ("c-7", True)
    (item,) = bill["item_lines"]
    assert (item["quantity"], item["cost"], item["is_billable"]) == (
        Decimal("2.00000"),
        Decimal("60.00000"),
        False,
    )


@pytest.mark.parametrize(
    ("paid_with", "expected"), [("Check", "CHECK"), ("CreditCard", "CREDIT_CARD")]
)
def test_a_purchase_is_an_expense_paid_at_once(paid_with: str, expected: str) -> None:
    _name, element, fields = shaped(
        "Purchase",
        {
            "Id": "50",
            "SyncToken": "1",
            "PaymentType": paid_with,
            "AccountRef": {"value": "3", "name": "Checking"},
            "TxnDate": "2026-03-09",
            "TotalAmt": 84.5,
            "Line": [],
        },
    )
    assert element == {"Check": "Check", "CreditCard": "CreditCardCharge"}[paid_with]
    (record,) = app_records(element, fields, resolve)
    assert (record.entity, record.payload["payment_type"]) == ("expense", expected)
    assert record.payload["total"] == Decimal("84.50")
    assert record.payload["paid_from"]["full_name"] == "Checking"
