"""Credit memos and estimates read from QuickBooks Online (issue 19): a credit memo entered
in QBO comes back by CDC and reaches the app as a negative invoice numbered ``CM<ref>``, an
estimate as the app's estimate (``QuickBooksChange``, CREATED), once each, for a tenant that
gets them from QuickBooks; a tenant that only sends does not. Real worker, real Kafka,
sandbox over HTTP."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec
from core.settings import Settings
from tests.support.qbo import StartOnline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550005555"
GETS, SENDS = "q-get", "q-send"


def test_credit_memos_and_estimates_in_qbo_reach_the_app(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "CreditMemo,Estimate"
    online = start_online(tenants=(GETS, SENDS))
    online.run.store.update_tenant_settings(
        GETS, {"direction": {"invoice": "from_quickbooks", "estimate": "from_quickbooks"}}
    )
    consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
    consumer.assign(
        [
            TopicPartition(settings.topics.changes, p, 0)
            for p in range(settings.topics.results_partitions)
        ]
    )
    changes: list[dict[str, Any]] = []
    try:
        _s, made = company.create("Customer", {"DisplayName": "Hopper, Grace"})
        customer_id = made["Customer"]["Id"]
        status, memo = company.create(
            "CreditMemo",
            {
                "CustomerRef": {"value": customer_id},
                "TxnDate": "2026-03-04",
                "PrivateNote": "Filters returned",
                "Line": [
                    {
                        "Amount": 80.0,
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
                    }
                ],
            },
        )
        assert status == 200
        number = memo["CreditMemo"]["DocNumber"]
        status, quote = company.create(
            "Estimate",
            {
                "CustomerRef": {"value": customer_id, "name": "Hopper, Grace"},
                "TxnDate": "2026-03-05",
                "TxnStatus": "Pending",
                "Line": [
                    {
                        "Amount": 370.0,
                        "Description": "Two filters",
                        "DetailType": "SalesItemLineDetail",
                        "SalesItemLineDetail": {
                            "ItemRef": {"value": "1"},
                            "Qty": 2,
                            "UnitPrice": 185,
                        },
                    }
                ],
            },
        )
        assert status == 200

        def poll() -> list[dict[str, Any]]:
            online.drain()  # a drain, then the due read (the first read is due)
            for message in consumer.consume(100, timeout=0.5):
                if message.error() is None:
                    changes.append(codec.decode(message.value() or b"")[1])
            found = [c for c in changes if c["entity"] in ("invoice", "estimate")]
            return found if len(found) >= 2 else []

        until(poll, timeout=120, what="the credit memo and the estimate read back")
        for _ in range(4):  # more reads: nothing more arrives (once, and not for SENDS)
            poll()
        (change,) = [c for c in changes if c["entity"] == "invoice"]
        (estimate,) = [c for c in changes if c["entity"] == "estimate"]
        assert (change["tenant_id"], change["kind"]) == (GETS, "CREATED")
        assert change["qb_id"] == memo["CreditMemo"]["Id"]
        invoice = change["invoice"]
        assert invoice["ref_number"] == f"CM{number}"
        assert invoice["total"] == Decimal("-80.00")
        assert invoice["balance_remaining"] == Decimal("-80.00")
        assert invoice["is_paid"] is False
        # What the app needs to enter it: whose, when, why (a customer entered in QBO: no
        # app id, named as QBO names it).
        assert invoice["customer"] == {"id": None, "full_name": "Hopper, Grace"}
        assert (invoice["txn_date"], invoice["memo"]) == (date(2026, 3, 4), "Filters returned")
        # The estimate (from QBO only) as the app's estimate, its customer by name.
        assert (estimate["tenant_id"], estimate["kind"]) == (GETS, "CREATED")
        assert estimate["qb_id"] == quote["Estimate"]["Id"]
        body = estimate["estimate"]
        # A customer the app does not have (entered in QBO): named, no app id.
        assert body["customer"] == {"id": None, "full_name": "Hopper, Grace"}
        assert (body["ref_number"], body["status"]) == (quote["Estimate"]["DocNumber"], "DRAFT")
        (line,) = body["lines"]
        assert (line["description"], line["amount"]) == ("Two filters", Decimal("370.00"))
    finally:
        consumer.close()
