"""qbXML written by hand for the sandbox tests (the builders cover customers only today).

Every document a test sends is first checked against Intuit's XSD with
``tests/support/xsd.py``, so the sandbox is tested with real qbXML, not with what it happens
to accept; every answer is checked against the same schema, so the sandbox answers in
QuickBooks' element order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox import CompanyFile
from connectors.sandbox._validation import load_schema
from tests.support.xsd import assert_valid_qbxml

__all__ = [
    "Sender",
    "customer_add",
    "document",
    "invoice_add",
    "item_service_add",
    "payment_add",
    "ref",
    "rq",
]


def document(
    *requests: str, on_error: str = "continueOnError", version: str = "13.0", **attributes: str
) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in attributes.items())
    body = "".join(requests)
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="{version}"?>\n'
        f'<QBXML><QBXMLMsgsRq onError="{on_error}"{extra}>{body}</QBXMLMsgsRq></QBXML>'
    )


def rq(name: str, body: str = "", *, wrap: bool = True, **attributes: str) -> str:
    """``rq("CustomerAdd", "<Name>Ada</Name>")`` → ``<CustomerAddRq><CustomerAdd>...``;
    queries and deletes (``wrap=False``) carry their elements directly."""
    extra = "".join(f' {k}="{v}"' for k, v in attributes.items())
    inner = f"<{name}>{body}</{name}>" if wrap else body
    return f"<{name}Rq{extra}>{inner}</{name}Rq>"


def ref(tag: str, full_name: str | None = None, *, list_id: str | None = None) -> str:
    inner = f"<ListID>{list_id}</ListID>" if list_id else f"<FullName>{full_name}</FullName>"
    return f"<{tag}>{inner}</{tag}>"


@dataclass
class Sender:
    """Sends hand-written requests to a company file; both directions checked by the XSD."""

    company: CompanyFile
    reference: Path

    def raw(self, *requests: str, **options: str) -> str:
        text = document(*requests, **options)
        assert_valid_qbxml(text, self.reference)
        response, hresult, message = self.company.process(text)
        assert hresult == "", message
        self.assert_valid_response(response)
        return response

    def assert_valid_response(self, response: str) -> None:
        schema = load_schema(self.reference)
        assert schema.validate(parse_xml(response)), schema.error_log.last_error

    def all(self, *requests: str, **options: str) -> list[etree._Element]:
        """Every ``*Rs``, in order."""
        root = parse_xml(self.raw(*requests, **options))
        messages = root.find("QBXMLMsgsRs")
        assert messages is not None
        return list(messages)

    def one(self, request: str, **options: str) -> etree._Element:
        (rs,) = self.all(request, **options)
        return rs

    def ok(self, request: str, **options: str) -> etree._Element:
        """The ``*Ret`` of a request that must succeed."""
        rs = self.one(request, **options)
        assert rs.get("statusCode") == "0", rs.get("statusMessage")
        return rs[0]

    def code(self, request: str, **options: str) -> int:
        return int(self.one(request, **options).get("statusCode", "-1"))


# -- the requests most tests need ------------------------------------------------------


def customer_add(name: str, *, parent: str | None = None, extra: str = "") -> str:
    parent_ref = ref("ParentRef", parent) if parent else ""
    return rq("CustomerAdd", f"<Name>{name}</Name>{parent_ref}{extra}")


def item_service_add(name: str, *, account: str = "Services", price: str = "100.00") -> str:
    return rq(
        "ItemServiceAdd",
        f"<Name>{name}</Name><SalesOrPurchase><Price>{price}</Price>"
        f"{ref('AccountRef', account)}</SalesOrPurchase>",
    )


def invoice_add(
    customer: str,
    *lines: tuple[str, str, str],
    ref_number: str | None = None,
    txn_date: str = "2024-06-01",
    head: str = "",
) -> str:
    """``lines``: ``(item, quantity, rate)``."""
    number = f"<RefNumber>{ref_number}</RefNumber>" if ref_number else ""
    body = "".join(
        f"<InvoiceLineAdd>{ref('ItemRef', item)}<Quantity>{quantity}</Quantity>"
        f"<Rate>{rate}</Rate></InvoiceLineAdd>"
        for item, quantity, rate in lines
    )
    return rq(
        "InvoiceAdd",
        f"{ref('CustomerRef', customer)}<TxnDate>{txn_date}</TxnDate>{number}{head}{body}",
    )


def payment_add(
    customer: str,
    total: str,
    *applied: tuple[str, str | None],
    deposit_to: str | None = None,
    auto: bool = False,
    txn_date: str = "2024-06-02",
) -> str:
    """``applied``: ``(TxnID, PaymentAmount or None)``."""
    deposit = ref("DepositToAccountRef", deposit_to) if deposit_to else ""
    apply = "".join(
        f"<AppliedToTxnAdd><TxnID>{txn_id}</TxnID>"
        + (f"<PaymentAmount>{amount}</PaymentAmount>" if amount else "")
        + "</AppliedToTxnAdd>"
        for txn_id, amount in applied
    )
    if auto:
        apply = "<IsAutoApply>true</IsAutoApply>"
    return rq(
        "ReceivePaymentAdd",
        f"{ref('CustomerRef', customer)}<TxnDate>{txn_date}</TxnDate>"
        f"<TotalAmount>{total}</TotalAmount>{deposit}{apply}",
    )
