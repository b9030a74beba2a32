"""Which imported QuickBooks records are news for the app (pure rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from streams.tenant_settings import TenantSettings
from streams.two_way import Deliver, Drop, Version, decide
from streams.two_way.from_quickbooks import AppRecord, Follows

T = datetime(2026, 11, 22, 12, tzinfo=UTC)
TWO_WAY = TenantSettings(direction={"customer": "two_way", "vendor": "from_quickbooks"})


def record(
    entity: str = "customer",
    *,
    active: bool = True,
    follows: Follows = "direction",
    refers_to_ours: bool = False,
) -> AppRecord:
    return AppRecord(entity, {}, (), active, follows=follows, refers_to_ours=refers_to_ours)


def version(sequence: str, at: datetime = T) -> Version:
    return Version(sequence, at)


def test_a_record_the_app_has_under_another_entity_is_not_offered_as_new() -> None:
    vendor = record("vendor")  # a 1099 worker the app synced as an employee
    decision = decide(TWO_WAY, vendor, version("2"), ours=None, delivered=None, elsewhere=True)
    assert decision == Drop("mapped-elsewhere")


@pytest.mark.parametrize(
    ("shape", "ours", "delivered", "expected"),
    [
        # direction
        (record("item"), None, None, Drop("one-way")),  # items: to_quickbooks by default
        (record("vendor"), None, None, Deliver("CREATED")),  # from_quickbooks
        (record(), None, None, Deliver("CREATED")),  # two_way, added in QuickBooks
        (record(), version("1"), None, Deliver("UPDATED")),
        (record(active=False), version("1"), None, Deliver("DEACTIVATED")),
        # our own write read back
        (record(), version("2"), None, Drop("echo")),
        (record(), None, version("2"), Drop("seen")),  # recorded by the gateway, unsettled
        # delivered already (the rewound minute), or older than what was delivered
        (record(), version("1"), version("2"), Drop("seen")),
        (record(), version("1"), version("3", T + timedelta(minutes=1)), Drop("seen")),
        (record(), version("1"), version("1", T - timedelta(minutes=1)), Deliver("UPDATED")),
        # an invoice's paid status: only for invoices qbsync synced, whatever the direction
        (record("invoice", follows="mapped"), None, None, Drop("not-ours")),
        (record("invoice", follows="mapped"), version("1"), None, Deliver("UPDATED")),
        # a payment: when it pays one of our invoices
        (record("payment", follows="our_invoices"), None, None, Drop("not-ours")),
        (
            record("payment", follows="our_invoices", refers_to_ours=True),
            None,
            None,
            Deliver("CREATED"),
        ),
    ],
)
def test_decide(
    shape: AppRecord, ours: Version | None, delivered: Version | None, expected: object
) -> None:
    assert decide(TWO_WAY, shape, version("2"), ours=ours, delivered=delivered) == expected


@pytest.mark.parametrize(
    ("shape", "ours", "expected"),
    [
        # another tenant of the shared file holds it: never this tenant's news
        (record(), None, Drop("other-tenant")),
        (
            record("payment", follows="our_invoices", refers_to_ours=True),
            None,
            Drop("other-tenant"),
        ),
        # this tenant maps it too (it adopted it first): its own rules apply
        (record(), version("1"), Deliver("UPDATED")),
    ],
)
def test_a_record_another_tenant_of_the_file_holds_is_not_news(
    shape: AppRecord, ours: Version | None, expected: Deliver | Drop
) -> None:
    decision = decide(TWO_WAY, shape, version("2"), ours=ours, delivered=None, other_tenant=True)
    assert decision == expected


def test_the_retainage_item_is_never_offered_as_a_cost_code() -> None:
    settings = TenantSettings(
        direction={"cost_code": "from_quickbooks"}, retainage_item="Retainage Payable"
    )
    retainage = AppRecord(
        "cost_code", {"item": {"id": None, "full_name": "retainage payable"}}, (), True
    )
    concrete = AppRecord("cost_code", {"item": {"id": None, "full_name": "03-300"}}, (), True)
    assert decide(settings, retainage, version("1"), ours=None, delivered=None) == Drop(
        "retainage-item"
    )
    assert decide(settings, concrete, version("1"), ours=None, delivered=None) == Deliver("CREATED")
