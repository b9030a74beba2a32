from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import (
    ENTITIES,
    NEW_LINE,
    REQUESTS,
    FieldError,
    build,
    build_deactivation,
    build_message,
    build_request,
    parse_xml,
)
from connectors.qbxml._build import render
from tests.connectors.qbxml.samples import max_branches, maximal
from tests.support.xsd import assert_valid_qbxml

FULL_CUSTOMER = {
    "Name": "Lovelace & Sons",
    "IsActive": True,
    "CompanyName": "Lovelace & Sons <Ltd>",
    "Salutation": "Ms.",
    "FirstName": "Ada",
    "MiddleName": "K",
    "LastName": "Lovelace",
    "JobTitle": "Owner",
    "BillAddress": {"Addr1": "1 Main St", "City": "London", "State": "LDN", "PostalCode": "N1"},
    "ShipAddress": {"Addr1": "2 Side St", "Country": "UK"},
    "Phone": "555-0100",
    "Email": "ada@example.com",
    "TermsRef": {"FullName": "Net 30"},
    "SalesTaxCodeRef": {"FullName": "Tax"},
}

INVOICE = {
    "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
    "TxnDate": date(2024, 5, 1),
    "RefNumber": "1001",
    "IsToBePrinted": True,
    "Memo": "May progress billing",
    "InvoiceLineAdd": [
        {
            "ItemRef": {"FullName": "Labor"},
            "Desc": "Framing",
            "Quantity": Decimal("12"),
            "Rate": Decimal("85.00"),
            "Amount": Decimal("1020.00"),
            "ClassRef": {"FullName": "Remodel"},
        },
        {"ItemRef": {"ListID": "80000002-1700000000"}, "Amount": Decimal("250.00")},
        {"ItemRef": {"FullName": "Permit"}, "Desc": "City permit", "Amount": Decimal("150")},
    ],
}


def _valid(reference: Path, *requests: str, version: str = "13.0") -> None:
    message = build_message([(str(i), r) for i, r in enumerate(requests, 1)], version=version)
    assert_valid_qbxml(message, reference, version)


def _body(request_xml: str) -> Any:
    root = parse_xml(request_xml)
    return root[0] if len(root) and root[0].tag.endswith(("Add", "Mod")) else root


# -- the whole table against the schema ------------------------------------------------------

CASES = [
    pytest.param(name, branch, id=f"{name}-{branch}")
    for name, request in REQUESTS.items()
    for branch in range(max_branches(request.body))
]


@pytest.mark.parametrize(("name", "branch"), CASES)
def test_every_element_of_every_request_is_valid(
    qbxml_reference: Path, name: str, branch: int
) -> None:
    """Every element QuickBooks Desktop supports, at its maximum length, each choice's
    ``branch``: valid against 16.0 as built, and against 13.0 once the message has left out
    what 13.0 does not know. Both build paths give the same text."""
    request = REQUESTS[name]
    values = maximal(request.body, branch)
    built = render(request, values)
    assert built == render(request, values, fast=False)
    assert not built.warnings
    _valid(qbxml_reference, built.xml, version="16.0")
    _valid(qbxml_reference, built.xml, version="13.0")


def test_the_schema_check_itself_catches_order_and_length(qbxml_reference: Path) -> None:
    """The validator used above is not a rubber stamp."""
    good = build_request("customer", "Add", {"Name": "Ada", "CompanyName": "Engines"})
    swapped = good.replace("<Name>Ada</Name>", "").replace(
        "</CompanyName>", "</CompanyName><Name>Ada</Name>"
    )
    with pytest.raises(AssertionError, match="invalid against qbXML"):
        _valid(qbxml_reference, swapped)
    too_long = good.replace("<Name>Ada</Name>", f"<Name>{'x' * 42}</Name>")
    with pytest.raises(AssertionError, match="invalid against qbXML"):
        _valid(qbxml_reference, too_long)


# -- each entity, as the pipeline uses it ------------------------------------------------------


@pytest.mark.parametrize("version", ["13.0", "16.0"])
def test_customer_add_and_mod_are_valid_against_intuits_schema(
    qbxml_reference: Path, version: str
) -> None:
    add = build_request("customer", "Add", FULL_CUSTOMER)
    mod = build_request(
        "customer", "Mod", FULL_CUSTOMER, qb_id="80000001-1700000000", edit_sequence="1700000000"
    )
    _valid(qbxml_reference, add, mod, version=version)


