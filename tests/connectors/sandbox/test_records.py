"""Add, Mod and Del of every kind of record, and QuickBooks' rules about them."""

from __future__ import annotations

import re

import pytest

from connectors.sandbox import CompanyFile
from tests.connectors.sandbox.conftest import Clock
from tests.connectors.sandbox.qbxml_text import (
    Sender,
    customer_add,
    invoice_add,
    item_service_add,
    payment_add,
    ref,
    rq,
)

LIST_ID = re.compile(r"[0-9A-F]{8}-\d{10}")
TXN_ID = re.compile(r"[0-9A-F]+-\d{10}")


def mod(name: str, record_id: str, edit_sequence: str, body: str, *, id_tag: str = "ListID") -> str:
    return rq(
        name,
        f"<{id_tag}>{record_id}</{id_tag}><EditSequence>{edit_sequence}</EditSequence>{body}",
    )


# -- lists -------------------------------------------------------------------------------


def test_customer_add_answers_with_what_quickbooks_computes(qb: Sender, clock: Clock) -> None:
    ret = qb.ok(customer_add("Ada", extra="<CompanyName>Analytical</CompanyName>"))
    assert LIST_ID.fullmatch(ret.findtext("ListID") or "")
    assert ret.findtext("EditSequence") == str(int(clock.now))
    assert ret.findtext("TimeCreated") == "2024-06-01T00:00:00+00:00"
    assert [ret.findtext(t) for t in ("FullName", "IsActive", "Sublevel", "Balance")] == [
        "Ada",
        "true",
        "0",
        "0.00",
    ]
    assert ret.findtext("JobStatus") == "None"


def test_a_job_is_a_customer_under_its_parent(qb: Sender) -> None:
    parent = qb.ok(customer_add("Acme"))
    job = qb.ok(customer_add("Roof", parent="acme"))  # parents are found case-insensitively
    assert job.findtext("FullName") == "Acme:Roof"
    assert job.findtext("Sublevel") == "1"
    assert job.findtext("ParentRef/ListID") == parent.findtext("ListID")
    sub = qb.ok(customer_add("Phase 1", parent="Acme:Roof"))
    assert (sub.findtext("FullName"), sub.findtext("Sublevel")) == ("Acme:Roof:Phase 1", "2")


def test_names_are_unique_by_full_name_case_insensitively(qb: Sender) -> None:
    qb.ok(customer_add("Acme"))
    qb.ok(customer_add("Other"))
    qb.ok(customer_add("Roof", parent="Acme"))
    rs = qb.one(customer_add("ROOF", parent="Acme"))
    assert rs.get("statusCode") == "3100"
    assert rs.get("statusMessage") == 'The name "Acme:ROOF" of the list element is already in use.'
    qb.ok(customer_add("Roof", parent="Other"))  # the same job name under another customer
    qb.ok(customer_add("Roof"))  # and at the top level


def test_customers_vendors_and_employees_share_one_name_list(qb: Sender) -> None:
    qb.ok(customer_add("Acme"))
    assert qb.code(rq("VendorAdd", "<Name>acme</Name>")) == 3100
    assert qb.code(rq("EmployeeAdd", "<Name>ACME</Name>")) == 3100
    qb.ok(rq("ClassAdd", "<Name>Acme</Name>"))  # other lists have names of their own


def test_every_item_type_shares_one_item_list(qb: Sender) -> None:
    qb.ok(item_service_add("Labor"))
    body = f"<Name>labor</Name><SalesOrPurchase>{ref('AccountRef', 'Sales')}</SalesOrPurchase>"
    assert qb.code(rq("ItemNonInventoryAdd", body)) == 3100


def test_a_parent_that_does_not_exist_is_3130(qb: Sender) -> None:
    rs = qb.one(customer_add("Roof", parent="Nobody"))
    assert rs.get("statusCode") == "3130"
    assert "Nobody" in (rs.get("statusMessage") or "")


