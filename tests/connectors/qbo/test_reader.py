"""The QBO reader on real Kafka against the QBO sandbox over HTTP, store on SQLite and
PostgreSQL: more changes than one CDC answer holds are all read (by query pages), every one
published before the watermark moves; a read that fails moves nothing; a full read of a large
list goes a page at a time and shows its progress."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from connectors.kafka import DeliveryFailed, RecordProducer
from connectors.qbo import QboReader, QboUnavailable, ReaderConfig
from connectors.qbo_sandbox import Company, Fault
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.qbo import QboWorld, add_qbo_profile, connect, qbo_world, read_topic
from tests.support.topics import topic_size

REALM = "8880001111"


@dataclass
class Reading:
    """A connected QBO company of the sandbox, one tenant, and a producer to real Kafka."""

    settings: Settings
    world: QboWorld
    profile_id: str
    company: Company
    producer: RecordProducer
    codec: AvroCodec

    def reader(self, entity: str, sink: Any = None) -> QboReader:
        config = ReaderConfig(self.settings.topics.imports, (entity,))
        world = self.world
        return QboReader(world.client, world.store, sink or self.producer, self.codec, config)


@pytest.fixture
def reading(broker: BrokerInfo, settings: Settings, database_url: str) -> Iterator[Reading]:
    use_broker(settings, broker)
    prepare_topics(settings)
    with qbo_world(database_url, attempts=1) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, REALM)
        producer = RecordProducer(settings.kafka.client_config())
        company = world.sandbox.company(REALM)
        try:
            yield Reading(settings, world, profile_id, company, producer, AvroCodec())
        finally:
            producer.close()


def test_more_changes_than_one_cdc_answer_holds_are_all_read(reading: Reading) -> None:
    settings, world, profile_id, company = (
        reading.settings,
        reading.world,
        reading.profile_id,
        reading.company,
    )
    names = [f"Customer {n:04d}" for n in range(1003)]
    for name in names:
        status, _ = company.create("Customer", {"DisplayName": name})
        assert status == 200
    # One made inactive in QBO: a query leaves it out unless asked for inactive ones.
    (closed,) = [c for c in company.all("Customer") if c["DisplayName"] == names[7]]
    company.edit("Customer", closed["Id"], {"Active": False})
    reader = reading.reader("Customer")

    # Intuit unreachable: nothing published, the watermark does not move.
    world.sandbox.inject(REALM, Fault("server_error", writes_only=False))
    with pytest.raises(QboUnavailable):
        reader.read(profile_id, REALM)
    assert "customer" not in world.store.watermarks(profile_id)

    report = reader.read(profile_id, REALM)
    assert report is not None
    assert report.paged  # CDC answered 1,000: read again by query pages
    assert report.records == len(names)
    imported = read_topic(
        settings,
        reading.codec,
        settings.topics.imports,
        settings.topics.events_partitions,
        len(names),
    )
    assert len(imported) == len(names)
    assert {i["qb_id"] for i in imported} == {c["Id"] for c in company.all("Customer")}
    assert {i["record_type"] for i in imported} == {"Customer"}
    mark = world.store.watermarks(profile_id)["customer"]
    newest = max(
        datetime.fromisoformat(c["MetaData"]["LastUpdatedTime"]) for c in company.all("Customer")
    )
    assert mark.modified_from is not None
    assert mark.modified_from.replace(tzinfo=newest.tzinfo) == newest
    assert reader.read(profile_id, REALM) is None  # not due again yet


class ThirdLost:
    """A broker that acknowledges two batches, then none (a stand-in sink)."""

    def __init__(self, real: RecordProducer) -> None:
        self.real, self.calls = real, 0

    def send_all(self, records: Any, *, timeout: float = 30.0) -> int:
        self.calls += 1
        if self.calls == 3:
            raise DeliveryFailed(f"{len(records)} record(s) unacknowledged, 0 failed", [], 1)
        return self.real.send_all(records, timeout=timeout)


def test_a_full_read_shows_its_progress_and_keeps_it_when_it_stops(reading: Reading) -> None:
    """A full read ("get all", a read for matching) of a large list counts the records
    first, publishes a page at a time and notes after each how many were read and are left
    (``qbsync tenant import-status``); one that stops (the broker did not acknowledge)
    keeps that, moves nothing, and the next read completes it and clears it."""
    store, profile_id = reading.world.store, reading.profile_id
    for n in range(2003):
        assert reading.company.create("Vendor", {"DisplayName": f"Vendor {n:04d}"})[0] == 200
    store.request_import(profile_id, ["vendor"], full_read="deliver")

    # The broker acknowledges two pages, not the third.
    with pytest.raises(DeliveryFailed):
        reading.reader("Vendor", ThirdLost(reading.producer)).read(profile_id, REALM)
    mark = store.watermarks(profile_id)["vendor"]
    assert (mark.progress, mark.remaining) == (2000, 3)
    assert topic_size(reading.settings, reading.settings.topics.imports) == 2000  # page by page
    assert mark.progress_at is not None
    assert (mark.completed_at, mark.full_read) == (None, "deliver")

    report = reading.reader("Vendor").read(profile_id, REALM)
    assert report is not None
    assert report.records == 2003
    mark = store.watermarks(profile_id)["vendor"]
    assert (mark.progress, mark.remaining, mark.full_read) == (None, None, None)
    assert mark.records == 2003