def test_values_come_out_in_schema_order_whatever_order_they_come_in(
    qbxml_reference: Path,
) -> None:
    shuffled = dict(reversed(list(FULL_CUSTOMER.items())))
    assert build_request("customer", "Add", shuffled) == build_request(
        "customer", "Add", FULL_CUSTOMER
    )
    lines = [dict(reversed(list(line.items()))) for line in INVOICE["InvoiceLineAdd"]]  # type: ignore[attr-defined]
    reordered = {**dict(reversed(list(INVOICE.items()))), "InvoiceLineAdd": lines}
    assert build_request("invoice", "Add", reordered) == build_request("invoice", "Add", INVOICE)
    _valid(qbxml_reference, build_request("invoice", "Add", reordered))


def test_a_job_is_a_customer_with_a_parent(qbxml_reference: Path) -> None:
    job = build_request(
        "job",
        "Add",
        {
            "Name": "Kitchen remodel",
            "ParentRef": {"FullName": "Lovelace & Sons"},
            "JobStatus": "InProgress",
            "JobStartDate": date(2024, 4, 1),
            "SalesRepRef": {"FullName": "AL"},
            "ClassRef": {"FullName": "Remodel"},
        },
    )
    assert _body(job).findtext("ParentRef/FullName") == "Lovelace & Sons"
    _valid(qbxml_reference, job)
    with pytest.raises(FieldError, match="CustomerAdd/ParentRef: a job needs ParentRef"):
        build_request("job", "Add", {"Name": "Orphan"})


def test_people_and_items(qbxml_reference: Path) -> None:
    income = {"FullName": "Construction Income"}
    requests = [
        build_request(
            "employee",
            "Add",
            {"FirstName": "Grace", "LastName": "Hopper", "Email": "g@example.com"},
        ),
        build_request(
            "sales_rep",
            "Add",
            {"Initial": "GH", "SalesRepEntityRef": {"FullName": "Grace Hopper"}},
        ),
        build_request(
            "vendor",
            "Add",
            {
                "Name": "Babbage Drywall",
                "CompanyName": "Babbage Drywall LLC",
                "VendorAddress": {"Addr1": "9 Mill Rd", "City": "Leeds"},
                "TermsRef": {"FullName": "Net 15"},
                "IsVendorEligibleFor1099": True,
            },
        ),
        build_request(
            "item_service",
            "Add",
            {
                "Name": "Labor",
                "SalesOrPurchase": {"Price": Decimal("85.00"), "AccountRef": income},
            },
        ),
        build_request(
            "item_non_inventory",
            "Add",
            {
                "Name": "Lumber",
                "SalesAndPurchase": {
                    "SalesPrice": Decimal("6.25"),
                    "IncomeAccountRef": income,
                    "PurchaseCost": Decimal("4.10"),
                    "ExpenseAccountRef": {"FullName": "Job Materials"},
                },
            },
        ),
        build_request(
            "item_inventory",
            "Add",
            {
                "Name": "Door",
                "IncomeAccountRef": income,
                "COGSAccountRef": {"FullName": "Cost of Goods Sold"},
                "AssetAccountRef": {"FullName": "Inventory Asset"},
                "SalesPrice": Decimal("199.99"),
            },
        ),
        build_request(
            "item_other_charge",
            "Add",
            {
                "Name": "Retainage",
                "SalesOrPurchase": {
                    "PricePercent": Decimal("-10"),
                    "AccountRef": {"FullName": "Retainage Payable"},
                },
            },
        ),
    ]
    _valid(qbxml_reference, *requests)


def test_sales_transactions(qbxml_reference: Path) -> None:
    line = {"ItemRef": {"FullName": "Labor"}, "Quantity": Decimal("2"), "Rate": Decimal("85")}
    requests = [
        build_request("invoice", "Add", INVOICE),
        build_request(
            "credit_memo",
            "Add",
            {
                "CustomerRef": {"FullName": "Lovelace & Sons"},
                "RefNumber": "CM-7",
                "CreditMemoLineAdd": [{**line, "Amount": Decimal("170.00")}],
            },
        ),
        build_request(
            "estimate",
            "Add",
            {
                "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
                "EstimateLineAdd": [line, {"ItemRef": {"FullName": "Permit"}}],
            },
        ),
    ]
    _valid(qbxml_reference, *requests)