@pytest.mark.parametrize(
    ("request_xml", "named"),
    [
        (customer_add("Ada", extra=ref("TermsRef", "Net 99")), "Net 99"),
        (item_service_add("Labor", account="No such account"), "No such account"),
        (invoice_add("Nobody", ("Labor", "1", "10.00")), "Nobody"),
        (rq("SalesRepAdd", f"<Initial>AL</Initial>{ref('SalesRepEntityRef', 'Ghost')}"), "Ghost"),
    ],
)
def test_a_reference_to_a_missing_record_is_3140(qb: Sender, request_xml: str, named: str) -> None:
    rs = qb.one(request_xml)
    assert rs.get("statusCode") == "3140"
    assert f'"{named}"' in (rs.get("statusMessage") or "")


def test_a_reference_to_an_account_of_the_wrong_type_is_3140(qb: Sender) -> None:
    body = (
        f"<Name>Widget</Name>{ref('IncomeAccountRef', 'Sales')}"
        f"{ref('COGSAccountRef', 'Sales')}{ref('AssetAccountRef', 'Inventory Asset')}"
    )
    rs = qb.one(rq("ItemInventoryAdd", body))
    assert rs.get("statusCode") == "3140"
    assert "CostOfGoodsSold" in (rs.get("statusMessage") or "")


def test_references_may_name_the_record_by_list_id(qb: Sender) -> None:
    customer = qb.ok(customer_add("Ada"))
    qb.ok(item_service_add("Labor"))
    body = f"{ref('CustomerRef', list_id=customer.findtext('ListID'))}" + (
        f"<InvoiceLineAdd>{ref('ItemRef', 'Labor')}<Amount>5.00</Amount></InvoiceLineAdd>"
    )
    invoice = qb.ok(rq("InvoiceAdd", body))
    assert invoice.findtext("CustomerRef/FullName") == "Ada"


ACCOUNT = ref("AccountRef", "Sales")
LIST_ADDS = [
    ("VendorAdd", "<Name>Supplier</Name><CompanyName>Supplier Inc</CompanyName>"),
    ("EmployeeAdd", "<FirstName>Grace</FirstName><LastName>Hopper</LastName>"),
    ("OtherNameAdd", "<Name>Landlord</Name>"),
    ("ItemServiceAdd", f"<Name>Design</Name><SalesOrPurchase>{ACCOUNT}</SalesOrPurchase>"),
    ("ItemNonInventoryAdd", f"<Name>Nails</Name><SalesOrPurchase>{ACCOUNT}</SalesOrPurchase>"),
    ("ItemOtherChargeAdd", f"<Name>Freight</Name><SalesOrPurchase>{ACCOUNT}</SalesOrPurchase>"),
    (
        "ItemInventoryAdd",
        f"<Name>Widget</Name><SalesPrice>12.50</SalesPrice>{ref('IncomeAccountRef', 'Sales')}"
        f"{ref('COGSAccountRef', 'Cost of Goods Sold')}"
        f"{ref('AssetAccountRef', 'Inventory Asset')}",
    ),
    ("ItemSalesTaxAdd", "<Name>State Tax</Name><TaxRate>6.25</TaxRate>"),
    (
        "ItemDiscountAdd",
        f"<Name>Promo</Name><DiscountRatePercent>10.0</DiscountRatePercent>{ACCOUNT}",
    ),
    ("ItemSubtotalAdd", "<Name>Subtotal</Name>"),
    ("AccountAdd", "<Name>Rent</Name><AccountType>Expense</AccountType>"),
    ("ClassAdd", "<Name>East</Name>"),
    ("SalesTaxCodeAdd", "<Name>Out</Name><IsTaxable>false</IsTaxable>"),
    ("StandardTermsAdd", "<Name>Net 60</Name><StdDueDays>60</StdDueDays>"),
    ("DateDrivenTermsAdd", "<Name>10th</Name><DayOfMonthDue>10</DayOfMonthDue>"),
    ("PaymentMethodAdd", "<Name>Wire</Name><PaymentMethodType>Other</PaymentMethodType>"),
    ("ShipMethodAdd", "<Name>Courier</Name>"),
    ("CustomerTypeAdd", "<Name>Retail</Name>"),
    ("VendorTypeAdd", "<Name>Subcontractor</Name>"),
    ("JobTypeAdd", "<Name>Remodel</Name>"),
    ("CustomerMsgAdd", "<Name>Thank you!</Name>"),
]


