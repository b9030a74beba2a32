"""The overwrite rules end to end beyond customers (issue 19): an item and a vendor edited in
QBO after qbsync synced them, then changed in the app. QBO answers the app's change as a
stale object (5010); the sender re-reads it and decides by the tenant's rule for the entity:
``never`` (QBO never overwrites the app: the app's change is written), ``always`` (QBO's
version stands: nothing written, a conflict), ``most_recent`` (the later change wins: the
app's ``source_updated_at`` against QBO's ``MetaData.LastUpdatedTime``, both UTC). One
tenant per rule on one QBO company. Real worker, real Kafka, the QBO sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import validate_event
from core.settings import Settings
from tests.support.qbo import StartOnline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550009999"
# tenant -> (rule, app's change relative to QBO's edit, whose version QBO ends with)
CASES = {
    "q-never": ("never", timedelta(hours=-1), "app"),
    "q-always": ("always", timedelta(hours=1), "quickbooks"),
    "q-recent-old": ("most_recent", timedelta(hours=-1), "quickbooks"),
    "q-recent-new": ("most_recent", timedelta(hours=1), "app"),
}


def event(
    tenant: str, entity: str, payload: dict[str, Any], at: datetime | None = None
) -> dict[str, Any]:
    envelope = {
        "tenant_id": tenant,
        "source_system": "test",
        "entity_id": f"{entity}-1",
        "source_updated_at": (at or datetime.now(UTC)).isoformat(),
    }
    return validate_event(f"{entity}.upserted", {"envelope": envelope, entity: payload})


def item(tenant: str, price: str, at: datetime | None = None) -> dict[str, Any]:
    payload = {"name": f"Tune-up {tenant}", "item_type": "SERVICE", "price": price}
    return event(tenant, "item", payload, at)


def vendor(tenant: str, phone: str, at: datetime | None = None) -> dict[str, Any]:
    payload = {"kind": "SUPPLIER", "company_name": f"Supply {tenant}", "phone": phone}
    return event(tenant, "vendor", payload, at)


def test_never_always_and_most_recent_for_items_and_vendors(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    settings.qbo.read_entities = ""  # writes only: the sender decides at the 5010
    online = start_online(tenants=tuple(CASES))
    store, drain = online.run.store, online.drain
    for tenant, (rule, _offset, _wins) in CASES.items():
        store.update_tenant_settings(
            tenant,
            {
                "direction": {"item": "two_way", "vendor": "two_way"},
                "conflict": {"item": rule, "vendor": rule},
            },
        )
    online.publish(*(e for t in CASES for e in (item(t, "40.00"), vendor(t, "555-0100"))))

    def mapped(tenant: str, entity: str) -> str | None:
        found = store.mapping(tenant, entity, f"{entity}-1")
        return found.qb_id if found else None

    until(
        lambda: all(mapped(t, e) for t in CASES for e in ("item", "vendor")),
        step=drain,
        timeout=120,
        what="every item and vendor in QBO",
    )
    # Edited in QBO by hand: new SyncToken, LastUpdatedTime now (UTC).
    edited_at: dict[str, datetime] = {}
    for tenant in CASES:
        done = company.edit("Item", str(mapped(tenant, "item")), {"UnitPrice": 99.0})
        company.edit(
            "Vendor",
            str(mapped(tenant, "vendor")),
            {"PrimaryPhone": {"FreeFormNumber": "555-QBO"}},
        )
        edited_at[tenant] = datetime.fromisoformat(done["MetaData"]["LastUpdatedTime"])
    before = {e.command_id for t in CASES for e in store.sync_log(t)}
    online.publish(
        *(
            e
            for t, (_rule, offset, _wins) in CASES.items()
            for e in (
                item(t, "50.00", edited_at[t] + offset),
                vendor(t, "555-APP", edited_at[t] + offset),
            )
        )
    )

    def answered(tenant: str, entity: str) -> str | None:
        done = [
            e.status
            for e in store.sync_log(tenant)
            if e.entity == entity
            and e.command_id not in before
            and e.status in ("synced", "conflict")
        ]
        return done[-1] if done else None

    until(
        lambda: all(answered(t, e) for t in CASES for e in ("item", "vendor")),
        step=drain,
        timeout=120,
        what="every app change answered",
    )
    items = {i["Id"]: i for i in company.all("Item")}
    vendors = {v["Id"]: v for v in company.all("Vendor")}
    for tenant, (rule, _offset, wins) in CASES.items():
        price = items[str(mapped(tenant, "item"))]["UnitPrice"]
        phone = vendors[str(mapped(tenant, "vendor"))]["PrimaryPhone"]["FreeFormNumber"]
        expected = (50.0, "555-APP") if wins == "app" else (99.0, "555-QBO")
        assert (price, phone) == expected, (tenant, rule)
        outcome = "synced" if wins == "app" else "conflict"
        assert (answered(tenant, "item"), answered(tenant, "vendor")) == (outcome, outcome)
