"""The sender's company checks after a crash (issue 19), a crash being a write whose result
was never committed (the broker did not acknowledge it):

- the day limit: a time entry written to QBO is counted in its own day on the re-drain; the
  sender asks Intuit by the write's ``requestid`` and settles it as written once, instead of
  refusing it. An identical entry someone else made is not taken for it: the entry is
  refused and QBO left as it was.
- names: an invoice whose cached tax code Id QBO refused (2500) and that was written again
  with the code looked up afresh is settled as that second write on the re-drain (Intuit
  replays the first write's 2500 to its requestid), not failed, and written once.

The sender on real Kafka against the QBO sandbox over HTTP (the shared ``start_sender`` rig of
``conftest.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.qbo_sandbox import Company, Fault
from core.contracts import AvroCodec
from core.status import Status
from tests.support.qbo import (
    NotAcknowledged,
    SenderRig,
    StartSender,
    enqueue_commands,
    qbo_command,
)

REALM = "1234500019"
DAY = "2026-03-02"


@pytest.fixture
def rig(start_sender: StartSender) -> SenderRig:
    return start_sender()


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


def time_entry(rig: SenderRig, employee_id: str, hours: int) -> dict[str, object]:
    request = QboEntityRequest(
        QboOperation.CREATE, "TimeActivity", activity(employee_id, hours), ("day-limit",)
    )
    return qbo_command(rig.profile_id, "time_entry", "te-1", request)


def employee(company: Company) -> str:
    status, made = company.create("Employee", {"DisplayName": "Ada Brick"})
    assert status == 200
    return str(made["Employee"]["Id"])


def drain_until_settled(rig: SenderRig) -> None:
    rig.drain_until_settled()


def test_an_entry_written_before_a_crash_is_not_counted_twice_in_its_day(rig: SenderRig) -> None:
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


def test_an_identical_entry_made_by_someone_else_is_not_taken_for_its_own(rig: SenderRig) -> None:
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


def test_a_write_qbo_would_not_delete_again_is_said_in_the_dead_letter(rig: SenderRig) -> None:
    """The write asked about is a new record, but QBO refuses its delete for good (closed
    books): the entry is refused all the same, and the result names the record left in QBO
    and why, for a person to delete there."""
    worker = employee(rig.company)
    enqueue_commands(rig.settings, AvroCodec(), rig.profile_id, [time_entry(rig, worker, 16)])
    status, theirs = rig.company.create("TimeActivity", activity(worker, 16))
    assert status == 200
    rig.sandbox.inject(
        rig.realm_id, Fault("closed_books", entity="TimeActivity", operation="delete")
    )

    drain_until_settled(rig)
    (result,) = rig.results(1)
    assert result["status_code"] == Status.OVER_A_DAY
    left = {a["Id"] for a in rig.company.all("TimeActivity")} - {theirs["TimeActivity"]["Id"]}
    (ours,) = left  # written, and not deleted
    message = result["status_message"]
    assert "more than 24 hours" in message
    assert f"took the write (TimeActivity {ours}) and refused to delete it" in message
    assert "Account Period Closed" in message
    assert message.endswith("delete it there")


def test_a_write_deleted_in_qbo_before_its_own_delete_is_not_said_left(rig: SenderRig) -> None:
    """Someone deletes the write asked about before the sender's delete reaches QBO (610):
    what the delete wanted; the entry is refused without a word of a record left."""
    worker = employee(rig.company)
    enqueue_commands(rig.settings, AvroCodec(), rig.profile_id, [time_entry(rig, worker, 16)])
    status, theirs = rig.company.create("TimeActivity", activity(worker, 16))
    assert status == 200
    rig.sandbox.inject(rig.realm_id, Fault("gone", entity="TimeActivity", operation="delete"))

    drain_until_settled(rig)
    (result,) = rig.results(1)
    assert result["status_code"] == Status.OVER_A_DAY
    assert "more than 24 hours" in result["status_message"]
    assert "delete it there" not in result["status_message"]
    assert [a["Id"] for a in rig.company.all("TimeActivity")] == [theirs["TimeActivity"]["Id"]]
    assert (rig.realm_id, "gone") in rig.sandbox.faults.fired


def invoice(rig: SenderRig, entity_id: str, customer_id: str) -> dict[str, object]:
    line = {
        "Amount": 100.0,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "TaxCodeRef": {"name": "GST"}},
    }
    body = {"CustomerRef": {"value": customer_id}, "DocNumber": entity_id, "Line": [line]}
    request = QboEntityRequest(QboOperation.CREATE, "Invoice", body, ("names",))
    return qbo_command(rig.profile_id, "invoice", entity_id, request)


def test_a_write_sent_again_after_a_stale_name_is_settled_after_a_crash(rig: SenderRig) -> None:
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