def test_a_payment_applied_to_several_invoices(qbxml_reference: Path) -> None:
    payment = build_request(
        "receive_payment",
        "Add",
        {
            "CustomerRef": {"FullName": "Lovelace & Sons"},
            "ARAccountRef": {"FullName": "Accounts Receivable"},
            "TxnDate": date(2024, 5, 20),
            "RefNumber": "CHK 4411",
            "TotalAmount": Decimal("1420.00"),
            "PaymentMethodRef": {"FullName": "Check"},
            "DepositToAccountRef": {"FullName": "Undeposited Funds"},
            "AppliedToTxnAdd": [
                {"TxnID": "1F-1700000000", "PaymentAmount": Decimal("1020.00")},
                {"TxnID": "20-1700000000", "PaymentAmount": Decimal("400.00")},
            ],
        },
    )
    body = _body(payment)
    assert [e.findtext("PaymentAmount") for e in body.findall("AppliedToTxnAdd")] == [
        "1020.00",
        "400.00",
    ]
    _valid(qbxml_reference, payment)
    with pytest.raises(FieldError, match="one of AppliedToTxnAdd or IsAutoApply is required"):
        build_request("receive_payment", "Add", {"CustomerRef": {"FullName": "A"}})


def test_purchases_and_time(qbxml_reference: Path) -> None:
    requests = [
        build_request(
            "bill",
            "Add",
            {
                "VendorRef": {"FullName": "Babbage Drywall"},
                "TxnDate": date(2024, 5, 3),
                "DueDate": date(2024, 5, 18),
                "RefNumber": "B-2024-0503",
                "ExpenseLineAdd": [
                    {
                        "AccountRef": {"FullName": "Job Materials"},
                        "Amount": Decimal("310.40"),
                        "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
                        "BillableStatus": "Billable",
                    }
                ],
                "ItemLineAdd": [{"ItemRef": {"FullName": "Lumber"}, "Cost": Decimal("4.10")}],
            },
        ),
        build_request(
            "vendor_credit",
            "Add",
            {
                "VendorRef": {"FullName": "Babbage Drywall"},
                "ExpenseLineAdd": [
                    {"AccountRef": {"FullName": "Job Materials"}, "Amount": Decimal("20.00")}
                ],
            },
        ),
        build_request(
            "time_tracking",
            "Add",
            {
                "TxnDate": date(2024, 5, 2),
                "EntityRef": {"FullName": "Grace Hopper"},
                "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
                "ItemServiceRef": {"FullName": "Labor"},
                "Duration": timedelta(hours=7, minutes=30),
                "BillableStatus": "Billable",
                "Notes": "Framing",
            },
        ),
    ]
    assert _body(requests[2]).findtext("Duration") == "PT7H30M0S"
    _valid(qbxml_reference, *requests)


# -- Procore's commitments and subcontractor invoices (docs/qbxml.md) --------------------------


def test_a_commitment_becomes_a_purchase_order(qbxml_reference: Path) -> None:
    request = build_request(
        "commitment",
        "Add",
        {
            "VendorRef": {"FullName": "Babbage Drywall"},
            "RefNumber": "SC-0042",
            "TxnDate": date(2024, 3, 1),
            "Memo": "Subcontract SC-0042: drywall, retainage 10%",
            "PurchaseOrderLineAdd": [
                {
                    "ItemRef": {"FullName": "09-2900 Gypsum Board"},
                    "Desc": "Hang and finish, levels 1-2",
                    "Amount": Decimal("48000.00"),
                    "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
                },
                {
                    "ItemRef": {"FullName": "09-9100 Painting"},
                    "Amount": Decimal("12000.00"),
                    "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen"},
                },
            ],
        },
    )
    assert request.startswith("<PurchaseOrderAddRq><PurchaseOrderAdd>")
    _valid(qbxml_reference, request)


