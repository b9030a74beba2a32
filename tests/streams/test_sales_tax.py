"""Sales tax on invoices (issue 15, item 3) on the real broker with the worker and gateway as
processes and a sandbox company file that charges sales tax: an invoice without a sales tax
item is refused with 3180 "The Transaction Sales Tax field cannot be left blank" and
explained as the missing sales tax item; with the tenant's ``sales_tax_item`` it lands with
its ``ItemSalesTaxRef``, and the app's tax code names become QuickBooks' 3-character codes.
Every request is validated against Intuit's XSD by the sandbox, and here once more."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connectors.qbxml import build_message
from connectors.sandbox import find_reference
from connectors.store import IdMapping
from core.messages import Command
from streams.tenant_settings import TenantSettings, load_settings
from streams.translate import Context, plan
from tests.streams.test_worker import Sync, customer, invoice, sync
from tests.support.xsd import assert_valid_qbxml

__all__ = ["sync"]  # the worker tests' fixture, used here too
pytestmark = pytest.mark.integration


def taxed(entity_id: str, code: str = "Taxable") -> dict[str, Any]:
    event = invoice(entity_id, "c-1")
    event["invoice"]["lines"][0]["sales_tax_code"] = {"full_name": code, "id": None}
    return event


def test_an_invoice_names_its_sales_tax_item_and_real_tax_codes(sync: Sync) -> None:
    sync.company.charge_sales_tax()
    request = (
        "<ItemSalesTaxAddRq><ItemSalesTaxAdd><Name>State Tax</Name>"
        "<TaxRate>7.25</TaxRate></ItemSalesTaxAdd></ItemSalesTaxAddRq>"
    )
    answer = sync.company.process(build_message([("1", request)], version="13.0"))
    assert 'statusCode="0"' in answer[0], answer[0]

    # No sales tax item anywhere: QuickBooks' 3180, explained as such.
    sync.publish(customer("c-1", "Lovelace"))
    sync.publish(taxed("i-1"))

    def refused() -> Any:
        rows = [e for e in sync.store.sync_log("t-1") if e.entity_id == "i-1"]
        return [e for e in rows if e.status == "failed"]  # after a "waiting" for c-1, maybe

    (row,) = sync.until_synced(refused, "the untaxed invoice refused")
    assert row.code == 3180
    assert "Transaction Sales Tax field cannot be left blank" in row.message
    assert sync.invoices() == []

    # The tenant names its sales tax item: the next invoice carries it.
    settings = {"sales_tax_item": "State Tax", "sales_tax_codes": {"Exempt Sale": "Non"}}
    sync.store.update_tenant_settings("t-1", settings)
    sync.publish(taxed("i-2"))
    sync.publish(taxed("i-3", code="Exempt Sale"))
    sync.until_synced(
        lambda: sync.store.mapping("t-1", "invoice", "i-3"), "the taxed invoices synced"
    )
    by_ref = {}
    for number in ("I-2", "I-3"):
        (found,) = [r for r in sync.invoices() if r["RefNumber"] == number]
        ret = sync.company.record(found["TxnID"])
        assert ret is not None
        by_ref[number] = ret
    for ret in by_ref.values():
        assert ret.findtext("ItemSalesTaxRef/FullName") == "State Tax"
    assert by_ref["I-2"].findtext("InvoiceLineRet/SalesTaxCodeRef/FullName") == "Tax"
    assert by_ref["I-3"].findtext("InvoiceLineRet/SalesTaxCodeRef/FullName") == "Non"


def test_the_request_is_valid_against_intuits_schema() -> None:
    settings = load_settings({"sales_tax_item": "State Tax"})
    assert isinstance(settings, TenantSettings)

    known = IdMapping(tenant_id="t-1", entity="customer", external_id="c-1", qb_id="80-1")

    def resolve(entity: str, entity_id: str) -> IdMapping | None:
        return known if (entity, entity_id) == ("customer", "c-1") else None

    outcome = plan(
        taxed("i-9", code="non-taxable"),
        Context("p-1", None, settings, resolve),
        command_id="c",
        now=datetime.now(UTC),
    )
    assert isinstance(outcome, Command), outcome
    xml = outcome.request_xml
    assert "<ItemSalesTaxRef><FullName>State Tax</FullName></ItemSalesTaxRef>" in xml
    assert "<SalesTaxCodeRef><FullName>Non</FullName></SalesTaxCodeRef>" in xml
    assert_valid_qbxml(build_message([("1", xml)], version="13.0"), find_reference())
    # A name QuickBooks cannot take, with no mapping, is refused naming the setting.
    refused = plan(
        taxed("i-8", code="Reduced Rate"),
        Context("p-1", None, settings, resolve),
        command_id="c",
        now=datetime.now(UTC),
    )
    assert not isinstance(refused, Command)
    assert "sales_tax_codes" in str(refused)
