"""Expenses paid at once read back from QuickBooks Online (issue 19): a check and a
credit-card charge entered in QBO (``Purchase``) come back by CDC and reach the app as
``QuickBooksChange`` events (entity ``expense``), once each, for a tenant that gets expenses
from QuickBooks (``direction.expense``); the payee is the app's vendor when qbsync synced it.
Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001212"
TENANT = "q-1"


def test_checks_and_card_charges_in_qbo_reach_the_app_as_expenses(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "Purchase"
    settings.qbo.read_interval_s = 1.0
    _s, bank = company.create("Account", {"Name": "Checking", "AccountType": "Bank"})
    _s, card = company.create("Account", {"Name": "Visa", "AccountType": "Credit Card"})
    _s, fuel = company.create("Account", {"Name": "Fuel", "AccountType": "Expense"})
    online = start_online()
    online.run.store.update_tenant_settings(TENANT, {"direction": {"expense": "from_quickbooks"}})
    online.publish(
        qbo_event(TENANT, "vendor", "v-1", {"kind": "SUPPLIER", "company_name": "Fuel Stop"})
    )
    until(lambda: online.synced("vendor", "v-1"), step=online.drain, timeout=120, what="v-1")
    vendor_id = online.synced("vendor", "v-1").qb_id  # type: ignore[union-attr]
    with changes_feed(settings, codec) as changes:

        def purchase(kind: str, account: dict[str, Any], amount: float) -> dict[str, Any]:
            status, made = company.create(
                "Purchase",
                {
                    "PaymentType": kind,
                    "AccountRef": {"value": account["Account"]["Id"], "name": "paid from"},
                    "EntityRef": {"value": vendor_id, "name": "Fuel Stop", "type": "Vendor"},
                    "DocNumber": f"{kind[:2].upper()}-7",
                    "TxnDate": "2026-03-09",
                    "PrivateNote": "Van fuel",
                    "Line": [
                        {
                            "Amount": amount,
                            "Description": "Diesel",
                            "DetailType": "AccountBasedExpenseLineDetail",
                            "AccountBasedExpenseLineDetail": {
                                "AccountRef": {"value": fuel["Account"]["Id"], "name": "Fuel"},
                                "BillableStatus": "NotBillable",
                            },
                        }
                    ],
                },
            )
            assert status == 200
            return dict(made["Purchase"])

        check = purchase("Check", bank, 84.5)
        charge = purchase("CreditCard", card, 61.25)

        def poll() -> list[dict[str, Any]]:
            online.drain()
            found = [c for c in changes() if c["entity"] == "expense"]
            return found if len(found) >= 2 else []

        until(poll, timeout=120, what="the check and the card charge read back")
        for _ in range(3):  # more reads: nothing more arrives
            poll()
        expenses = [c for c in changes() if c["entity"] == "expense"]
        assert len(expenses) == 2
        by_id = {c["qb_id"]: c for c in expenses}
        paid_by_check = by_id[check["Id"]]
        assert (paid_by_check["kind"], paid_by_check["entity_id"]) == ("CREATED", None)
        expense = paid_by_check["expense"]
        assert expense["payment_type"] == "CHECK"
        # QBO names a reference by the record's own name, whatever the request said.
        assert expense["paid_from"]["full_name"] == "Checking"
        assert expense["payee"]["id"] == "v-1"  # the app's vendor
        assert (expense["ref_number"], expense["txn_date"]) == ("CH-7", date(2026, 3, 9))
        assert (expense["total"], expense["memo"]) == (Decimal("84.50"), "Van fuel")
        (line,) = expense["expense_lines"]
        assert (line["account"]["full_name"], line["amount"]) == ("Fuel", Decimal("84.50"))
        assert line["memo"] == "Diesel"
        assert expense["item_lines"] == []
        by_card = by_id[charge["Id"]]["expense"]
        assert (by_card["payment_type"], by_card["total"]) == ("CREDIT_CARD", Decimal("61.25"))
