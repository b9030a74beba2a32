"""Two clients' projects of the same name in one QBO company (6240: display names are unique
across customers, vendors and employees, projects included), on real Kafka against the QBO
sandbox over HTTP: the second lands under its own client with a qualified name, never adopts
the other client's project, keeps that name through its updates, and a re-drain after a crash
writes nothing twice."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.qbo._project_names import (
    DISPLAY_NAME_MAX,
    is_project,
    qualified,
    same_project,
    unqualified,
)
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.qbo import NotAcknowledged, SenderRig, qbo_command, sender_rig

REALM = "1234500077"


@pytest.fixture
def rig(broker: BrokerInfo, settings: Settings) -> Iterator[SenderRig]:
    def prepare(prepared: Settings) -> None:
        prepared.qbo.timeout_s = 5.0

    with sender_rig(broker, settings, REALM, prepare) as made:
        yield made


def client(rig: SenderRig, name: str) -> str:
    status, body = rig.company.create("Customer", {"DisplayName": name})
    assert status == 200
    return str(body["Customer"]["Id"])


def project(name: str, client_id: str, **more: Any) -> QboEntityRequest:
    body = {"DisplayName": name, "Job": True, "ParentRef": {"value": client_id}, **more}
    return QboEntityRequest(QboOperation.CREATE, "Customer", body)


def projects(rig: SenderRig) -> dict[str, dict[str, Any]]:
    """The company's projects by Id."""
    return {c["Id"]: c for c in rig.company.all("Customer") if c.get("Job")}


def test_a_project_named_like_another_clients_lands_under_its_own_client(
    rig: SenderRig,
) -> None:
    acme, birch = client(rig, "Acme Builders"), client(rig, "Birch Homes")
    # The bookkeeper's own "Phase 1" under Acme; the app sends Birch's "Phase 1", asking to
    # adopt a record QBO already has under the name (match_existing).
    status, body = rig.company.create(
        "Customer", {"DisplayName": "Phase 1", "Job": True, "ParentRef": {"value": acme}}
    )
    assert status == 200
    acmes = body["Customer"]["Id"]
    command = qbo_command(rig.profile_id, "job", "j-birch", project("Phase 1", birch))
    command["match_existing"] = True
    rig.send(command)
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert result["status_code"] == 0, result["status_message"]
    assert result["qb_id"] != acmes  # not adopted: that is Acme's project
    landed = projects(rig)[result["qb_id"]]
    assert landed["ParentRef"]["value"] == birch
    assert landed["DisplayName"] == "Phase 1 (Birch Homes)"
    assert result["full_name"] == "Birch Homes:Phase 1 (Birch Homes)"
    assert "'Phase 1 (Birch Homes)'" in result["status_message"]
    assert projects(rig)[acmes]["DisplayName"] == "Phase 1"  # untouched
    assert projects(rig)[acmes]["ParentRef"]["value"] == acme

    # The app edits its project, still calling it "Phase 1": the same record changes and
    # keeps the qualified name.
    update = QboEntityRequest(
        QboOperation.SPARSE,
        "Customer",
        {
            "Id": result["qb_id"],
            "SyncToken": landed["SyncToken"],
            "DisplayName": "Phase 1",
            "Job": True,
            "ParentRef": {"value": birch},
            "Notes": "roof first",
        },
    )
    rig.send(qbo_command(rig.profile_id, "job", "j-birch", update))
    rig.drain_until_settled()
    (_first, changed) = rig.results(2)
    assert changed["status_code"] == 0, changed["status_message"]
    assert changed["qb_id"] == result["qb_id"]
    after = projects(rig)
    assert len(after) == 2
    assert after[result["qb_id"]]["Notes"] == "roof first"
    assert after[result["qb_id"]]["DisplayName"] == "Phase 1 (Birch Homes)"


def test_the_same_clients_project_is_adopted(rig: SenderRig) -> None:
    birch = client(rig, "Birch Homes")
    status, body = rig.company.create(
        "Customer", {"DisplayName": "Phase 1", "Job": True, "ParentRef": {"value": birch}}
    )
    assert status == 200
    command = qbo_command(rig.profile_id, "job", "j-birch", project("Phase 1", birch))
    command["match_existing"] = True
    rig.send(command)
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert (result["status_code"], result["qb_id"]) == (0, body["Customer"]["Id"])
    assert "adopted" in result["status_message"]
    assert len(projects(rig)) == 1