def test_a_subcontractor_invoice_becomes_a_bill_with_retainage_held_back(
    qbxml_reference: Path,
) -> None:
    job = {"FullName": "Lovelace & Sons:Kitchen"}
    request = build_request(
        "subcontractor_invoice",
        "Add",
        {
            "VendorRef": {"FullName": "Babbage Drywall"},
            "RefNumber": "PAY-APP-3",
            "TxnDate": date(2024, 5, 31),
            "Memo": "Procore SC-0042, pay application 3",
            "ItemLineAdd": [
                {
                    "ItemRef": {"FullName": "09-2900 Gypsum Board"},
                    "Amount": Decimal("12000.00"),
                    "CustomerRef": job,
                    "LinkToTxn": {"TxnID": "3A-1700000000", "TxnLineID": "3C-1700000000"},
                },
                {
                    "ItemRef": {"FullName": "Retainage"},
                    "Desc": "Retainage held, 10%",
                    "Amount": Decimal("-1200.00"),
                    "CustomerRef": job,
                    "BillableStatus": "NotBillable",
                },
            ],
        },
    )
    amounts = [e.findtext("Amount") for e in _body(request).findall("ItemLineAdd")]
    assert amounts == ["12000.00", "-1200.00"]
    _valid(qbxml_reference, request)


# -- Mods, lines, deactivation -------------------------------------------------------------------


def test_mod_starts_with_list_id_and_edit_sequence() -> None:
    mod = parse_xml(build_request("customer", "Mod", {"Name": "X"}, qb_id="1-2", edit_sequence="9"))
    body = mod.find("CustomerMod")
    assert body is not None
    assert [child.tag for child in body][:3] == ["ListID", "EditSequence", "Name"]
    assert body.findtext("EditSequence") == "9"


def test_invoice_mod_keeps_existing_lines_and_adds_new_ones(qbxml_reference: Path) -> None:
    mod = build_request(
        "invoice",
        "Mod",
        {
            "Memo": "Revised",
            "InvoiceLineMod": [
                {"TxnLineID": "2A-1700000000", "Amount": Decimal("1100.00")},
                {"TxnLineID": NEW_LINE, "ItemRef": {"FullName": "Permit"}, "Amount": Decimal("75")},
            ],
        },
        qb_id="1F-1700000000",
        edit_sequence="1700000001",
    )
    body = _body(mod)
    assert [child.tag for child in body][:2] == ["TxnID", "EditSequence"]
    assert [line.findtext("TxnLineID") for line in body.findall("InvoiceLineMod")] == [
        "2A-1700000000",
        "-1",
    ]
    _valid(qbxml_reference, mod)
    with pytest.raises(FieldError, match=r"InvoiceMod/InvoiceLineMod\[0\]/TxnLineID: required"):
        build_request(
            "invoice",
            "Mod",
            {"InvoiceLineMod": [{"Amount": Decimal("1.00")}]},
            qb_id="1F-1",
            edit_sequence="1",
        )


def test_mod_without_edit_sequence_is_refused() -> None:
    with pytest.raises(FieldError, match="needs ListID and EditSequence"):
        build_request("customer", "Mod", {"Name": "A"}, qb_id="1-2")


def test_ids_go_in_arguments_not_values() -> None:
    with pytest.raises(FieldError, match="pass ListID and EditSequence as qb_id="):
        build_request("customer", "Mod", {"ListID": "1-2"}, qb_id="1-2", edit_sequence="1")


@pytest.mark.parametrize("entity", ["customer", "job", "vendor", "employee", "item_service"])
def test_deactivation_is_a_mod_with_is_active_false(qbxml_reference: Path, entity: str) -> None:
    request = build_deactivation(entity, qb_id="80000001-1700000000", edit_sequence="17")
    spec = ENTITIES[entity]
    body = _body(request)
    assert body.tag == f"{spec.name}Mod"
    assert [c.tag for c in body] == ["ListID", "EditSequence", "IsActive"]
    assert body.findtext("IsActive") == "false"
    _valid(qbxml_reference, request)


def test_transactions_cannot_be_deactivated() -> None:
    with pytest.raises(FieldError, match="cannot be made inactive"):
        build_deactivation("invoice", qb_id="1-2", edit_sequence="3")


@pytest.mark.parametrize("entity", ["class", "account", "sales_tax_code", "terms"])
def test_names_matched_by_exact_name_are_never_created(entity: str) -> None:
    with pytest.raises(FieldError, match="qbsync does not Add"):
        build_request(entity, "Add", {"Name": "Remodel"})


