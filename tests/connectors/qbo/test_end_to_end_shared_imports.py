"""Two tenants on one QuickBooks Online company, reading customers back two-way (issue 19):
QBO numbers each entity apart, so an invoice of the same Id as a customer is another record.
A customer entered by hand reaches both tenants even when one of them maps an Invoice of
that Id (it was dropped as ``other-tenant`` for the other tenant, and as
``mapped-elsewhere`` for the one mapping the invoice); a customer one tenant holds still
goes to that tenant alone. Real worker, real Kafka, CDC from the QBO sandbox over HTTP.

The sandbox numbers all entities from one counter, so the invoice mapping of a customer's
Id is saved in the store as the worker saves one after writing an invoice that QBO
numbered so."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from connectors.store import Mapping
from core.contracts import AvroCodec
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001942"
TENANTS = ("q-1", "q-2")


def test_a_customer_is_not_held_by_another_tenants_invoice_of_the_same_id(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 1.0
    online = start_online(tenants=TENANTS)
    store = online.run.store
    for tenant in TENANTS:
        store.update_tenant_settings(tenant, {"direction": {"customer": "two_way"}})

    def made(name: str) -> str:
        status, answer = company.create("Customer", {"DisplayName": name})
        assert status == 200, answer
        return str(answer["Customer"]["Id"])

    babbage = made("Babbage Co")
    hopper = made("Hopper Inc")
    store.save_mapping(Mapping("q-2", "invoice", "inv-9", babbage, "0", "INV-9"))
    store.save_mapping(Mapping("q-2", "customer", "c-20", hopper, "0", "Hopper Inc"))
    sentinels = itertools.count()

    with changes_feed(settings, codec) as changes:

        def of(tenant: str, qb_id: str) -> list[dict[str, Any]]:
            return [c for c in changes() if c["tenant_id"] == tenant and c["qb_id"] == qb_id]

        def settle() -> None:
            """A customer entered by hand reaches both tenants: once both have it, what
            was read before it has been reconciled. Twice (page order)."""
            for _ in range(2):
                sentinel = made(f"Sentinel {next(sentinels)}")

                def arrived(qb_id: str = sentinel) -> bool:
                    online.drain()
                    return all(of(t, qb_id) for t in TENANTS)

                until(arrived, timeout=120, what=f"sentinel {sentinel} for both tenants")

        settle()
        for tenant in TENANTS:  # nobody's customer yet: offered to both
            (offered,) = of(tenant, babbage)
            assert (offered["entity"], offered["kind"]) == ("customer", "CREATED")
            assert offered["entity_id"] is None
        assert of("q-1", hopper) == []  # q-2's customer
        assert of("q-2", hopper) == []  # q-2's own, unchanged: an echo

        company.edit("Customer", hopper, {"CompanyName": "Hopper Inc."})
        settle()
        assert of("q-1", hopper) == []
        (edited,) = of("q-2", hopper)
        assert (edited["entity_id"], edited["kind"]) == ("c-20", "UPDATED")
