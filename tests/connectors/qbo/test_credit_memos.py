"""Credit memos read from QuickBooks Online (issue 19): a credit memo entered in QBO comes
back by CDC and reaches the app as a negative invoice numbered ``CM<ref>`` (a
``QuickBooksChange``, CREATED), once, for a tenant that gets invoices from QuickBooks; a
tenant that only sends invoices does not get it. Real worker, real Kafka, sandbox over HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.qbo_sandbox import QboSandbox
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.qbo import qbo_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550005555"
GETS, SENDS = "q-get", "q-send"


@pytest.fixture
def sandbox() -> Iterator[tuple[QboSandbox, str]]:
    value = QboSandbox()
    value.add_company(REALM)
    with value.serve() as url:
        yield value, url


def test_a_credit_memo_in_qbo_reaches_the_app_as_a_negative_cm_invoice(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    sandbox: tuple[QboSandbox, str],
) -> None:
    qbo, url = sandbox
    codec = AvroCodec()
    settings.qbo.read_entities = "CreditMemo"
    with qbo_pipeline(
        broker, settings, database_url, tmp_path, qbo, url, REALM, tenants=(GETS, SENDS)
    ) as online:
        online.run.store.update_tenant_settings(GETS, {"direction": {"invoice": "from_quickbooks"}})
        consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
        consumer.assign(
            [
                TopicPartition(settings.topics.changes, p, 0)
                for p in range(settings.topics.results_partitions)
            ]
        )
        changes: list[dict[str, Any]] = []
        try:
            company = qbo.company(REALM)
            _s, made = company.create("Customer", {"DisplayName": "Hopper, Grace"})
            customer_id = made["Customer"]["Id"]
            status, memo = company.create(
                "CreditMemo",
                {
                    "CustomerRef": {"value": customer_id},
                    "TxnDate": "2026-03-04",
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

            def poll() -> list[dict[str, Any]]:
                online.drain()  # a drain, then the due read (the first read is due)
                for message in consumer.consume(100, timeout=0.5):
                    if message.error() is None:
                        changes.append(codec.decode(message.value() or b"")[1])
                return [c for c in changes if c["entity"] == "invoice"]

            (change,) = until(poll, timeout=120, what="the credit memo read back")
            for _ in range(4):  # more reads: nothing more arrives (once, and not for SENDS)
                poll()
            (again,) = [c for c in changes if c["entity"] == "invoice"]
            assert again == change
            assert (change["tenant_id"], change["kind"]) == (GETS, "CREATED")
            assert change["qb_id"] == memo["CreditMemo"]["Id"]
            invoice = change["invoice"]
            assert invoice["ref_number"] == f"CM{number}"
            assert invoice["total"] == Decimal("-80.00")
            assert invoice["balance_remaining"] == Decimal("-80.00")
            assert invoice["is_paid"] is False
        finally:
            consumer.close()