def test_unknown_entity() -> None:
    with pytest.raises(FieldError, match="no qbXML mapping for entity 'widget'"):
        build_request("widget", "Add", {})


# -- field rules -------------------------------------------------------------------------------


def test_too_long_name_names_the_field_and_the_value() -> None:
    with pytest.raises(FieldError, match=r"CustomerAdd/Name: 'x{42}' is 42 characters; .* 41"):
        build_request("customer", "Add", {"Name": "x" * 42})


def test_too_long_nested_field_names_its_path() -> None:
    with pytest.raises(FieldError, match=r"CustomerAdd/BillAddress/City: 'c{32}' is 32"):
        build_request("customer", "Add", {"Name": "A", "BillAddress": {"City": "c" * 32}})


def test_too_long_in_a_line_names_the_line() -> None:
    lines = [{"ItemRef": {"FullName": "Labor"}}, {"ClassRef": {"FullName": "C" * 160}}]
    with pytest.raises(FieldError, match=r"InvoiceAdd/InvoiceLineAdd\[1\]/ClassRef/FullName: "):
        build_request("invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": lines})


def test_ref_number_limit_is_the_transactions_own() -> None:
    with pytest.raises(FieldError, match=r"InvoiceAdd/RefNumber: .* QuickBooks allows 11"):
        build_request("invoice", "Add", {"CustomerRef": {"FullName": "A"}, "RefNumber": "1" * 12})
    build_request("bill", "Add", {"VendorRef": {"FullName": "A"}, "RefNumber": "1" * 20})


def test_unknown_element_is_an_error_not_silently_dropped() -> None:
    with pytest.raises(FieldError, match=r"CustomerAdd: unknown element\(s\) Nmae"):
        build_request("customer", "Add", {"Name": "A", "Nmae": "typo"})
    with pytest.raises(FieldError, match=r"CustomerAdd: unknown element\(s\) Nmae"):
        build_request("customer", "Add", {"Name": "A", "Nmae": None})


def test_missing_required_elements() -> None:
    with pytest.raises(FieldError, match="CustomerAdd/Name: required"):
        build_request("customer", "Add", {"CompanyName": "A"})
    with pytest.raises(FieldError, match="InvoiceAdd/CustomerRef: required"):
        build_request("invoice", "Add", {"RefNumber": "1"})
    with pytest.raises(FieldError, match="InvoiceAdd/CustomerRef: required"):
        build_request("invoice", "Add", {"CustomerRef": {"FullName": None}})


def test_empty_references_and_names_are_refused() -> None:
    """The schema accepts <CustomerRef/> and an empty Name; QuickBooks does not."""
    with pytest.raises(FieldError, match="InvoiceAdd/CustomerRef/FullName: must not be empty"):
        build_request("invoice", "Add", {"CustomerRef": {"FullName": ""}})
    with pytest.raises(FieldError, match="CustomerAdd/Name: must not be empty"):
        build_request("customer", "Add", {"Name": "\x00"})


def test_money_is_a_decimal_with_two_places_never_a_float() -> None:
    def invoice(amount: Any) -> str:
        line = {"ItemRef": {"FullName": "Labor"}, "Amount": amount}
        return build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": [line]}
        )

    assert "<Amount>12.00</Amount>" in invoice(Decimal("12"))
    assert "<Amount>12.50</Amount>" in invoice(Decimal("12.5"))
    assert "<Amount>12.50</Amount>" in invoice(Decimal("12.5000"))
    assert "<Amount>-3.10</Amount>" in invoice(Decimal("-3.1"))
    assert "<Amount>7.00</Amount>" in invoice(7)
    with pytest.raises(FieldError, match=r"Amount: expected a Decimal, got 12\.5 \(floats"):
        invoice(12.5)
    with pytest.raises(FieldError, match=r"Amount: Decimal\('1\.005'\) has more than 2 decimals"):
        invoice(Decimal("1.005"))
    with pytest.raises(FieldError, match="too large"):
        invoice(Decimal("12345678901234"))
    with pytest.raises(FieldError, match="not a number"):
        invoice(Decimal("NaN"))
    with pytest.raises(FieldError, match="expected a Decimal"):
        invoice("12.00")
    with pytest.raises(FieldError, match="expected a Decimal"):
        invoice(True)


