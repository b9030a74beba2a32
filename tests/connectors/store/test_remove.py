"""Removing a tenant or a profile (``qbsync tenant remove``, ``profile remove``) on SQLite
and PostgreSQL: everything kept for it goes, in one transaction; nothing else does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from connectors.store import (
    DeliveredChange,
    IdMapping,
    ImportWatermark,
    Mapping,
    QuickBooksRecord,
    Store,
    StoreError,
    SyncLogEntry,
    Tenant,
    WebConnectorSession,
    upgrade,
)
from tests.support.profiles import a_profile

NOW = datetime(2026, 11, 22, tzinfo=UTC)


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    upgrade(database_url)
    value = Store(database_url)
    yield value
    value.close()


def filled(store: Store, profile_id: str, tenant_ids: list[str]) -> None:
    """A profile with tenants and a row in every table that refers to them."""
    store.add_profile(a_profile(profile_id, name=profile_id, created_at=NOW))
    for tenant_id in tenant_ids:
        store.add_tenant(
            Tenant(id=tenant_id, name=tenant_id, profile_id=profile_id, settings={}, created_at=NOW)
        )
        store.save_mapping(Mapping(tenant_id, "customer", "c-1", f"Q-{tenant_id}", "1", "Ada"))
        store.log_sync(
            SyncLogEntry(
                at=NOW,
                tenant_id=tenant_id,
                profile_id=profile_id,
                entity="customer",
                entity_id="c-1",
                command_id="x",
                action="ADD",
                status="synced",
                code=0,
                message="ok",
                qb_id=f"Q-{tenant_id}",
            )
        )
        store.record_delivered(
            [
                DeliveredChange(
                    tenant_id=tenant_id,
                    entity="customer",
                    qb_id=f"Q-{tenant_id}",
                    edit_sequence="2",
                    delivered_at=NOW,
                )
            ]
        )
    store.save_qb_records(profile_id, "customer", [{"qb_id": "Q", "full_name": "Ada"}])
    store.complete_import(profile_id, "customer", NOW, 1)
    store.open_session(profile_id, f"ticket-{profile_id}", timedelta(minutes=10))


def count(store: Store, model: type, **where: str) -> int:
    query = select(func.count()).select_from(model)
    for column, value in where.items():
        query = query.where(getattr(model, column) == value)
    with store.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def test_removing_a_tenant_removes_what_is_kept_for_it_only(store: Store) -> None:
    filled(store, "p1", ["a", "b"])
    removed = store.remove_tenant("a")
    assert removed == 4  # the tenant, its mapping, its delivered change, its log entry
    assert store.tenant("a") is None
    for model in (IdMapping, DeliveredChange, SyncLogEntry):
        assert count(store, model, tenant_id="a") == 0
        assert count(store, model, tenant_id="b") == 1
    assert store.tenant("b") is not None
    assert store.profile("p1") is not None
    with pytest.raises(StoreError, match="no tenant 'a'"):
        store.remove_tenant("a")


def test_removing_a_profile_removes_its_tenants_sessions_and_imports(store: Store) -> None:
    filled(store, "p1", ["a", "b"])
    filled(store, "p2", ["c"])
    removed = store.remove_profile("p1")
    # 2 tenants x 4 rows, a session, an imported record, a watermark, the profile.
    assert removed == 12
    assert store.profile("p1") is None
    assert [t.id for t in store.tenants()] == ["c"]
    for model in (WebConnectorSession, QuickBooksRecord, ImportWatermark):
        assert count(store, model, profile_id="p1") == 0
        assert count(store, model, profile_id="p2") == 1
    assert count(store, IdMapping, tenant_id="c") == 1
    with pytest.raises(StoreError, match="no profile 'p1'"):
        store.remove_profile("p1")
