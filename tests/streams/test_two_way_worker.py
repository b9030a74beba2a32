"""Two-way sync on the real broker with the worker and gateway as real processes: a
QuickBooks edit reaches the app once and never echoes; a customer edited on both sides
ends as each conflict policy documents (docs/two-way.md); an invoice deleted in QuickBooks
is told to its app once (QuickBooks' deletion log, ``TxnDeletedQueryRq``)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

from connectors.qbxml import build_message, build_request
from core.contracts import AvroCodec, validate_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.streams.test_worker import Sync, invoice
from tests.support.pipeline import running_pipeline
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@dataclass
class TwoWay(Sync):
    consumer: Any = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    sentinels: Iterator[int] = field(default_factory=itertools.count)

    def configure(self, **settings: Any) -> None:
        self.store.update_tenant_settings("t-1", settings)

    @property
    def profile_id(self) -> str:
        tenant = self.store.tenant("t-1")
        assert tenant is not None
        return tenant.profile_id

    def read_changes(self) -> None:
        for message in self.consumer.consume(100, timeout=0.2):
            if message.error() is None:
                self.changes.append(self.codec.decode(message.value())[1])

    def bookkeeper(self, entity: str, action: str, values: dict[str, Any], **ids: Any) -> None:
        """An edit made in QuickBooks by hand, not through qbsync."""
        request = build_request(entity, action, values, **ids)
        answer = self.company.process(build_message([("1", request)], version="13.0"))
        assert 'statusCode="0"' in answer[0], answer[0]

    def edit_customer(self, name: str, **values: Any) -> None:
        (row,) = [c for c in self.company.customers() if c["FullName"] == name]
        self.bookkeeper(
            "customer", "Mod", values, qb_id=row["ListID"], edit_sequence=row["EditSequence"]
        )

    def drain(self) -> list[dict[str, Any]]:
        """Every change the imports so far give: ask for an import, add a sentinel customer
        by hand, and read the changes topic until the sentinel's change arrives. Twice, so
        what the first import brought (in whatever order its page had) is all read before
        the second sentinel."""
        for _ in range(2):
            name = f"Sentinel {next(self.sentinels)}"
            self.bookkeeper("customer", "Add", {"Name": name})
            self.store.request_import(self.profile_id, list(self.settings.gateway.import_entities))

            def arrived(name: str = name) -> bool:
                return any((c["customer"] or {}).get("company_name") == name for c in self.changes)

            def poll() -> None:
                self.services.check_alive()
                self.connector.run_once()
                self.read_changes()

            until(arrived, step=poll, timeout=90, what=f"the change of {name}")
        # A record added in QuickBooks is delivered once, though the rewound minute of each
        # later import reads it again.
        added = [c["qb_id"] for c in self.changes if _sentinel(c)]
        assert len(added) == len(set(added)), "a record added in QuickBooks arrived twice"
        return [c for c in self.changes if not _sentinel(c)]


def _sentinel(change: dict[str, Any]) -> bool:
    return str((change["customer"] or {}).get("company_name")).startswith("Sentinel")


@pytest.fixture
def two_way(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> Iterator[TwoWay]:
    settings.gateway.imports = "customer,invoice,receive_payment,deleted_transactions"
    settings.gateway.import_interval_s = 3600  # imports when asked (drain) or never done
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as run:
        consumer = Consumer({**settings.kafka.client_config(), "group.id": f"t-{uuid.uuid4().hex}"})
        partitions = settings.topics.results_partitions
        consumer.assign([TopicPartition(settings.topics.changes, p, 0) for p in range(partitions)])
        sync = TwoWay(**vars(run), codec=AvroCodec(), logs=tmp_path, consumer=consumer)
        try:
            yield sync
        finally:
            consumer.close()
        assert run.services.worker.stop() == 0
        assert run.services.gateway.stop() == 0


def customer(entity_id: str, last_name: str, email: str, at: datetime) -> dict[str, Any]:
    envelope = {
        "tenant_id": "t-1",
        "source_system": "test",
        "entity_id": entity_id,
        "source_updated_at": at.isoformat(),
    }
    payload = {"last_name": last_name, "email": email}
    return validate_event("customer.upserted", {"envelope": envelope, "customer": payload})


def synced_customer(sync: TwoWay, entity_id: str, name: str) -> None:
    """The app's customer in QuickBooks, and the first import (our own write) read back."""
    sync.publish(customer(entity_id, name, "first@example.com", datetime.now(UTC)))
    sync.until_synced(
        lambda: sync.store.mapping("t-1", "customer", entity_id), f"{entity_id} in QuickBooks"
    )


