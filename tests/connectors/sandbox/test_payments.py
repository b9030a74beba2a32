"""Received payments: applied to invoices, they move balances, paid flags and EditSequences."""

from __future__ import annotations

import pytest

from tests.connectors.sandbox.qbxml_text import (
    Sender,
    customer_add,
    invoice_add,
    item_service_add,
    payment_add,
    ref,
    rq,
)


@pytest.fixture
def invoices(qb: Sender) -> list[str]:
    """Ada owes two invoices (100.00 dated June 1, 50.00 dated May 1); Bob owes one."""
    qb.ok(customer_add("Ada"))
    qb.ok(customer_add("Bob"))
    qb.ok(item_service_add("Labor"))
    return [
        qb.ok(invoice_add("Ada", ("Labor", "1", "100.00"), txn_date="2024-06-01")).findtext("TxnID")
        or "",
        qb.ok(invoice_add("Ada", ("Labor", "1", "50.00"), txn_date="2024-05-01")).findtext("TxnID")
        or "",
        qb.ok(invoice_add("Bob", ("Labor", "1", "10.00"))).findtext("TxnID") or "",
    ]


def _invoice(qb: Sender, txn_id: str) -> dict[str, str | None]:
    ret = qb.ok(
        rq(
            "InvoiceQuery",
            f"<TxnID>{txn_id}</TxnID><IncludeLinkedTxns>true</IncludeLinkedTxns>",
            wrap=False,
        )
    )
    return {
        tag: ret.findtext(tag)
        for tag in (
            "BalanceRemaining",
            "AppliedAmount",
            "IsPaid",
            "EditSequence",
            "LinkedTxn/Amount",
        )
    }


def _balance(qb: Sender, name: str) -> str | None:
    return qb.ok(rq("CustomerQuery", f"<FullName>{name}</FullName>", wrap=False)).findtext(
        "Balance"
    )


def test_a_payment_reduces_the_invoice_and_the_customer_balance(
    qb: Sender, invoices: list[str]
) -> None:
    june = invoices[0]
    before = _invoice(qb, june)
    assert _balance(qb, "Ada") == "150.00"
    payment = qb.ok(payment_add("Ada", "60.00", (june, "60.00")))
    applied = payment.find("AppliedToTxnRet")
    assert applied is not None
    assert [applied.findtext(t) for t in ("TxnID", "TxnType", "BalanceRemaining", "Amount")] == [
        june,
        "Invoice",
        "40.00",
        "60.00",
    ]
    assert payment.findtext("UnusedPayment") == "0.00"
    after = _invoice(qb, june)
    assert after["BalanceRemaining"] == "40.00"
    assert after["AppliedAmount"] == "-60.00"
    assert after["IsPaid"] == "false"
    assert after["LinkedTxn/Amount"] == "-60.00"
    assert after["EditSequence"] != before["EditSequence"]  # QuickBooks changed the invoice
    assert _balance(qb, "Ada") == "90.00"


def test_paying_the_rest_marks_the_invoice_paid(qb: Sender, invoices: list[str]) -> None:
    may = invoices[1]
    qb.ok(payment_add("Ada", "20.00", (may, "20.00")))
    qb.ok(payment_add("Ada", "30.00", (may, None)))  # no amount: what it still owes
    assert _invoice(qb, may)["IsPaid"] == "true"
    assert _invoice(qb, may)["BalanceRemaining"] == "0.00"
    paid = rq("InvoiceQuery", "<PaidStatus>PaidOnly</PaidStatus>", wrap=False)
    assert qb.ok(paid).findtext("TxnID") == may


def test_a_payment_on_an_invoice_already_paid_is_3120(qb: Sender, invoices: list[str]) -> None:
    may = invoices[1]
    qb.ok(payment_add("Ada", "50.00", (may, "50.00")))
    rs = qb.one(payment_add("Ada", "50.00", (may, "50.00")))  # a retried duplicate
    assert rs.get("statusCode") == "3120"
    assert f'"{may}"' in (rs.get("statusMessage") or "")
    assert _balance(qb, "Ada") == "100.00"  # the duplicate changed nothing


def test_a_payment_on_another_customers_invoice_is_3120(qb: Sender, invoices: list[str]) -> None:
    assert qb.code(payment_add("Bob", "10.00", (invoices[0], "10.00"))) == 3120


