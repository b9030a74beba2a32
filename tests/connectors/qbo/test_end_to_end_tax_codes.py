"""Sales tax codes by name over QuickBooks Online (issue 19): a code the tenant names
(``GST``: a company outside the US, whose codes have numeric Ids) is sent as the company's
``TaxCode`` Id, looked up once for a batch of invoices (the realm's names are cached); a name
the company lacks is a dead letter naming the setting and the codes the company has; a
cached Id QBO no longer takes (2500: the code made inactive and set up again) is looked up
afresh and the invoice written once. Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, dead_lettered, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001931"
TENANT = "q-1"


def invoice(entity_id: str, code: str | None = None) -> dict[str, Any]:
    return qbo_event(
        TENANT,
        "invoice",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [
                {
                    "line_id": "l1",
                    "item": {"id": "itm-service"},
                    "amount": "100.00",
                    "sales_tax_code": {"full_name": code} if code else None,
                }
            ],
        },
    )


def test_tax_codes_by_name_are_looked_up_once_refused_when_unknown_and_refreshed(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    gst = company.add_tax_code("GST", "Goods and services tax")
    zero = company.add_tax_code("Zero-rated", taxable=False)

    def tax_codes_of(number: str) -> list[Any]:
        (found,) = [i for i in company.all("Invoice") if i["DocNumber"] == number]
        return [
            line["SalesItemLineDetail"]["TaxCodeRef"]["value"]
            for line in found["Line"]
            if line.get("DetailType") == "SalesItemLineDetail"
        ]

    def tax_code_reads() -> int:
        return sum(1 for q in company.queries if q.startswith("select * from TaxCode"))

    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    store = online.run.store
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    store.update_tenant_settings(TENANT, {"qbo_item_defaults": {"tax_code": "GST"}})
    publish(customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}))
    until(lambda: synced("customer", "c-1"), step=drain, timeout=120, what="c-1")

    # A batch: the default by name, a line's own code by name, and US TAX as it is.
    numbers = [f"inv-{n}" for n in range(6)]
    publish(*(invoice(n) for n in numbers[:4]), invoice("inv-4", "Zero-rated"))
    publish(invoice("inv-5", "Taxable"))
    for number in numbers:
        until(lambda n=number: synced("invoice", n), step=drain, timeout=120, what=number)
    for number in numbers[:4]:
        assert tax_codes_of(number.upper()) == [gst]
    assert tax_codes_of("INV-4") == [zero]
    assert tax_codes_of("INV-5") == ["TAX"]
    assert tax_code_reads() == 1  # one read of the company's codes for the six

    # A name the company lacks: a dead letter naming the setting and the codes it has.
    store.update_tenant_settings(TENANT, {"qbo_item_defaults": {"tax_code": "VAT"}})
    publish(invoice("inv-vat"))
    (dead,) = until(dead_lettered(online, "inv-vat"), timeout=120, what="inv-vat dead")
    assert "TaxCodeRef" in dead["reason"]
    assert "'VAT'" in dead["reason"]
    assert "qbo_item_defaults.tax_code" in dead["reason"]
    for known in ("GST", "NON", "TAX", "Zero-rated"):
        assert known in dead["reason"]
    assert "INV-VAT" not in {i["DocNumber"] for i in company.all("Invoice")}

    # GST made inactive in QBO and set up again: the cached Id answers 2500; the names
    # are read again and the invoice is written once, with the new Id.
    company.edit("TaxCode", gst, {"Active": False})
    new_gst = company.add_tax_code("GST", "Goods and services tax (new)")
    store.update_tenant_settings(TENANT, {"qbo_item_defaults": {"tax_code": "GST"}})
    reads = tax_code_reads()
    publish(invoice("inv-new"))
    until(lambda: synced("invoice", "inv-new"), step=drain, timeout=120, what="inv-new")
    assert tax_codes_of("INV-NEW") == [new_gst]
    assert tax_code_reads() == reads + 1
