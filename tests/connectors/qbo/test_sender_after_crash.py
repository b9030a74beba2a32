"""The sender's company checks after a crash (issue 19), a crash being a write whose result
was never committed (the broker did not acknowledge it):

- the day limit: a time entry written to QBO is counted in its own day on the re-drain; the
  sender asks Intuit by the write's ``requestid`` and settles it as written once, instead of
  refusing it. An identical entry someone else made is not taken for it: the entry is
  refused and QBO left as it was.
- names: an invoice whose cached tax code Id QBO refused (2500) and that was written again
  with the code looked up afresh is settled as that second write on the re-drain (Intuit
  replays the first write's 2500 to its requestid), not failed, and written once.

The sender on real Kafka against the QBO sandbox over HTTP.

(The rig is this file's own until the QBO tests share one fixture in ``conftest.py``.)"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.kafka import CommandQueue, DeliveryFailed
from connectors.qbo import (
    SENDER_GROUP,
    QboEntityRequest,
    QboOperation,
    QboRuntime,
    create_qbo_runtime,
)
from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec
from core.settings import Settings
from core.status import Status
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.qbo import (
    QboWorld,
    add_qbo_profile,
    connect,
    enqueue_commands,
    qbo_command,
    qbo_settings,
    qbo_world,
    read_topic,
)
from tests.support.waiting import until

REALM = "1234500019"
DAY = "2026-03-02"


@dataclass
class Rig:
    world: QboWorld
    settings: Settings
    runtime: QboRuntime
    profile_id: str
    queue: CommandQueue

    @property
    def company(self) -> Company:
        return self.world.sandbox.company(REALM)

    def results(self, expected: int) -> list[dict[str, Any]]:
        topics = self.settings.topics
        return read_topic(
            self.settings, AvroCodec(), topics.results, topics.results_partitions, expected
        )


@pytest.fixture
def rig(broker: BrokerInfo, settings: Settings) -> Iterator[Rig]:
    use_broker(settings, broker)
    prepare_topics(settings)
    with qbo_world(settings.database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, REALM)
        qbo_settings(settings, world.sandbox, world.url, world.key)
        runtime = create_qbo_runtime(settings, world.store)
        queue = CommandQueue(
            settings.kafka.client_config(),
            group_id=SENDER_GROUP,
            topic_for=settings.topics.commands,
            consumers=1,
        )
        try:
            yield Rig(world, settings, runtime, profile_id, queue)
        finally:
            queue.close()
            runtime.close()


class NotAcknowledged:
    """The broker does not acknowledge the first batch of results: nothing is committed,
    as after a crash between the write and the commit."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.failed = False

    def send_all(self, records: Any, *, timeout: float = 30.0) -> int:
        if not self.failed:
            self.failed = True
            raise DeliveryFailed("1 record(s) unacknowledged, 0 failed", [], 1)
        return int(self.real.send_all(records, timeout=timeout))


def activity(employee_id: str, hours: int) -> dict[str, Any]:
    return {
        "NameOf": "Employee",
        "EmployeeRef": {"value": employee_id},
        "TxnDate": DAY,
        "Hours": hours,
        "Minutes": 0,
        "BillableStatus": "NotBillable",
        "Description": "Framing",
    }


def time_entry(rig: Rig, employee_id: str, hours: int) -> dict[str, object]:
    request = QboEntityRequest(
        QboOperation.CREATE, "TimeActivity", activity(employee_id, hours), ("day-limit",)
    )
    return qbo_command(rig.profile_id, "time_entry", "te-1", request)


def employee(company: Company) -> str:
    status, made = company.create("Employee", {"DisplayName": "Ada Brick"})
    assert status == 200
    return str(made["Employee"]["Id"])


def drain_until_settled(rig: Rig) -> None:
    until(
        lambda: rig.queue.pending(rig.profile_id) == 0,
        step=rig.runtime.drain_all,
        what="the company's commands drained",
        timeout=60,
    )


def test_an_entry_written_before_a_crash_is_not_counted_twice_in_its_day(rig: Rig) -> None:
    worker = employee(rig.company)
    # 16 hours: fine alone, over 24 with itself counted twice.
    enqueue_commands(rig.settings, AvroCodec(), rig.profile_id, [time_entry(rig, worker, 16)])
    rig.runtime.sender._sink = NotAcknowledged(rig.runtime.sink)  # the sender's seam
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert "results not published" in report.stopped
    assert rig.queue.pending(rig.profile_id) == 1  # written in QBO, nothing committed
    (written,) = rig.company.all("TimeActivity")

    drain_until_settled(rig)
    (result,) = rig.results(1)
    assert (result["entity_id"], result["status_code"]) == ("te-1", 0)
    assert result["qb_id"] == written["Id"]  # the first write, settled
    assert [a["Id"] for a in rig.company.all("TimeActivity")] == [written["Id"]]


def test_an_identical_entry_made_by_someone_else_is_not_taken_for_its_own(rig: Rig) -> None:
    worker = employee(rig.company)
    enqueue_commands(rig.settings, AvroCodec(), rig.profile_id, [time_entry(rig, worker, 16)])
    # Someone enters the same 16 hours in QBO after the command was queued.
    status, theirs = rig.company.create("TimeActivity", activity(worker, 16))
    assert status == 200

    drain_until_settled(rig)
    (result,) = rig.results(1)
    assert result["status_code"] == Status.OVER_A_DAY
    assert "more than 24 hours" in result["status_message"]
    # The write asked about (a new record, so not the entry's own) was deleted again.
    assert [a["Id"] for a in rig.company.all("TimeActivity")] == [theirs["TimeActivity"]["Id"]]


def invoice(rig: Rig, entity_id: str, customer_id: str) -> dict[str, object]:
    line = {
        "Amount": 100.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"name": "GST"}},
    }
    body = {"CustomerRef": {"value": customer_id}, "DocNumber": entity_id, "Line": [line]}
    request = QboEntityRequest(QboOperation.CREATE, "Invoice", body, ("names",))
    return qbo_command(rig.profile_id, "invoice", entity_id, request)


def test_a_write_sent_again_after_a_stale_name_is_settled_after_a_crash(rig: Rig) -> None:
    company = rig.company
    gst = company.add_tax_code("GST")
    status, made = company.create("Customer", {"DisplayName": "Harbor Dental"})
    assert status == 200
    customer_id = str(made["Customer"]["Id"])
    codec = AvroCodec()
    enqueue_commands(rig.settings, codec, rig.profile_id, [invoice(rig, "INV-0", customer_id)])
    drain_until_settled(rig)  # the realm's tax codes are cached now, GST's Id among them
    company.edit("TaxCode", gst, {"Active": False})
    new_gst = company.add_tax_code("GST")

    enqueue_commands(rig.settings, codec, rig.profile_id, [invoice(rig, "INV-1", customer_id)])
    rig.runtime.sender._sink = NotAcknowledged(rig.runtime.sink)  # the sender's seam
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert rig.queue.pending(rig.profile_id) == 1  # written (the second time), not committed
    (written,) = [i for i in company.all("Invoice") if i["DocNumber"] == "INV-1"]
    assert written["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"]["value"] == new_gst

    checks = rig.runtime.sender._checks
    assert checks is not None
    checks.forget_names(REALM)  # a new process: nothing cached
    drain_until_settled(rig)
    results = {r["entity_id"]: r for r in rig.results(2)}
    assert (results["INV-1"]["status_code"], results["INV-1"]["qb_id"]) == (0, written["Id"])
    assert [i["DocNumber"] for i in company.all("Invoice")].count("INV-1") == 1