@pytest.mark.parametrize(("name", "body"), LIST_ADDS, ids=[n for n, _ in LIST_ADDS])
def test_every_list_kind_can_be_added_and_queried(qb: Sender, name: str, body: str) -> None:
    kind = name.removesuffix("Add")
    ret = qb.ok(rq(name, body))
    assert ret.tag == f"{kind}Ret"
    assert LIST_ID.fullmatch(ret.findtext("ListID") or "")
    query = rq(f"{kind}Query", f"<ListID>{ret.findtext('ListID')}</ListID>", wrap=False)
    found = qb.ok(query)
    assert found.findtext("EditSequence") == ret.findtext("EditSequence")


def test_an_employee_without_a_name_is_named_after_the_person(qb: Sender) -> None:
    ret = qb.ok(rq("EmployeeAdd", "<FirstName>Grace</FirstName><LastName>Hopper</LastName>"))
    assert ret.findtext("Name") == "Grace Hopper"


def test_a_sales_rep_points_at_an_employee(qb: Sender) -> None:
    qb.ok(rq("EmployeeAdd", "<Name>Grace Hopper</Name>"))
    rep = qb.ok(
        rq("SalesRepAdd", f"<Initial>GH</Initial>{ref('SalesRepEntityRef', 'Grace Hopper')}")
    )
    assert rep.findtext("SalesRepEntityRef/FullName") == "Grace Hopper"
    query = rq("SalesRepQuery", "<FullName>gh</FullName>", wrap=False)
    assert qb.ok(query).findtext("Initial") == "GH"


def test_mod_changes_fields_and_edit_sequence(qb: Sender, clock: Clock) -> None:
    added = qb.ok(customer_add("Ada", extra="<Phone>1</Phone>"))
    clock.advance(60)
    changed = qb.ok(
        mod(
            "CustomerMod",
            added.findtext("ListID") or "",
            added.findtext("EditSequence") or "",
            "<Phone>2</Phone>",
        )
    )
    assert changed.findtext("Phone") == "2"
    assert changed.findtext("EditSequence") == str(int(clock.now))
    assert changed.findtext("TimeModified") == "2024-06-01T00:01:00+00:00"
    assert changed.findtext("TimeCreated") == added.findtext("TimeCreated")


def test_the_edit_sequence_changes_even_within_one_second(qb: Sender) -> None:
    added = qb.ok(customer_add("Ada"))
    first = qb.ok(
        mod(
            "CustomerMod",
            added.findtext("ListID") or "",
            added.findtext("EditSequence") or "",
            "<Phone>1</Phone>",
        )
    )
    second = qb.ok(
        mod(
            "CustomerMod",
            first.findtext("ListID") or "",
            first.findtext("EditSequence") or "",
            "<Phone>2</Phone>",
        )
    )
    assert (
        len(
            {
                added.findtext("EditSequence"),
                first.findtext("EditSequence"),
                second.findtext("EditSequence"),
            }
        )
        == 3
    )


def test_mod_with_a_stale_edit_sequence_is_3200_and_changes_nothing(qb: Sender) -> None:
    added = qb.ok(customer_add("Ada"))
    list_id = added.findtext("ListID") or ""
    qb.ok(mod("CustomerMod", list_id, added.findtext("EditSequence") or "", "<Phone>1</Phone>"))
    rs = qb.one(
        mod("CustomerMod", list_id, added.findtext("EditSequence") or "", "<Phone>2</Phone>")
    )
    assert rs.get("statusCode") == "3200"
    assert "out-of-date" in (rs.get("statusMessage") or "")
    query = rq("CustomerQuery", f"<ListID>{list_id}</ListID>", wrap=False)
    assert qb.ok(query).findtext("Phone") == "1"


