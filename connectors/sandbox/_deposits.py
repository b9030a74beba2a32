"""Deposits: payments taken out of Undeposited Funds into a bank account.

A deposit line naming a payment (``PaymentTxnID``) makes it part of a *summary deposit*.
QuickBooks then refuses to change or delete the payment (3160) until it is removed from the
deposit; in the sandbox that is deleting the deposit (``TxnDel``) and adding it again
without the payment. ``DepositMod`` is not simulated (3250, unsupported).
"""

from __future__ import annotations

import copy

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox import _status as status
from connectors.sandbox._context import Context
from connectors.sandbox._elements import child_text, set_child

__all__ = ["add", "check_free", "forget"]

_DEPOSITABLE = ("ReceivePayment", "SalesReceipt")


def add(ctx: Context, ret: etree._Element, body: etree._Element, deposit_id: str) -> None:
    """Each line of ``body`` that names a payment: the payment must be in Undeposited Funds
    and in no other deposit; the answer's line gets its type, id, customer and amount."""
    requested = body.findall("DepositLineAdd")
    for line_rq, line in zip(requested, ret.findall("DepositLineRet"), strict=True):
        payment_id = child_text(line_rq, "PaymentTxnID")
        if payment_id is None:
            if line.find("AccountRef") is None:
                raise status.missing_element("AccountRef")
            continue
        row = ctx.store.txn_by_id(payment_id)
        if row is None or row["kind"] not in _DEPOSITABLE or _deposit_of(ctx, payment_id):
            raise status.not_found(payment_id)
        payment = parse_xml(row["ret"])
        account_id = payment.findtext("DepositToAccountRef/ListID") or ""
        account = ctx.store.list_by_id(account_id, ("Account",))
        special = parse_xml(account["ret"]).findtext("SpecialAccountType") if account else None
        if special != "UndepositedFunds":
            raise status.not_found(payment_id)  # deposited straight to a bank account
        set_child(line, "TxnType", row["kind"])
        set_child(line, "TxnID", payment_id)
        customer = payment.find("CustomerRef")
        if customer is not None:
            entity = copy.deepcopy(customer)
            entity.tag = "EntityRef"
            line.append(entity)
        set_child(line, "Amount", payment.findtext("TotalAmount") or "0.00")
        ctx.store.run("insert into deposited values (?, ?)", (payment_id, deposit_id))


def check_free(ctx: Context, kind_name: str, txn_id: str, action: str) -> None:
    """A payment in a deposit cannot be changed or deleted (3160)."""
    deposit_id = _deposit_of(ctx, txn_id) if kind_name in _DEPOSITABLE else None
    if deposit_id is not None:
        raise status.in_deposit(kind_name, txn_id, action)


def forget(ctx: Context, deposit_id: str) -> None:
    """A deposit deleted: its payments are in Undeposited Funds again."""
    ctx.store.run("delete from deposited where deposit_id = ?", (deposit_id,))


def _deposit_of(ctx: Context, payment_id: str) -> str | None:
    row = ctx.store.one("select deposit_id from deposited where payment_id = ?", (payment_id,))
    return None if row is None else str(row[0])