def log_of(sync: TwoWay, entity_id: str) -> list[str]:
    return [e.status for e in sync.store.sync_log("t-1") if e.entity_id == entity_id]


def email_in_quickbooks(sync: TwoWay, name: str) -> str | None:
    (row,) = [c for c in sync.company.customers() if c["FullName"] == name]
    ret = sync.company.record(row["ListID"])
    assert ret is not None
    return ret.findtext("Email")


def test_a_quickbooks_edit_reaches_the_app_once_and_does_not_echo(two_way: TwoWay) -> None:
    sync = two_way
    sync.configure(direction={"customer": "two_way"})
    synced_customer(sync, "c-1", "Lovelace")
    assert sync.drain() == []  # our own Add, read back by the import, is not a change

    sync.edit_customer("Lovelace", Email="qb@example.com")
    (change,) = sync.drain()  # two imports since the edit; exactly one change
    assert (change["entity"], change["entity_id"], change["kind"]) == ("customer", "c-1", "UPDATED")
    assert change["customer"]["email"] == "qb@example.com"
    assert change["customer"]["last_name"] == "Lovelace"
    mapping = sync.store.mapping("t-1", "customer", "c-1")
    assert mapping is not None
    assert change["qb_id"] == mapping.qb_id

    # The app takes the change and publishes the record as it now is: written as a plain
    # Mod of QuickBooks' version (no conflict), and its read-back is no new change.
    sync.publish(customer("c-1", "Lovelace", "qb@example.com", datetime.now(UTC)))
    sync.until_synced(lambda: log_of(sync, "c-1") == ["synced", "synced"], "the app's write")
    assert [c for c in sync.drain() if c["entity_id"] == "c-1"] == [change]
    assert email_in_quickbooks(sync, "Lovelace") == "qb@example.com"


# policy, the app's change relative to the bookkeeper's, who wins
CASES = [
    ("never", timedelta(hours=-1), "app"),
    ("always", timedelta(hours=1), "quickbooks"),
    ("most_recent", timedelta(hours=1), "app"),
    ("most_recent", timedelta(hours=-1), "quickbooks"),
]


@pytest.mark.parametrize(("policy", "app_offset", "winner"), CASES)
def test_a_customer_edited_on_both_sides_ends_as_the_policy_says(
    two_way: TwoWay, policy: str, app_offset: timedelta, winner: str
) -> None:
    sync = two_way
    sync.configure(direction={"customer": "two_way"}, conflict={"customer": policy})
    synced_customer(sync, "c-1", "Lovelace")
    assert sync.drain() == []

    sync.edit_customer("Lovelace", Email="qb@example.com")  # QuickBooks' change, now
    app_changed = datetime.now(UTC) + app_offset
    sync.publish(customer("c-1", "Lovelace", "app@example.com", app_changed))
    sync.until_synced(lambda: len(log_of(sync, "c-1")) == 2, "the app's change settled")
    changes = sync.drain()

    if winner == "app":
        assert log_of(sync, "c-1") == ["synced", "synced"]
        assert email_in_quickbooks(sync, "Lovelace") == "app@example.com"
        assert changes == []  # QuickBooks' overwritten change never reaches the app
    else:
        assert log_of(sync, "c-1") == ["synced", "conflict"]
        assert email_in_quickbooks(sync, "Lovelace") == "qb@example.com"
        (change,) = changes
        assert change["entity_id"] == "c-1"
        assert change["customer"]["email"] == "qb@example.com"
    names = [c["FullName"] for c in sync.company.customers()]
    assert [n for n in names if not n.startswith("Sentinel")] == ["Lovelace"]  # none added