def test_quantities_and_rates_keep_up_to_five_places() -> None:
    line = {
        "ItemRef": {"FullName": "L"},
        "Quantity": Decimal("1.25000"),
        "Rate": Decimal("0.33333"),
    }
    body = _body(
        build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": [line]}
        )
    )
    assert body.findtext("InvoiceLineAdd/Quantity") == "1.25000"
    assert body.findtext("InvoiceLineAdd/Rate") == "0.33333"
    line["Rate"] = Decimal("0.333333")
    with pytest.raises(FieldError, match=r"Rate: .* more than 5 decimals"):
        build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": [line]}
        )


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2024-13-01", "expected a date YYYY-MM-DD"),
        ("1/5/2024", "expected a date YYYY-MM-DD"),
        (datetime(2024, 5, 1, 12, 0), "expected a date, got the date-time"),
        (20240501, "expected a date YYYY-MM-DD"),
    ],
)
def test_dates(value: Any, error: str) -> None:
    with pytest.raises(FieldError, match=f"InvoiceAdd/TxnDate: {error}"):
        build_request("invoice", "Add", {"CustomerRef": {"FullName": "A"}, "TxnDate": value})


def test_date_strings_and_dates_are_accepted() -> None:
    for value in ("2024-05-01", date(2024, 5, 1)):
        request = build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "TxnDate": value}
        )
        assert "<TxnDate>2024-05-01</TxnDate>" in request


def test_enumerations_are_checked() -> None:
    with pytest.raises(FieldError, match="CustomerAdd/JobStatus: 'Done' is not one of Awarded"):
        build_request("customer", "Add", {"Name": "A", "JobStatus": "Done"})


def test_booleans_are_booleans() -> None:
    with pytest.raises(FieldError, match="CustomerAdd/IsActive: expected true or false"):
        build_request("customer", "Add", {"Name": "A", "IsActive": "yes"})


def test_both_branches_of_a_choice_are_refused() -> None:
    line = {"ItemRef": {"FullName": "L"}, "Rate": Decimal("1"), "RatePercent": Decimal("5")}
    with pytest.raises(FieldError, match="Rate and RatePercent cannot be used together"):
        build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": [line]}
        )
    with pytest.raises(FieldError, match="SalesOrPurchase and SalesAndPurchase cannot be used"):
        build_request(
            "item_service",
            "Add",
            {"Name": "L", "SalesOrPurchase": {"Desc": "a"}, "SalesAndPurchase": {"SalesDesc": "b"}},
        )


def test_a_required_choice() -> None:
    with pytest.raises(
        FieldError, match="ItemServiceAdd: one of SalesAndPurchase or SalesOrPurchase"
    ):
        build_request("item_service", "Add", {"Name": "Labor"})


def test_elements_quickbooks_desktop_does_not_support_are_refused() -> None:
    with pytest.raises(FieldError, match="CustomerAdd/Mobile: QuickBooks Desktop does not support"):
        build_request("customer", "Add", {"Name": "A", "Mobile": "555"})


def test_lists_where_lists_belong() -> None:
    with pytest.raises(FieldError, match="InvoiceAdd/InvoiceLineAdd: repeats, so it takes a list"):
        build_request(
            "invoice", "Add", {"CustomerRef": {"FullName": "A"}, "InvoiceLineAdd": {"Desc": "x"}}
        )
    with pytest.raises(FieldError, match="CustomerAdd/Name: expected one value, got a list"):
        build_request("customer", "Add", {"Name": ["A", "B"]})
    with pytest.raises(FieldError, match="ShipToAddress: 51 given; QuickBooks allows 50"):
        build_request(
            "customer",
            "Add",
            {"Name": "A", "ShipToAddress": [{"Name": f"S{i}"} for i in range(51)]},
        )
    with pytest.raises(FieldError, match="CustomerAdd/BillAddress: expected a group of elements"):
        build_request("customer", "Add", {"Name": "A", "BillAddress": "1 Main St"})


def test_text_must_be_text() -> None:
    with pytest.raises(FieldError, match="CustomerAdd/Name: expected text, got 42"):
        build_request("customer", "Add", {"Name": 42})


