"""QBO's batch endpoint for bulk creates (issue 19), the sender on real Kafka against the QBO
sandbox over HTTP: runs of independent creates go out 30 to a batch request (counted at the
sandbox), each written once with its own result; one refused item is that command's error
(a dead letter through the real worker) and its neighbours are written; a transient item is
sent again alone; a throttled batch waits out Retry-After; a re-drain after a batch write
that was never committed writes nothing twice, whether it reads as many commands as the
first drain, fewer or more."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pytest

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.qbo_sandbox import Company, Fault
from core.contracts import customer_event
from core.settings import Settings
from tests.support.qbo import (
    NotAcknowledged,
    SenderRig,
    StartOnline,
    StartSender,
    dead_lettered,
    qbo_command,
)
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "1234500030"
BATCH = 30  # Intuit's items per batch request


def customer(name: str) -> QboEntityRequest:
    return QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": name})


def customers(rig: SenderRig, names: list[str]) -> list[dict[str, object]]:
    return [qbo_command(rig.profile_id, "customer", f"c-{n}", customer(n)) for n in names]


def writes(rig: SenderRig) -> list[tuple[str, int]]:
    """(last path segment, status) of every POST the sandbox answered, in order."""
    return [(r[2].rsplit("/", 1)[1], r[3]) for r in rig.sandbox.requests if r[1] == "POST"]


def window(size: int) -> Callable[[Settings], None]:
    def prepare(settings: Settings) -> None:
        settings.qbo.batch_size = size  # commands read per drain

    return prepare


def in_qbo(company: Company) -> dict[str, str]:
    """DisplayName -> Id; fails on a name QBO has twice."""
    found = [(c["DisplayName"], c["Id"]) for c in company.all("Customer")]
    assert len({n for n, _ in found}) == len(found), "a customer written twice"
    return dict(found)


def test_a_burst_of_100_customers_goes_out_in_batches_of_30(start_sender: StartSender) -> None:
    rig = start_sender(window(100))
    names = [f"Burst {n:03d}" for n in range(100)]
    rig.send(*customers(rig, names))
    rig.drain_until_settled()
    assert writes(rig) == [("batch", 200)] * math.ceil(100 / BATCH)
    qbo = in_qbo(rig.company)
    assert sorted(qbo) == names  # each exactly once
    results = rig.results(100)
    assert len(results) == 100
    for result in results:
        name = str(result["entity_id"]).removeprefix("c-")
        assert (result["status_code"], result["status_severity"]) == (0, "Info")
        assert (result["qb_id"], result["edit_sequence"]) == (qbo[name], "0")


def test_a_transient_item_is_sent_again_alone(start_sender: StartSender) -> None:
    rig = start_sender()
    # Intuit fails one item of the batch (10000): only that command is sent again.
    rig.sandbox.inject(REALM, Fault("server_error", entity="Customer"))
    names = [f"Item {n}" for n in range(5)]
    rig.send(*customers(rig, names))
    rig.drain_until_settled()
    assert writes(rig) == [("batch", 200), ("customer", 200)]
    assert sorted(in_qbo(rig.company)) == names
    results = rig.results(5)
    assert sorted(r["entity_id"] for r in results) == [f"c-{n}" for n in names]
    assert all(r["status_code"] == 0 for r in results)


def test_a_throttled_batch_waits_out_retry_after(start_sender: StartSender) -> None:
    rig = start_sender()
    rig.sandbox.inject(REALM, Fault("throttle", retry_after_s=2))  # the batch request
    rig.send(*customers(rig, ["Wait A", "Wait B", "Wait C"]))
    rig.drain_until_settled()
    answered = [(r[3], r[4]) for r in rig.sandbox.requests if r[1] == "POST"]
    assert [status for status, _ in answered] == [429, 200]
    assert answered[1][1] - answered[0][1] >= 2.0  # not before Retry-After
    assert writes(rig)[1] == ("batch", 200)
    assert sorted(in_qbo(rig.company)) == ["Wait A", "Wait B", "Wait C"]


def test_a_batched_customer_qbo_has_already_is_adopted(start_sender: StartSender) -> None:
    rig = start_sender()
    status, made = rig.company.create("Customer", {"DisplayName": "Existing Co"})
    assert status == 200
    commands = customers(rig, ["Existing Co", "Fresh Co"])
    for command in commands:
        command["match_existing"] = True
    rig.send(*commands)
    rig.drain_until_settled()
    by_entity = {r["entity_id"]: r for r in rig.results(2)}
    adopted, fresh = by_entity["c-Existing Co"], by_entity["c-Fresh Co"]
    assert (adopted["status_code"], adopted["qb_id"]) == (0, made["Customer"]["Id"])
    assert "adopted" in adopted["status_message"]
    qbo = in_qbo(rig.company)
    assert sorted(qbo) == ["Existing Co", "Fresh Co"]
    assert (fresh["status_code"], fresh["qb_id"]) == (0, qbo["Fresh Co"])
    # One batch request (its item answered 6240), then the look-up by name.
    assert writes(rig) == [("batch", 200)]


def crash_after_the_write(rig: SenderRig, commands: int) -> dict[str, str]:
    """One drain whose results the broker never acknowledges (a crash between the write and
    the commit): what QBO has afterwards."""
    rig.runtime.sender._sink = NotAcknowledged(rig.runtime.sink)  # the sender's seam
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert "results not published" in report.stopped
    assert rig.pending() == commands  # nothing committed
    return in_qbo(rig.company)


def test_a_re_drain_after_a_batch_write_writes_nothing_twice(start_sender: StartSender) -> None:
    rig = start_sender()
    names = [f"Crash {n}" for n in range(10)]
    rig.send(*customers(rig, names))
    first = crash_after_the_write(rig, 10)
    assert sorted(first) == names  # written by the batch before the "crash"

    rig.drain_until_settled()
    assert in_qbo(rig.company) == first  # the same records, none twice
    results = rig.results(10)
    assert {r["entity_id"]: r["qb_id"] for r in results} == {f"c-{n}": first[n] for n in names}
    # Sent again under the same requestid: Intuit (the sandbox) answered from the first.
    assert writes(rig) == [("batch", 200), ("batch", 200)]


def test_a_re_drain_that_reads_fewer_commands_settles_nothing_of_the_batch(
    start_sender: StartSender,
) -> None:
    rig = start_sender(window(10))
    names = [f"Fewer {n}" for n in range(10)]
    rig.send(*customers(rig, names))
    first = crash_after_the_write(rig, 10)
    assert len(first) == 10

    # The re-drain reads 4 of the 10: the replayed answer holds all 10, so settling these
    # 4 alone would let the next drain create the other 6 again. It stops before the batch.
    config = rig.runtime.sender._config
    rig.runtime.sender._config = dataclasses.replace(config, batch_size=4)
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.sent == 0
    assert report.stopped is not None
    assert "more commands than this drain read" in report.stopped
    assert rig.pending() == 10

    rig.runtime.sender._config = config  # the next drain reads them all
    rig.drain_until_settled()
    assert in_qbo(rig.company) == first
    results = rig.results(10)
    assert {r["entity_id"]: r["qb_id"] for r in results} == {f"c-{n}": first[n] for n in names}


def test_a_re_drain_that_reads_more_commands_sends_only_the_others(
    start_sender: StartSender,
) -> None:
    rig = start_sender(window(4))
    names = [f"More {n}" for n in range(10)]
    rig.send(*customers(rig, names))
    first = crash_after_the_write(rig, 10)
    assert sorted(first) == names[:4]  # the first drain read 4

    config = rig.runtime.sender._config
    rig.runtime.sender._config = dataclasses.replace(config, batch_size=10)
    rig.drain_until_settled()
    qbo = in_qbo(rig.company)
    assert sorted(qbo) == names
    assert {n: qbo[n] for n in names[:4]} == first  # the first four not written again
    results = rig.results(10)
    assert {r["entity_id"]: r["qb_id"] for r in results} == {f"c-{n}": qbo[n] for n in names}


def test_one_refused_item_is_a_dead_letter_and_its_neighbours_are_written(
    settings: Settings, company: Company, start_online: StartOnline
) -> None:
    settings.qbo.read_entities = ""  # writes only
    status, _vendor = company.create("Vendor", {"DisplayName": "Taken Tools"})
    assert status == 200
    online = start_online()
    names = ["Alder Co", "Birch Co", "Taken Tools", "Cedar Co", "Dogwood Co"]
    online.publish(
        *(
            customer_event(online.tenant_id, f"c-{n}", {"company_name": name})
            for n, name in enumerate(names)
        )
    )
    until(
        lambda: online.runtime.commands.pending(online.profile_id) == len(names),
        what="the worker planned every customer",
        timeout=120,
    )
    (letter,) = until(dead_lettered(online, "c-2"), what="c-2 dead-lettered", timeout=60)
    # QBO's own words and the QBO catalog's explanation and remedy.
    assert "Duplicate Name Exists Error" in letter["reason"]
    assert "display names are unique across the three" in letter["explanation"]
    assert "Rename the record in the app" in letter["remedy"]
    for n in (0, 1, 3, 4):
        until(lambda n=n: online.synced("customer", f"c-{n}"), step=online.drain, what="mapped")
    qbo = sorted(c["DisplayName"] for c in company.all("Customer"))
    assert qbo == sorted(n for n in names if n != "Taken Tools")
    posts = [r[2].rsplit("/", 1)[1] for r in online.sandbox.requests if r[1] == "POST"]
    assert posts == ["batch"]  # the five in one request