def test_mod_of_a_record_that_does_not_exist_is_3120(qb: Sender) -> None:
    assert qb.code(mod("VendorMod", "80000999-1700000000", "1", "<Phone>1</Phone>")) == 3120


def test_renaming_a_customer_renames_its_jobs_everywhere(qb: Sender) -> None:
    acme = qb.ok(customer_add("Acme"))
    qb.ok(customer_add("Roof", parent="Acme"))
    qb.ok(item_service_add("Labor"))
    invoice = qb.ok(invoice_add("Acme:Roof", ("Labor", "1", "10.00")))
    qb.ok(
        mod(
            "CustomerMod",
            acme.findtext("ListID") or "",
            acme.findtext("EditSequence") or "",
            "<Name>Acme Corp</Name>",
        )
    )
    query = rq("CustomerQuery", "<FullName>Acme Corp:Roof</FullName>", wrap=False)
    assert qb.ok(query).findtext("ParentRef/FullName") == "Acme Corp"
    found = qb.ok(rq("InvoiceQuery", f"<TxnID>{invoice.findtext('TxnID')}</TxnID>", wrap=False))
    assert found.findtext("CustomerRef/FullName") == "Acme Corp:Roof"


def test_a_job_moves_to_another_parent_and_cannot_become_its_own_child(qb: Sender) -> None:
    qb.ok(customer_add("Acme"))
    other = qb.ok(customer_add("Other"))
    job = qb.ok(customer_add("Roof", parent="Acme"))
    moved = qb.ok(
        mod(
            "CustomerMod",
            job.findtext("ListID") or "",
            job.findtext("EditSequence") or "",
            ref("ParentRef", "Other"),
        )
    )
    assert moved.findtext("FullName") == "Other:Roof"
    cycle = mod(
        "CustomerMod",
        other.findtext("ListID") or "",
        other.findtext("EditSequence") or "",
        ref("ParentRef", "Other:Roof"),
    )
    assert qb.code(cycle) == 3130


def _list_del(kind: str, list_id: str) -> str:
    return rq("ListDel", f"<ListDelType>{kind}</ListDelType><ListID>{list_id}</ListID>", wrap=False)


def test_an_unused_list_element_can_be_deleted(qb: Sender, company: CompanyFile) -> None:
    added = qb.ok(customer_add("Typo"))
    rs = qb.one(_list_del("Customer", added.findtext("ListID") or ""))
    assert rs.get("statusCode") == "0"
    assert [rs.findtext("ListDelType"), rs.findtext("FullName")] == ["Customer", "Typo"]
    assert company.customers() == []


def test_a_list_element_in_use_is_made_inactive_not_deleted(qb: Sender) -> None:
    ada = qb.ok(customer_add("Ada"))
    qb.ok(item_service_add("Labor"))
    qb.ok(invoice_add("Ada", ("Labor", "1", "10.00")))
    rs = qb.one(_list_del("Customer", ada.findtext("ListID") or ""))
    assert rs.get("statusCode") == "3170"
    assert "make it inactive" in (rs.get("statusMessage") or "")
    inactive = qb.ok(
        mod(
            "CustomerMod",
            ada.findtext("ListID") or "",
            ada.findtext("EditSequence") or "",
            "<IsActive>false</IsActive>",
        )
    )
    assert inactive.findtext("IsActive") == "false"
    assert qb.code(rq("CustomerQuery", "", wrap=False)) == 1  # ActiveOnly by default
    everyone = rq("CustomerQuery", "<ActiveStatus>All</ActiveStatus>", wrap=False)
    assert qb.ok(everyone).findtext("FullName") == "Ada"