def test_applying_more_than_is_owed_or_paid_fails_to_save(qb: Sender, invoices: list[str]) -> None:
    rs = qb.one(payment_add("Ada", "500.00", (invoices[1], "60.00")))
    assert (rs.get("statusCode"), "more than it still owes" in (rs.get("statusMessage") or "")) == (
        "3180",
        True,
    )
    rs = qb.one(payment_add("Ada", "10.00", (invoices[1], "20.00")))
    assert rs.get("statusCode") == "3180"


def test_an_unapplied_remainder_is_unused_payment_and_counts_as_credit(
    qb: Sender, invoices: list[str]
) -> None:
    payment = qb.ok(payment_add("Bob", "25.00", (invoices[2], None)))
    assert payment.findtext("UnusedPayment") == "15.00"
    assert _balance(qb, "Bob") == "-15.00"


def test_auto_apply_pays_the_oldest_invoices_first(qb: Sender, invoices: list[str]) -> None:
    payment = qb.ok(payment_add("Ada", "70.00", auto=True))
    applied = [
        (a.findtext("TxnID"), a.findtext("Amount")) for a in payment.findall("AppliedToTxnRet")
    ]
    assert applied == [(invoices[1], "50.00"), (invoices[0], "20.00")]
    assert _invoice(qb, invoices[1])["IsPaid"] == "true"


def test_a_payment_deposited_to_a_non_bank_account_is_3140(qb: Sender, invoices: list[str]) -> None:
    rs = qb.one(payment_add("Ada", "10.00", (invoices[0], "10.00"), deposit_to="Sales"))
    assert rs.get("statusCode") == "3140"
    assert '"Sales"' in (rs.get("statusMessage") or "")
    bank = qb.ok(payment_add("Ada", "10.00", (invoices[0], "10.00"), deposit_to="Checking"))
    assert bank.findtext("DepositToAccountRef/FullName") == "Checking"
    default = qb.ok(payment_add("Ada", "10.00", (invoices[0], "10.00")))
    assert default.findtext("DepositToAccountRef/FullName") == "Undeposited Funds"


def test_an_invoice_posted_to_a_non_receivable_account_is_3140(
    qb: Sender, invoices: list[str]
) -> None:
    del invoices
    request = invoice_add("Ada", ("Labor", "1", "1.00"), txn_date="2024-06-01")
    request = request.replace("<TxnDate>", f"{ref('ARAccountRef', 'Checking')}<TxnDate>")
    assert qb.code(request) == 3140


def test_deleting_a_payment_reopens_its_invoices(qb: Sender, invoices: list[str]) -> None:
    payment = qb.ok(payment_add("Ada", "50.00", (invoices[1], None)))
    delete = rq(
        "TxnDel",
        f"<TxnDelType>ReceivePayment</TxnDelType><TxnID>{payment.findtext('TxnID')}</TxnID>",
        wrap=False,
    )
    assert qb.one(delete).get("statusCode") == "0"
    assert _invoice(qb, invoices[1])["BalanceRemaining"] == "50.00"
    assert _balance(qb, "Ada") == "150.00"


def test_a_payment_mod_moves_the_application(qb: Sender, invoices: list[str]) -> None:
    payment = qb.ok(payment_add("Ada", "50.00", (invoices[1], None)))
    body = (
        f"<TxnID>{payment.findtext('TxnID')}</TxnID>"
        f"<EditSequence>{payment.findtext('EditSequence')}</EditSequence>"
        f"<AppliedToTxnMod><TxnID>{invoices[0]}</TxnID><PaymentAmount>50.00</PaymentAmount>"
        "</AppliedToTxnMod>"
    )
    changed = qb.ok(rq("ReceivePaymentMod", body))
    assert changed.findtext("AppliedToTxnRet/TxnID") == invoices[0]
    assert _invoice(qb, invoices[1])["BalanceRemaining"] == "50.00"
    assert _invoice(qb, invoices[0])["BalanceRemaining"] == "50.00"


def test_accounts_receivable_and_deposits_follow_the_money(qb: Sender, invoices: list[str]) -> None:
    def balance(name: str) -> str | None:
        account = qb.ok(rq("AccountQuery", f"<FullName>{name}</FullName>", wrap=False))
        return account.findtext("Balance")

    assert balance("Accounts Receivable") == "160.00"
    qb.ok(payment_add("Ada", "70.00", (invoices[1], "50.00")))  # 20.00 left unused
    qb.ok(payment_add("Bob", "10.00", (invoices[2], None), deposit_to="Checking"))
    assert balance("Accounts Receivable") == "80.00"  # 100 open, less 20 unused
    assert balance("Undeposited Funds") == "70.00"
    assert balance("Checking") == "10.00"
    assert balance("Sales") == "0.00"
