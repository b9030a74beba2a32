""" "Get all" only after mapping (streams/two_way/get_all.py): which app entities a full
read could deliver as new, and who must have confirmed their mapping first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.store import Tenant
from core.contracts import AvroCodec
from core.settings import TopicSettings
from streams.flows._step import Outbox, Source
from streams.flows.translate import Known, plan_event
from streams.tenant_settings import load_settings
from streams.two_way.from_quickbooks import ImportRefused
from streams.two_way.get_all import MAP_FIRST, delivered_as_new, require_mapped


def test_a_full_read_delivers_what_follows_the_tenants_direction() -> None:
    assert delivered_as_new(["customer"]) == ["customer", "job"]  # jobs are customers there
    assert delivered_as_new(["item"]) == ["cost_code", "item"]
    # Accounts and classes are the apps' entities too (direction.account, direction.class).
    assert delivered_as_new(["account", "class"]) == ["account", "class"]
    # Kept in the store only (matching, reference checks): nothing told to the apps.
    assert delivered_as_new(["terms", "sales_tax_code"]) == []
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
    require_mapped(["account"], tenants, {})  # no tenant gets accounts: nothing to confirm


def test_a_tenant_whose_settings_do_not_validate_must_confirm_too() -> None:
    with pytest.raises(ImportRefused, match=r"customer for tenant 't-9' is not confirmed \(and"):
        require_mapped(["customer"], {"t-9": None}, {})
    require_mapped(["customer"], {"t-9": None}, {"t-9": ["customer", "job"]})


@pytest.mark.parametrize(
    ("confirmed", "refused"),
    [([], True), (["customer"], True), (["customer", "job"], False)],
)
def test_a_get_all_planned_without_its_company_read_stays_closed(
    confirmed: list[str], refused: bool
) -> None:
    """The pipeline reads the company's tenants for a batch with a "get all"; planned without
    them, the asking tenant must still have confirmed its mapping."""
    codec = AvroCodec()
    outbox = Outbox(TopicSettings(), codec)
    tenant = Tenant(id="t-1", name="T", profile_id="p-1", settings={}, created_at=datetime.now(UTC))
    # No known.companies: settings unknown, so both entities a customer read gives count.
    known = Known(tenants={"t-1": tenant}, confirmed={"t-1": confirmed})
    event = {
        "envelope": {"tenant_id": "t-1", "entity": "import", "entity_id": "req-1"},
        "import": {"entities": ["customer"], "everything": True},
    }
    source = Source("events", 0, 7, b"t-1", b"event bytes")
    step = plan_event(
        outbox,
        source,
        event,
        known,
        parked=None,
        now=0.0,
        command_id="c-1",
        import_entities={"qbxml": ("customer",)},
    )
    if refused:
        (letter,) = step.send
        assert codec.decode(letter[2])[1]["code"] == MAP_FIRST
        assert step.writes.imports == []
    else:
        assert step.send == []
        assert step.writes.imports == [("p-1", ("customer",), "deliver")]