def test_list_del_of_the_wrong_type_is_3120(qb: Sender) -> None:
    ada = qb.ok(customer_add("Ada"))
    assert qb.code(_list_del("Vendor", ada.findtext("ListID") or "")) == 3120


# -- transactions ----------------------------------------------------------------------


@pytest.fixture
def ada(qb: Sender) -> None:
    qb.ok(customer_add("Ada"))
    qb.ok(item_service_add("Labor"))


@pytest.mark.usefixtures("ada")
def test_an_invoice_totals_its_lines_and_is_numbered_when_no_number_is_given(qb: Sender) -> None:
    first = qb.ok(invoice_add("Ada", ("Labor", "3", "25.00"), ("Labor", "1.5", "10.00")))
    assert TXN_ID.fullmatch(first.findtext("TxnID") or "")
    assert [line.findtext("Amount") for line in first.findall("InvoiceLineRet")] == [
        "75.00",
        "15.00",
    ]
    assert (first.findtext("Subtotal"), first.findtext("BalanceRemaining")) == ("90.00", "90.00")
    assert (first.findtext("IsPaid"), first.findtext("RefNumber")) == ("false", "1")
    assert first.findtext("ARAccountRef/FullName") == "Accounts Receivable"
    second = qb.ok(invoice_add("Ada", ("Labor", "1", "1.00")))
    assert second.findtext("RefNumber") == "2"
    qb.ok(invoice_add("Ada", ("Labor", "1", "1.00"), ref_number="INV-0099"))
    assert qb.ok(invoice_add("Ada", ("Labor", "1", "1.00"))).findtext("RefNumber") == "INV-0100"
    assert int(second.findtext("TxnNumber") or 0) == int(first.findtext("TxnNumber") or 0) + 1


@pytest.mark.usefixtures("ada")
def test_the_due_date_follows_the_terms(qb: Sender) -> None:
    invoice = qb.ok(
        invoice_add(
            "Ada", ("Labor", "1", "1.00"), head=ref("TermsRef", "Net 30"), txn_date="2024-01-15"
        )
    )
    assert invoice.findtext("DueDate") == "2024-02-14"


@pytest.mark.usefixtures("ada")
def test_a_transaction_without_lines_is_empty_3180(qb: Sender) -> None:
    rs = qb.one(rq("InvoiceAdd", ref("CustomerRef", "Ada")))
    assert rs.get("statusCode") == "3180"
    assert rs.get("statusMessage", "").endswith("The transaction is empty.")
    _vendor(qb)
    assert qb.code(rq("BillAdd", ref("VendorRef", "Supplier"))) == 3180


def _vendor(qb: Sender) -> None:
    qb.ok(rq("VendorAdd", "<Name>Supplier</Name>"))


