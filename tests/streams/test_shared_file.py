"""Two tenants on one company file, both reading changes back, on the real broker with the
worker and gateway as processes and the sandbox company file: qbsync's writes for either
tenant never come back to the other as a change; a record entered by hand reaches both
until one adopts it, and is then that tenant's alone; a second adoption is refused
(docs/two-way.md, "A company file shared by several tenants")."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.qbxml import build_message, build_request
from core.contracts import AvroCodec, validate_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.streams.test_worker import Sync
from tests.support.pipeline import running_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration

TENANTS = ("t-1", "t-2")


@dataclass
class Shared(Sync):
    consumer: Any = None
    changes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sentinels: Iterator[int] = field(default_factory=itertools.count)

    @property
    def profile_id(self) -> str:
        tenant = self.store.tenant(TENANTS[0])
        assert tenant is not None
        return tenant.profile_id

    def read_changes(self) -> None:
        for message in self.consumer.consume(100, timeout=0.2):
            if message.error() is None:
                change = self.codec.decode(message.value())[1]
                self.changes.setdefault(change["tenant_id"], []).append(change)

    def bookkeeper(self, action: str, values: dict[str, Any], **ids: Any) -> None:
        """An edit made in QuickBooks by hand, not through qbsync."""
        request = build_request("customer", action, values, **ids)
        answer = self.company.process(build_message([("1", request)], version="13.0"))
        assert 'statusCode="0"' in answer[0], answer[0]

    def edit(self, name: str, **values: Any) -> None:
        (row,) = [c for c in self.company.customers() if c["FullName"] == name]
        self.bookkeeper("Mod", values, qb_id=row["ListID"], edit_sequence=row["EditSequence"])

    def qb_id(self, name: str) -> str:
        (row,) = [c for c in self.company.customers() if c["FullName"] == name]
        return str(row["ListID"])

    def drain(self) -> dict[str, list[dict[str, Any]]]:
        """Every change the imports so far give, per tenant: a sentinel customer added by
        hand reaches both tenants (entered by hand, nobody's yet), so once both have it,
        everything the import before it brought has been read. Twice, so the first import's
        page order does not matter."""
        for _ in range(2):
            name = f"Sentinel {next(self.sentinels)}"
            self.bookkeeper("Add", {"Name": name})
            self.store.request_import(self.profile_id, ["customer"])

            def arrived(name: str = name) -> bool:
                return all(any(_name(c) == name for c in self.changes.get(t, [])) for t in TENANTS)

            def poll() -> None:
                self.services.check_alive()
                self.connector.run_once()
                self.read_changes()

            until(arrived, step=poll, timeout=90, what=f"the change of {name} for both tenants")
        taken = {t: [c for c in self.changes.get(t, []) if not _sentinel(c)] for t in TENANTS}
        self.changes.clear()
        return taken


def _name(change: dict[str, Any]) -> str:
    return str((change["customer"] or {}).get("company_name"))


def _sentinel(change: dict[str, Any]) -> bool:
    return _name(change).startswith("Sentinel")


def customer(tenant: str, entity_id: str, name: str) -> dict[str, Any]:
    envelope = {
        "tenant_id": tenant,
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": datetime.now(UTC).isoformat(),
    }
    payload = {"company_name": name, "email": f"{entity_id}@example.com"}
    return validate_event("customer.upserted", {"envelope": envelope, "customer": payload})


@pytest.fixture
def shared(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> Iterator[Shared]:
    settings.gateway.imports = "customer"
    settings.gateway.import_interval_s = 3600  # imports when asked (drain) or never done
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=list(TENANTS)) as run:
        for tenant in TENANTS:
            run.store.update_tenant_settings(tenant, {"direction": {"customer": "two_way"}})
        consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
        partitions = settings.topics.results_partitions
        consumer.assign([TopicPartition(settings.topics.changes, p, 0) for p in range(partitions)])
        sync = Shared(**vars(run), codec=AvroCodec(), logs=tmp_path, consumer=consumer)
        try:
            yield sync
        finally:
            consumer.close()
        assert run.services.worker.stop() == 0
        assert run.services.gateway.stop() == 0


def test_two_tenants_on_one_file_never_get_each_others_records(shared: Shared) -> None:
    sync = shared
    sync.publish(customer("t-1", "c-1", "Lovelace Ltd"))
    sync.publish(customer("t-2", "c-9", "Hopper Inc"))
    sync.until_synced(
        lambda: (
            sync.store.mapping("t-1", "customer", "c-1")
            and sync.store.mapping("t-2", "customer", "c-9")
        ),
        "both tenants' customers in QuickBooks",
    )
    # Each tenant's own write is an echo; the other tenant's write is not news either.
    assert sync.drain() == {"t-1": [], "t-2": []}

    # A bookkeeper's edit of a record qbsync wrote for t-1 is t-1's change only.
    sync.edit("Lovelace Ltd", Email="books@lovelace.example")
    taken = sync.drain()
    assert taken["t-2"] == []
    (change,) = taken["t-1"]
    assert (change["entity_id"], change["kind"]) == ("c-1", "UPDATED")
    assert change["qb_id"] == sync.qb_id("Lovelace Ltd")

    # A customer entered by hand belongs to no tenant yet: both are offered it.
    sync.bookkeeper("Add", {"Name": "Babbage Co", "CompanyName": "Babbage Co"})
    taken = sync.drain()
    for tenant in TENANTS:
        (offered,) = taken[tenant]
        assert (offered["kind"], offered["entity_id"]) == ("CREATED", None)
        assert offered["qb_id"] == sync.qb_id("Babbage Co")

    # t-2 adopts it (publishes its own customer of that name: matched, not added) ...
    sync.publish(customer("t-2", "c-20", "Babbage Co"))
    adopted = sync.until_synced(
        lambda: sync.store.mapping("t-2", "customer", "c-20"), "t-2 adopting Babbage Co"
    )
    assert adopted.qb_id == sync.qb_id("Babbage Co")
    # ... so t-1's adoption of the same record is refused, not a second owner.
    sync.publish(customer("t-1", "c-2", "Babbage Co"))
    sync.until_synced(
        lambda: (
            [e.status for e in sync.store.sync_log("t-1") if e.entity_id == "c-2"] == ["failed"]
        ),
        "t-1's adoption refused",
    )
    assert sync.store.mapping("t-1", "customer", "c-2") is None

    # From now on the hand-entered record is t-2's: its edits go to t-2 alone.
    sync.edit("Babbage Co", Email="ada@babbage.example")
    taken = sync.drain()
    assert taken["t-1"] == []
    (change,) = taken["t-2"]
    assert (change["entity_id"], change["kind"]) == ("c-20", "UPDATED")
    names = [c["FullName"] for c in sync.company.customers() if "Sentinel" not in c["FullName"]]
    assert sorted(names) == ["Babbage Co", "Hopper Inc", "Lovelace Ltd"]