def test_a_batched_project_whose_name_is_taken_lands_once_through_a_crash(
    rig: SenderRig,
) -> None:
    """Birch's "Phase 1" goes in one batch of creates with a new client; its 6240 there is
    sent alone and qualified. The results are not acknowledged the first time (nothing
    committed): the re-drain's requestids get Intuit's first answers, so nothing is written
    twice."""
    acme, birch = client(rig, "Acme Builders"), client(rig, "Birch Homes")
    status, _body = rig.company.create(
        "Customer", {"DisplayName": "Phase 1", "Job": True, "ParentRef": {"value": acme}}
    )
    assert status == 200
    cedar = QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": "Cedar Co"})
    rig.send(
        qbo_command(rig.profile_id, "job", "j-birch", project("Phase 1", birch)),
        qbo_command(rig.profile_id, "customer", "c-cedar", cedar),
    )
    rig.runtime.sender._sink = NotAcknowledged(rig.runtime.sink)  # the sender's seam
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert "results not published" in report.stopped
    assert rig.pending() == 2
    assert any(r[2].endswith("/batch") for r in rig.sandbox.requests)  # the batch path
    rig.drain_until_settled()
    by_id = {r["entity_id"]: r for r in rig.results(2)}
    assert {r["status_code"] for r in by_id.values()} == {0}
    landed = projects(rig)
    assert sorted((p["DisplayName"], p["ParentRef"]["value"]) for p in landed.values()) == [
        ("Phase 1", acme),
        ("Phase 1 (Birch Homes)", birch),
    ]
    assert landed[by_id["j-birch"]["qb_id"]]["ParentRef"]["value"] == birch
    names = [c["DisplayName"] for c in rig.company.all("Customer")]
    assert sorted(names) == sorted(
        ["Acme Builders", "Birch Homes", "Cedar Co", "Phase 1", "Phase 1 (Birch Homes)"]
    )


def test_a_name_held_by_a_vendor_is_qualified_and_a_qualified_name_taken_too_is_refused(
    rig: SenderRig,
) -> None:
    birch = client(rig, "Birch Homes")
    status, _body = rig.company.create("Vendor", {"DisplayName": "Phase 2"})
    assert status == 200
    rig.send(qbo_command(rig.profile_id, "job", "j-2", project("Phase 2", birch)))
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert result["status_code"] == 0, result["status_message"]
    assert projects(rig)[result["qb_id"]]["DisplayName"] == "Phase 2 (Birch Homes)"

    # A project whose qualified name is taken too: the second 6240 is the answer.
    status, _body = rig.company.create("Vendor", {"DisplayName": "Phase 3"})
    assert status == 200
    status, _body = rig.company.create("Vendor", {"DisplayName": "Phase 3 (Birch Homes)"})
    assert status == 200
    rig.send(qbo_command(rig.profile_id, "job", "j-3", project("Phase 3", birch)))
    rig.drain_until_settled()
    (_ok, refused) = rig.results(2)
    assert refused["status_code"] == 6240
    assert "Duplicate name" in refused["status_message"]
    assert len(projects(rig)) == 1


# -- the naming rule alone -----------------------------------------------------------------


def test_the_rule_knows_a_project_and_its_own_clients_records() -> None:
    mine = project("Phase 1", "7")
    assert is_project(mine)
    assert not is_project(QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": "A"}))
    assert not is_project(QboEntityRequest(QboOperation.CREATE, "Vendor", mine.body))
    assert same_project(mine, {"Job": True, "ParentRef": {"value": "7"}})
    assert not same_project(mine, {"Job": True, "ParentRef": {"value": "8"}})
    assert not same_project(mine, {"DisplayName": "Phase 1"})  # a top-level customer


def test_a_qualified_name_keeps_the_client_whole_within_qbos_length() -> None:
    short = qualified(project("  Phase 1 ", "7"), "Birch Homes")
    assert short.body["DisplayName"] == "Phase 1 (Birch Homes)"
    assert short.body["ParentRef"] == {"value": "7"}
    assert "'Phase 1'" in short.notes[-1]
    long = qualified(project("P" * 600, "7"), "Birch Homes")
    assert len(long.body["DisplayName"]) == DISPLAY_NAME_MAX
    assert long.body["DisplayName"].endswith("P (Birch Homes)")


@pytest.mark.parametrize(
    ("display", "full", "expected"),
    [
        # qbsync's qualified name: the app's own name, under its client.
        (
            "Phase 1 (Birch Homes)",
            "Birch Homes:Phase 1 (Birch Homes)",
            ("Phase 1", "Birch Homes:Phase 1"),
        ),
        # A project of a sub-customer: the client is the part just above the project.
        (
            "Roof (East Wing)",
            "Birch Homes:East Wing:Roof (East Wing)",
            ("Roof", "Birch Homes:East Wing:Roof"),
        ),
        # Another client's name in brackets, no client, or nothing before the suffix: as is.
        (
            "Phase 1 (Acme)",
            "Birch Homes:Phase 1 (Acme)",
            ("Phase 1 (Acme)", "Birch Homes:Phase 1 (Acme)"),
        ),
        (
            "Birch Homes (Birch Homes)",
            "Birch Homes (Birch Homes)",
            ("Birch Homes (Birch Homes)", "Birch Homes (Birch Homes)"),
        ),
        (
            " (Birch Homes)",
            "Birch Homes: (Birch Homes)",
            (" (Birch Homes)", "Birch Homes: (Birch Homes)"),
        ),
    ],
)
def test_a_qualified_project_name_reads_back_as_the_apps(
    display: str, full: str, expected: tuple[str, str]
) -> None:
    assert unqualified(display, full) == expected
    # The inverse of the sender's naming.
    if expected[0] != display:
        written = qualified(project(expected[0], "7"), full.split(":")[-2])
        assert written.body["DisplayName"] == display
