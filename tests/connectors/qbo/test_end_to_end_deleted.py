"""A transaction deleted in QuickBooks Online reaches the app whose record it was (issue 19,
reading back): the bookkeeper deletes an invoice the app sent; the next read (CDC: the
record's ``"status": "Deleted"``) tells the app once, as a ``QuickBooksChange`` with
``deleted`` set and kind ``DEACTIVATED``; an invoice entered and deleted in QBO that the
app never had is told to no one; reading again tells nothing more; the app changing the
invoice afterwards creates it anew. Real worker, real Kafka, the QBO sandbox over HTTP,
SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed, qbo_event
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550004411"
TENANT = "q-1"


def invoice(amount: str) -> dict[str, Any]:
    return qbo_event(
        TENANT,
        "invoice",
        "inv-1",
        {
            "customer": {"id": "c-1"},
            "txn_date": "2026-03-02",
            "ref_number": "INV-1",
            "status": "READY_FOR_SYNC",
            "lines": [{"line_id": "l1", "item": {"id": "itm-service"}, "amount": amount}],
        },
    )


def test_an_invoice_deleted_in_qbo_is_told_to_its_app_once(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    settings.qbo.read_entities = "Invoice"
    settings.qbo.read_interval_s = 3600.0  # only the reads the test asks for
    online = start_online()
    store = online.run.store
    store.save_mapping(Mapping(TENANT, "item", "itm-service", "1", "0", "Services"))
    online.publish(
        qbo_event(TENANT, "customer", "c-1", {"last_name": "Hopper", "first_name": "Grace"}),
        invoice("90.00"),
    )
    until(
        lambda: online.synced("invoice", "inv-1") is not None,
        step=online.drain,
        timeout=120,
        what="the app's invoice in QBO",
    )
    sent = online.synced("invoice", "inv-1")
    assert sent is not None
    # An invoice the bookkeeper enters and deletes in QBO: never the app's.
    (customer,) = company.all("Customer")
    line = {"Amount": 10.0, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    status, body = company.create(
        "Invoice", {"CustomerRef": {"value": customer["Id"]}, "Line": [line], "DocNumber": "X-1"}
    )
    assert status == 200
    online.read_again("invoice")  # the app's invoice read back (our own write), and X-1

    kept = {r.qb_id for r in store.qb_records(online.profile_id, "invoice")}
    assert {sent.qb_id, body["Invoice"]["Id"]} <= kept  # offered for matching
    company.remove("Invoice", sent.qb_id)
    company.remove("Invoice", body["Invoice"]["Id"])
    with changes_feed(settings, online.codec) as feed:
        online.read_again("invoice")

        def told() -> list[dict[str, Any]]:
            return [c for c in feed() if c["deleted"]]

        (change,) = until(told, timeout=60, what="the deletion told to the app")
        assert (change["tenant_id"], change["entity"], change["entity_id"]) == (
            TENANT,
            "invoice",
            "inv-1",
        )
        assert (change["kind"], change["qb_id"]) == ("DEACTIVATED", sent.qb_id)
        assert change["invoice"] is None
        # Neither is offered for matching any more (``qbsync map unmapped``).
        kept = {r.qb_id for r in store.qb_records(online.profile_id, "invoice")}
        assert not kept & {sent.qb_id, body["Invoice"]["Id"]}

        # Read once more (CDC still returns the deleted rows): nothing new.
        before = len(feed())
        online.read_again("invoice")
        assert len(feed()) == before
        assert [c["entity_id"] for c in feed() if c["deleted"]] == ["inv-1"]

    # The app changes its invoice after all: QBO's 610, created anew, the mapping follows.
    online.publish(invoice("95.00"))

    def anew() -> bool:
        now = online.synced("invoice", "inv-1")
        return now is not None and now.qb_id != sent.qb_id

    until(anew, step=online.drain, timeout=120, what="the invoice created again")
    (again,) = company.all("Invoice")
    assert again["TotalAmt"] == 95.0
