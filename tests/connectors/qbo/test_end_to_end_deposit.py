"""A payment's deposit account over QuickBooks Online (issue 19): by default nothing is sent
and QBO deposits to Undeposited Funds; a configured bank account (``deposit_to=account``,
``deposit_account``) is sent as the company's account ``Id`` (Intuit takes references by
``value``; the sandbox refuses a name alone, 2500); a configured account the company lacks is
a dead letter naming the setting, nothing written. Real worker, real Kafka, the QBO sandbox
over HTTP."""

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

REALM = "5550001922"
TENANT = "q-1"


def invoice(entity_id: str) -> dict[str, Any]:
    return qbo_event(
        TENANT,
        "invoice",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-02",
            "ref_number": entity_id.upper(),
            "status": "READY_FOR_SYNC",
            "lines": [{"line_id": "l1", "item": {"id": "itm-service"}, "amount": "100.00"}],
        },
    )


def payment(entity_id: str, invoice_id: str) -> dict[str, Any]:
    return qbo_event(
        TENANT,
        "payment",
        entity_id,
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-20",
            "amount": "100.00",
            "applied_to": [{"transaction": {"id": invoice_id}, "amount": "100.00"}],
        },
    )


def test_deposit_account_is_sent_by_id_defaults_to_undeposited_funds_and_unknown_is_refused(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only
    status, made = company.create("Account", {"Name": "Operating Checking", "AccountType": "Bank"})
    assert status == 200
    checking = made["Account"]["Id"]
    online = start_online()
    publish, drain, synced = online.publish, online.drain, online.synced
    store = online.run.store
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    publish(
        customer_event(TENANT, "c-1", {"company_name": "Harbor Dental"}),
        invoice("inv-1"),
        invoice("inv-2"),
        invoice("inv-3"),
    )
    until(lambda: synced("invoice", "inv-3"), step=drain, timeout=120, what="invoices")

    def paid(entity_id: str) -> dict[str, Any]:
        mapping = synced("payment", entity_id)
        assert mapping is not None
        (found,) = [p for p in company.all("Payment") if p["Id"] == mapping.qb_id]
        return found

    # Default: nothing sent, QBO's Undeposited Funds.
    publish(payment("pmt-1", "inv-1"))
    until(lambda: synced("payment", "pmt-1"), step=drain, timeout=120, what="pmt-1")
    funds = [a for a in company.all("Account") if a.get("AccountSubType") == "UndepositedFunds"]
    assert paid("pmt-1")["DepositToAccountRef"]["value"] == funds[0]["Id"]

    # A configured bank account: sent as the company's Id, not by name.
    store.update_tenant_settings(
        TENANT, {"deposit_to": "account", "deposit_account": "Operating Checking"}
    )
    publish(payment("pmt-2", "inv-2"))
    until(lambda: synced("payment", "pmt-2"), step=drain, timeout=120, what="pmt-2")
    assert paid("pmt-2")["DepositToAccountRef"]["value"] == checking

    # An account the company lacks: a dead letter naming the setting; nothing written.
    store.update_tenant_settings(
        TENANT, {"deposit_to": "account", "deposit_account": "Nowhere Savings"}
    )
    publish(payment("pmt-3", "inv-3"))

    (dead,) = until(dead_lettered(online, "pmt-3"), timeout=120, what="pmt-3 dead-lettered")
    assert "DepositToAccountRef" in dead["reason"]
    assert "'Nowhere Savings'" in dead["reason"]
    assert "deposit_account" in dead["reason"]
    assert synced("payment", "pmt-3") is None
    assert len(company.all("Payment")) == 2