@pytest.mark.usefixtures("ada")
def test_every_transaction_kind_can_be_added_and_queried(qb: Sender) -> None:
    _vendor(qb)
    qb.ok(rq("EmployeeAdd", "<Name>Grace</Name>"))
    labor = f"{ref('ItemRef', 'Labor')}<Quantity>2</Quantity><Rate>50.00</Rate>"
    account = ref("AccountRef", "Job Materials")
    expense = f"<ExpenseLineAdd>{account}<Amount>40.00</Amount></ExpenseLineAdd>"
    item = ref("ItemRef", "Labor")
    item_line = f"<ItemLineAdd>{item}<Quantity>2</Quantity><Cost>5.00</Cost></ItemLineAdd>"
    cases = [
        (
            "CreditMemoAdd",
            f"{ref('CustomerRef', 'Ada')}<CreditMemoLineAdd>{labor}</CreditMemoLineAdd>",
            {"TotalAmount": "100.00", "CreditRemaining": "100.00"},
        ),
        (
            "EstimateAdd",
            f"{ref('CustomerRef', 'Ada')}<EstimateLineAdd>{labor}</EstimateLineAdd>",
            {"TotalAmount": "100.00", "IsActive": "true"},
        ),
        (
            "SalesReceiptAdd",
            f"{ref('CustomerRef', 'Ada')}<SalesReceiptLineAdd>{labor}</SalesReceiptLineAdd>",
            {"TotalAmount": "100.00", "DepositToAccountRef/FullName": "Undeposited Funds"},
        ),
        (
            "BillAdd",
            f"{ref('VendorRef', 'Supplier')}<RefNumber>V-1</RefNumber>{expense}{item_line}",
            {"AmountDue": "50.00", "OpenAmount": "50.00", "IsPaid": "false"},
        ),
        (
            "VendorCreditAdd",
            f"{ref('VendorRef', 'Supplier')}{expense}",
            {"CreditAmount": "40.00", "APAccountRef/FullName": "Accounts Payable"},
        ),
        (
            "PurchaseOrderAdd",
            f"{ref('VendorRef', 'Supplier')}<PurchaseOrderLineAdd>{labor}</PurchaseOrderLineAdd>",
            {"TotalAmount": "100.00", "RefNumber": "1", "IsFullyReceived": "false"},
        ),
        (
            "TimeTrackingAdd",
            f"<TxnDate>2024-06-01</TxnDate>{ref('EntityRef', 'Grace')}"
            f"{ref('CustomerRef', 'Ada')}{ref('ItemServiceRef', 'Labor')}"
            "<Duration>PT2H30M</Duration>",
            {"Duration": "PT2H30M", "EntityRef/FullName": "Grace"},
        ),
    ]
    for name, body, expected in cases:
        kind = name.removesuffix("Add")
        ret = qb.ok(rq(name, body))
        assert ret.tag == f"{kind}Ret"
        for path, value in expected.items():
            assert ret.findtext(path) == value, (kind, path)
        query = rq(f"{kind}Query", f"<TxnID>{ret.findtext('TxnID')}</TxnID>", wrap=False)
        assert qb.ok(query).findtext("EditSequence") == ret.findtext("EditSequence")


def test_a_vendor_balance_is_bills_less_credits(qb: Sender) -> None:
    _vendor(qb)
    expense = (
        f"<ExpenseLineAdd>{ref('AccountRef', 'Subcontractors')}<Amount>%s</Amount></ExpenseLineAdd>"
    )
    qb.ok(rq("BillAdd", f"{ref('VendorRef', 'Supplier')}{expense % '300.00'}"))
    qb.ok(rq("VendorCreditAdd", f"{ref('VendorRef', 'Supplier')}{expense % '50.00'}"))
    vendor = qb.ok(rq("VendorQuery", "<FullName>Supplier</FullName>", wrap=False))
    assert vendor.findtext("Balance") == "250.00"


@pytest.mark.usefixtures("ada")
def test_invoice_line_mods_change_add_and_drop_lines(qb: Sender) -> None:
    invoice = qb.ok(invoice_add("Ada", ("Labor", "1", "10.00"), ("Labor", "1", "20.00")))
    first, _second = (line.findtext("TxnLineID") for line in invoice.findall("InvoiceLineRet"))
    lines = (
        f"<InvoiceLineMod><TxnLineID>{first}</TxnLineID><Quantity>4</Quantity></InvoiceLineMod>"
        f"<InvoiceLineMod><TxnLineID>-1</TxnLineID>{ref('ItemRef', 'Labor')}"
        "<Amount>7.00</Amount></InvoiceLineMod>"
    )
    changed = qb.ok(
        mod(
            "InvoiceMod",
            invoice.findtext("TxnID") or "",
            invoice.findtext("EditSequence") or "",
            lines,
            id_tag="TxnID",
        )
    )
    amounts = [line.findtext("Amount") for line in changed.findall("InvoiceLineRet")]
    assert amounts == ["40.00", "7.00"]
    assert changed.findtext("Subtotal") == "47.00"
    assert changed.findall("InvoiceLineRet")[0].findtext("TxnLineID") == first


