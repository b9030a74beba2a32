""" "Get all" only after mapping (streams/two_way/get_all.py): which app entities a full
read could deliver as new, and who must have confirmed their mapping first."""

from __future__ import annotations

import pytest

from streams.tenant_settings import load_settings
from streams.two_way.from_quickbooks import ImportRefused
from streams.two_way.get_all import MAP_FIRST, delivered_as_new, require_mapped


def test_a_full_read_delivers_what_follows_the_tenants_direction() -> None:
    assert delivered_as_new(["customer"]) == ["customer", "job"]  # jobs are customers there
    assert delivered_as_new(["item"]) == ["cost_code", "item"]
    # Kept in the store only (matching, reference checks): nothing told to the apps.
    assert delivered_as_new(["account", "class", "terms", "sales_tax_code"]) == []
    # A payment reaches the app only when it pays an invoice qbsync synced: never new.
    assert delivered_as_new(["receive_payment"]) == []


def test_every_tenant_getting_the_entity_must_have_confirmed_it() -> None:
    gets = load_settings({"direction": {"customer": "two_way", "job": "from_quickbooks"}})
    sends_only = load_settings({})  # app -> QuickBooks: told nothing, nothing to confirm
    tenants = {"t-1": gets, "t-2": sends_only}
    with pytest.raises(ImportRefused) as refused:
        require_mapped(["customer"], tenants, {"t-1": {"customer"}})
    assert refused.value.code == MAP_FIRST
    message = str(refused.value)
    assert "job" in message
    assert "'t-1'" in message
    assert "qbsync map done --tenant t-1 --entity job" in message
    require_mapped(["customer"], tenants, {"t-1": {"customer", "job"}})  # nothing raised
    require_mapped(["account"], tenants, {})  # store only: no confirmation needed


def test_a_tenant_whose_settings_do_not_validate_must_confirm_too() -> None:
    with pytest.raises(ImportRefused, match=r"customer for tenant 't-9' is not confirmed \(and"):
        require_mapped(["customer"], {"t-9": None}, {})
    require_mapped(["customer"], {"t-9": None}, {"t-9": ["customer", "job"]})