def test_a_payment_received_in_quickbooks_reaches_the_app_with_the_invoices_paid_status(
    two_way: TwoWay,
) -> None:
    """Invoices flow app -> QuickBooks only (the default); their payment comes back anyway."""
    sync = two_way
    sync.configure(direction={"customer": "two_way"})
    synced_customer(sync, "c-1", "Lovelace")
    sync.publish(invoice("i-1", "c-1"))
    ours = sync.until_synced(lambda: sync.store.mapping("t-1", "invoice", "i-1"), "the invoice")
    assert sync.drain() == []

    (lovelace,) = [c for c in sync.company.customers() if c["FullName"] == "Lovelace"]
    sync.bookkeeper(
        "receive_payment",
        "Add",
        {
            "CustomerRef": {"ListID": lovelace["ListID"]},
            "TxnDate": date.today(),
            "RefNumber": "CHK-77",
            "TotalAmount": Decimal("185.00"),
            "AppliedToTxnAdd": [{"TxnID": ours.qb_id, "PaymentAmount": Decimal("185.00")}],
        },
    )
    changes = {c["entity"]: c for c in sync.drain()}
    assert sorted(changes) == ["invoice", "payment"]
    paid = changes["invoice"]
    assert (paid["entity_id"], paid["kind"]) == ("i-1", "UPDATED")
    assert paid["invoice"]["is_paid"] is True
    assert paid["invoice"]["balance_remaining"] == Decimal("0.00")
    payment = changes["payment"]
    assert (payment["entity_id"], payment["kind"]) == (None, "CREATED")
    assert payment["payment"]["reference"] == "CHK-77"
    assert payment["payment"]["customer"]["id"] == "c-1"
    assert payment["payment"]["applied_to"] == [
        {"transaction": {"id": "i-1", "full_name": "I-1"}, "amount": Decimal("185.00")}
    ]


def test_an_invoice_deleted_in_quickbooks_is_told_to_its_app_once(two_way: TwoWay) -> None:
    sync = two_way
    # Customers both ways (what drain's sentinels need); invoices only to QuickBooks: a
    # deletion is told whatever the direction (the app's own record is gone).
    sync.configure(direction={"customer": "two_way"})
    synced_customer(sync, "c-1", "Lovelace")
    sync.publish(invoice("inv-1", "c-1"))
    sent = sync.until_synced(
        lambda: sync.store.mapping("t-1", "invoice", "inv-1"), "the app's invoice in QuickBooks"
    )
    assert sync.drain() == []  # our own invoice read back: no change
    kept = {r.qb_id for r in sync.store.qb_records(sync.profile_id, "invoice")}
    assert sent.qb_id in kept  # offered for matching

    deletion = f"<TxnDelRq><TxnDelType>Invoice</TxnDelType><TxnID>{sent.qb_id}</TxnID></TxnDelRq>"
    answer = sync.company.process(build_message([("1", deletion)], version="13.0"))
    assert 'statusCode="0"' in answer[0], answer[0]

    (change,) = sync.drain()
    assert (change["entity"], change["entity_id"], change["qb_id"]) == (
        "invoice",
        "inv-1",
        sent.qb_id,
    )
    assert (change["kind"], change["deleted"], change["invoice"]) == ("DEACTIVATED", True, None)
    assert sync.drain() == [change]  # read again (the rewound minute): told once
    kept = {r.qb_id for r in sync.store.qb_records(sync.profile_id, "invoice")}
    assert sent.qb_id not in kept