@pytest.mark.usefixtures("ada")
def test_a_line_mod_naming_an_unknown_line_is_3120(qb: Sender) -> None:
    invoice = qb.ok(invoice_add("Ada", ("Labor", "1", "10.00")))
    line = (
        "<InvoiceLineMod><TxnLineID>FFFF-1700000000</TxnLineID>"
        "<Quantity>2</Quantity></InvoiceLineMod>"
    )
    rs = qb.one(
        mod(
            "InvoiceMod",
            invoice.findtext("TxnID") or "",
            invoice.findtext("EditSequence") or "",
            line,
            id_tag="TxnID",
        )
    )
    assert rs.get("statusCode") == "3120"


def _txn_del(kind: str, txn_id: str) -> str:
    return rq("TxnDel", f"<TxnDelType>{kind}</TxnDelType><TxnID>{txn_id}</TxnID>", wrap=False)


@pytest.mark.usefixtures("ada")
def test_deleting_an_invoice_leaves_its_payment_unused(qb: Sender) -> None:
    invoice = qb.ok(invoice_add("Ada", ("Labor", "1", "80.00")))
    payment = qb.ok(payment_add("Ada", "80.00", (invoice.findtext("TxnID") or "", None)))
    assert payment.findtext("UnusedPayment") == "0.00"
    rs = qb.one(_txn_del("Invoice", invoice.findtext("TxnID") or ""))
    assert (rs.get("statusCode"), rs.findtext("RefNumber")) == ("0", "1")
    found = qb.ok(
        rq("ReceivePaymentQuery", f"<TxnID>{payment.findtext('TxnID')}</TxnID>", wrap=False)
    )
    assert found.findtext("UnusedPayment") == "80.00"
    assert found.find("AppliedToTxnRet") is None
    customer = qb.ok(rq("CustomerQuery", "<FullName>Ada</FullName>", wrap=False))
    assert customer.findtext("Balance") == "-80.00"


@pytest.mark.usefixtures("ada")
def test_txn_del_of_an_unknown_transaction_is_3120(qb: Sender) -> None:
    assert qb.code(_txn_del("Invoice", "ABC-1700000000")) == 3120


def _deleted_query(*kinds: str, since: str | None = None) -> str:
    body = "".join(f"<TxnDelType>{kind}</TxnDelType>" for kind in kinds)
    if since is not None:
        dates = f"<FromDeletedDate>{since}</FromDeletedDate>"
        body += f"<DeletedDateRangeFilter>{dates}</DeletedDateRangeFilter>"
    return rq("TxnDeletedQuery", body, wrap=False)


@pytest.mark.usefixtures("ada")
def test_deleted_transactions_are_listed_by_type_and_deletion_time(
    qb: Sender, clock: Clock
) -> None:
    kept = qb.ok(invoice_add("Ada", ("Labor", "1", "10.00")))
    gone = qb.ok(invoice_add("Ada", ("Labor", "1", "20.00")))
    assert qb.code(_deleted_query("Invoice")) == 1  # nothing deleted yet: "no match"

    clock.advance(3600)  # deleted an hour later: 2024-06-01T01:00:00Z
    qb.one(_txn_del("Invoice", gone.findtext("TxnID") or ""))

    (ret,) = qb.all(_deleted_query("Invoice", "Bill"))[0].findall("TxnDeletedRet")
    assert [(child.tag, child.text) for child in ret] == [
        ("TxnDelType", "Invoice"),
        ("TxnID", gone.findtext("TxnID")),
        ("TimeCreated", gone.findtext("TimeCreated")),
        ("TimeDeleted", "2024-06-01T01:00:00+00:00"),
        ("RefNumber", gone.findtext("RefNumber")),
    ]
    assert kept.findtext("TxnID") != gone.findtext("TxnID")
    # Only the types asked, only since the date asked.
    assert qb.code(_deleted_query("Bill")) == 1
    assert qb.code(_deleted_query("Invoice", since="2024-06-01T00:30:00+00:00")) == 0
    assert qb.code(_deleted_query("Invoice", since="2024-06-01T01:00:01+00:00")) == 1