def test_empty_groups_are_left_out() -> None:
    """translate passes every address field, most of them None."""
    request = build_request(
        "customer", "Add", {"Name": "A", "BillAddress": {"Addr1": None, "City": None}}
    )
    assert "BillAddress" not in request


# -- truncation, only when allowed, and reported -------------------------------------------------


def test_truncation_only_when_allowed_and_always_reported() -> None:
    values = {"Name": "N" * 45, "BillAddress": {"Addr1": "A" * 50}}
    with pytest.raises(FieldError, match="is 45 characters"):
        build("customer", "Add", values)
    built = build("customer", "Add", values, truncate=True)
    body = _body(built.xml)
    assert body.findtext("Name") == "N" * 41
    assert body.findtext("BillAddress/Addr1") == "A" * 41
    assert len(built.warnings) == 2
    assert built.warnings[0].startswith("CustomerAdd/Name: truncated from 45 to 41 characters")
    assert built.warnings[1].startswith("CustomerAdd/BillAddress/Addr1: truncated from 50 to 41")


def test_identifiers_and_reference_names_are_never_truncated() -> None:
    too_long_ref = {"CustomerRef": {"FullName": "C" * 210}}
    with pytest.raises(FieldError, match=r"CustomerRef/FullName: .* QuickBooks allows 209"):
        build("invoice", "Add", too_long_ref, truncate=True)
    with pytest.raises(FieldError, match=r"RefNumber: .* QuickBooks allows 11"):
        build(
            "invoice",
            "Add",
            {"CustomerRef": {"FullName": "A"}, "RefNumber": "9" * 12},
            truncate=True,
        )


def test_nothing_to_report_when_nothing_was_cut() -> None:
    assert build("customer", "Add", {"Name": "Ada"}, truncate=True).warnings == ()


# -- versions ---------------------------------------------------------------------------------


def test_building_for_an_older_version_leaves_out_what_it_does_not_know(
    qbxml_reference: Path,
) -> None:
    values = {"Name": "Ada", "ClassRef": {"FullName": "Remodel"}, "JobTitle": "Owner"}
    built = build("customer", "Add", values, version="11.0")
    assert "ClassRef" not in built.xml
    assert "JobTitle" not in built.xml
    assert built.warnings == (
        "CustomerAdd/ClassRef: left out; qbXML 11.0 does not know it (added in 12.0)",
        "CustomerAdd/JobTitle: left out; qbXML 11.0 does not know it (added in 12.0)",
    )
    _valid(qbxml_reference, built.xml)
    assert build("customer", "Add", values, version="12.0").warnings == ()


def test_a_16_0_element_is_sent_to_16_0_and_left_out_for_13_0(qbxml_reference: Path) -> None:
    values = {"VendorRef": {"FullName": "V"}, "ClassRef": {"FullName": "Remodel"}}
    new = build("bill", "Add", values, version="16.0")
    assert "<ClassRef>" in new.xml
    _valid(qbxml_reference, new.xml, version="16.0")
    old = build("bill", "Add", values, version="13.0")
    assert "<ClassRef>" not in old.xml
    assert old.warnings == (
        "BillAdd/ClassRef: left out; qbXML 13.0 does not know it (added in 16.0)",
    )
    _valid(qbxml_reference, old.xml, version="13.0")


# -- escaping -------------------------------------------------------------------------------------


def test_control_characters_are_removed_tabs_and_newlines_kept() -> None:
    request = parse_xml(
        build_request("customer", "Add", {"Name": "A\x00B\x07C\x7f\x85", "Email": "a\tb\nc\rd"})
    )
    assert request.findtext("CustomerAdd/Name") == "ABC"
    assert request.findtext("CustomerAdd/Email") == "a\tb\nc\rd"


def test_requests_are_pure_ascii_with_references_for_the_rest() -> None:
    request = build_request(
        "customer", "Add", {"Name": "Caf\u00e9 \u201cZ\u00fcrich\u201d \U0001f600"}
    )
    assert request.isascii()
    assert "Caf&#233; &#8220;Z&#252;rich&#8221; &#128512;" in request
    assert (
        parse_xml(request).findtext("CustomerAdd/Name")
        == "Caf\u00e9 \u201cZ\u00fcrich\u201d \U0001f600"
    )
