"""The QBO sender on real Kafka against the QBO sandbox over HTTP: each command lands once
and gets one result, through time-outs, throttling, stale SyncTokens, broker hiccups and a
revoked connection; nothing is committed past work that was not done."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.qbo import (
    QboEntityRequest,
    QboOperation,
)
from connectors.qbo_sandbox import Fault
from core.conflicts import CONFLICT
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.qbo import (
    NotAcknowledged,
    SenderRig,
    add_qbo_profile,
    connect,
    enqueue_commands,
    qbo_command,
    read_topic,
    sender_rig,
)
from tests.support.waiting import until

REALM = "1234500001"


def customer(name: str) -> QboEntityRequest:
    return QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": name})


@pytest.fixture
def rig(broker: BrokerInfo, settings: Settings) -> Iterator[SenderRig]:
    def prepare(prepared: Settings) -> None:
        prepared.qbo.timeout_s = 1.0

    with sender_rig(broker, settings, REALM, prepare) as made:
        yield made


def test_customers_then_invoices_land_exactly_once(rig: SenderRig) -> None:
    names = ["Ada", "Grace", "Edsger"]
    rig.send(*(qbo_command(rig.profile_id, "customer", f"c-{n}", customer(n)) for n in names))
    rig.drain_until_settled()
    results = rig.results(3)
    assert sorted(r["entity_id"] for r in results) == ["c-Ada", "c-Edsger", "c-Grace"]
    assert {(r["api"], r["status_code"], r["status_severity"]) for r in results} == {
        ("qbo", 0, "Info")
    }
    in_qbo = {c["DisplayName"]: c for c in rig.sandbox.company(REALM).all("Customer")}
    assert sorted(in_qbo) == sorted(names)
    by_entity = {r["entity_id"]: r for r in results}
    assert by_entity["c-Ada"]["qb_id"] == in_qbo["Ada"]["Id"]
    assert by_entity["c-Ada"]["edit_sequence"] == "0"
    # The result carries the command byte for byte (the worker re-sends or dead-letters it).
    assert rig.codec.decode(by_entity["c-Ada"]["command"])[1]["entity_id"] == "c-Ada"

    line = {"Amount": 40.0, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    invoices = [
        qbo_command(
            rig.profile_id,
            "invoice",
            f"i-{n}",
            QboEntityRequest(
                QboOperation.CREATE,
                "Invoice",
                {"CustomerRef": {"value": by_entity[f"c-{n}"]["qb_id"]}, "Line": [line]},
            ),
        )
        for n in ("Ada", "Grace")
    ]
    rig.send(*invoices)
    rig.drain_until_settled()
    results = rig.results(5)
    assert len(results) == 5
    invoice_results = [r for r in results if r["entity"] == "invoice"]
    assert all(r["status_code"] == 0 and r["ref_number"] for r in invoice_results)
    in_qbo_invoices = rig.sandbox.company(REALM).all("Invoice")
    assert len(in_qbo_invoices) == 2
    assert {i["TotalAmt"] for i in in_qbo_invoices} == {40.0}
    writes = [r[2].rsplit("/", 1)[1] for r in rig.sandbox.requests if r[1] == "POST"]
    # Each run of independent creates is one batch request: nothing sent twice.
    assert writes == ["batch", "batch"]


def test_a_write_retried_after_a_timeout_is_applied_once(rig: SenderRig) -> None:
    # Intuit does the work, but answers after the client gave up (time-out 1 s).
    rig.sandbox.inject(REALM, Fault("slow", entity="Customer", delay_s=2.5))
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Slow Co")))
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert result["status_code"] == 0
    assert [c["DisplayName"] for c in rig.sandbox.company(REALM).all("Customer")] == ["Slow Co"]
    # Sent twice (the slow first answer is logged when it finally goes out), written once.
    until(
        lambda: len([r for r in rig.sandbox.requests if r[1] == "POST"]) == 2,
        what="both attempts answered",
        timeout=10,
    )
    assert result["qb_id"] == rig.sandbox.company(REALM).all("Customer")[0]["Id"]


def test_a_429_is_waited_out_as_retry_after_says(rig: SenderRig) -> None:
    rig.sandbox.inject(REALM, Fault("throttle", retry_after_s=2))
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Patient Co")))
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert result["status_code"] == 0
    statuses = [(r[3], r[4]) for r in rig.sandbox.requests if r[1] == "POST"]
    assert [s for s, _ in statuses] == [429, 200]
    assert statuses[1][1] - statuses[0][1] >= 2.0  # not before Retry-After
    assert len(rig.sandbox.company(REALM).all("Customer")) == 1


def test_a_stale_sync_token_is_reread_and_decided_by_the_overwrite_rule(rig: SenderRig) -> None:
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Stale Co")))
    rig.drain_until_settled()
    (created,) = rig.results(1)
    qb_id = created["qb_id"]
    company = rig.sandbox.company(REALM)
    # Someone edits it in QuickBooks Online after our write: SyncToken 0 is stale now.
    company.edit("Customer", qb_id, {"Notes": "edited in QBO"})

    def update(notes: str, policy: str | None, changed_at: datetime) -> dict[str, Any]:
        return qbo_command(
            rig.profile_id,
            "customer",
            "c-1",
            QboEntityRequest(
                QboOperation.SPARSE, "Customer", {"Id": qb_id, "SyncToken": "0", "Notes": notes}
            ),
            conflict_policy=policy,
            source_updated_at=changed_at,
        )

    # "always": QBO's newer change stands; the app's is not written.
    rig.send(update("from the app, older", "always", datetime.now(UTC) - timedelta(hours=1)))
    rig.drain_until_settled()
    # One-way (no policy): the app's version is sent again with the current SyncToken.
    rig.send(update("from the app", None, datetime.now(UTC)))
    rig.drain_until_settled()
    results = rig.results(3)
    kept, written = results[1], results[2]
    assert (kept["status_code"], kept["edit_sequence"]) == (CONFLICT, "1")
    assert "overwrite rule (always)" in kept["status_message"]
    assert (written["status_code"], written["edit_sequence"]) == (0, "2")
    assert company.all("Customer")[0]["Notes"] == "from the app"


def test_permanent_faults_become_error_results_and_are_committed(rig: SenderRig) -> None:
    rig.send(
        qbo_command(rig.profile_id, "customer", "c-1", customer("Twin")),
        qbo_command(rig.profile_id, "customer", "c-2", customer("twin")),
    )
    rig.drain_until_settled()
    ok, duplicate = sorted(rig.results(2), key=lambda r: str(r["entity_id"]))
    assert ok["status_code"] == 0
    assert (duplicate["status_code"], duplicate["status_severity"]) == (6240, "Error")
    assert "Duplicate name" in duplicate["status_message"]
    assert rig.pending() == 0


def test_a_broker_hiccup_before_the_commit_loses_nothing_and_writes_nothing_twice(
    rig: SenderRig,
) -> None:
    rig.send(
        *(qbo_command(rig.profile_id, "customer", f"c-{n}", customer(f"Hiccup {n}")) for n in "ab")
    )
    sink = NotAcknowledged(rig.runtime.sink)
    rig.runtime.sender._sink = sink  # the sender's seam, as the factory wires it
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert "results not published" in report.stopped
    assert rig.pending() == 2  # nothing committed
    rig.drain_until_settled()
    results = rig.results(2)
    assert sorted(r["entity_id"] for r in results) == ["c-a", "c-b"]
    assert all(r["status_code"] == 0 for r in results)
    assert len(rig.sandbox.company(REALM).all("Customer")) == 2  # requestid: written once


def test_a_revoked_connection_stops_the_company_without_losing_commands(rig: SenderRig) -> None:
    company = rig.runtime.connections.company(rig.profile_id)
    assert company is not None
    assert company.tokens is not None
    rig.world.oauth.revoke(company.tokens.refresh_token)  # revokes its access tokens too
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Later Co")))
    until(lambda: rig.pending() == 1, what="the command queued", timeout=30)

    reports = rig.runtime.drain_all()
    assert reports[rig.profile_id].stopped is not None
    assert "connect the company again" in str(reports[rig.profile_id].stopped)
    assert rig.pending() == 1
    after = rig.runtime.connections.company(rig.profile_id)
    assert after is not None
    assert after.status == "reconnect_needed"
    assert rig.runtime.drain_all() == {}  # it waits for a reconnect

    connect(rig.world, rig.profile_id, REALM)
    rig.drain_until_settled()
    (result,) = rig.results(1)
    assert result["status_code"] == 0
    assert [c["DisplayName"] for c in rig.sandbox.company(REALM).all("Customer")] == ["Later Co"]


def test_an_undecodable_command_is_dead_lettered_and_passed(rig: SenderRig) -> None:
    from connectors.kafka import RecordProducer, ensure_topics

    topic = rig.settings.topics.commands(rig.profile_id)
    ensure_topics(rig.settings.kafka.client_config(), {topic: 1})
    producer = RecordProducer(rig.settings.kafka.client_config())
    producer.send_all([(topic, b"t-1", b"not avro")])
    producer.close()
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("After Junk")))
    rig.drain_until_settled()
    (letter,) = read_topic(rig.settings, rig.codec, rig.settings.topics.dead_letters, 1, 1)
    assert letter["code"] == "undecodable-command"
    assert letter["original_value"] == b"not avro"
    (result,) = rig.results(1)
    assert result["entity_id"] == "c-1"


def test_a_throttled_company_does_not_hold_up_another(rig: SenderRig) -> None:
    other_realm = "1234500002"
    rig.sandbox.add_company(other_realm)
    other = add_qbo_profile(rig.world.store, "Other Co", tenants=("t-2",))
    connect(rig.world, other, other_realm)
    rig.sandbox.inject(REALM, Fault("throttle", retry_after_s=5))
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Throttled Co")))
    enqueue_commands(
        rig.settings,
        rig.codec,
        other,
        [qbo_command(other, "customer", "c-2", customer("Free Co"), tenant_id="t-2")],
    )
    rig.drain_until_settled()
    until(lambda: rig.queue.pending(other) == 0, step=rig.runtime.drain_all, what="other done")
    written = {
        realm: at
        for (realm, verb, _path, status, at) in rig.sandbox.requests
        if verb == "POST" and status == 200
    }
    throttled_at = next(at for (realm, _v, _p, status, at) in rig.sandbox.requests if status == 429)
    # The other company's write went out while the throttled one waited out Retry-After.
    assert written[other_realm] < throttled_at + 5
    assert written[REALM] >= throttled_at + 5


def test_an_oauth_outage_during_a_refresh_stops_the_drain_and_loses_nothing(rig: SenderRig) -> None:
    rig.sandbox.inject(REALM, Fault("expired_token"))  # the next write needs a refresh
    rig.sandbox.oauth_outages = 1  # ... and Intuit's token endpoint is down once
    rig.send(qbo_command(rig.profile_id, "customer", "c-1", customer("Outage Co")))
    until(lambda: rig.pending() == 1, what="the command queued", timeout=30)

    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert "503" in report.stopped
    assert rig.pending() == 1
    company = rig.runtime.connections.company(rig.profile_id)
    assert company is not None
    assert company.status == "connected"  # not a revocation: nobody has to reconnect

    rig.drain_until_settled()  # the lease was given back: the next drain refreshes
    (result,) = rig.results(1)
    assert result["status_code"] == 0
    assert len(rig.sandbox.company(REALM).all("Customer")) == 1


def test_match_existing_adopts_what_the_bookkeeper_entered_in_qbo(rig: SenderRig) -> None:
    company = rig.sandbox.company(REALM)
    status, body = company.create("Customer", {"DisplayName": "O'Brien & Sons"})
    assert status == 200
    existing = body["Customer"]
    line = {"Amount": 99.0, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    status, body = company.create(
        "Invoice", {"CustomerRef": {"value": existing["Id"]}, "Line": [line], "DocNumber": "A-7"}
    )
    assert status == 200
    entered = body["Invoice"]
    adopt_customer = qbo_command(rig.profile_id, "customer", "c-1", customer("O'Brien & Sons"))
    adopt_invoice = qbo_command(
        rig.profile_id,
        "invoice",
        "i-1",
        QboEntityRequest(
            QboOperation.CREATE,
            "Invoice",
            {"CustomerRef": {"value": existing["Id"]}, "Line": [line], "DocNumber": "A-7"},
        ),
    )
    adopt_customer["match_existing"] = adopt_invoice["match_existing"] = True
    rig.send(adopt_customer, adopt_invoice)
    rig.drain_until_settled()
    by_entity = {r["entity"]: r for r in rig.results(2)}
    assert (by_entity["customer"]["status_code"], by_entity["customer"]["qb_id"]) == (
        0,
        existing["Id"],
    )
    assert "adopted" in by_entity["customer"]["status_message"]
    assert (by_entity["invoice"]["qb_id"], by_entity["invoice"]["ref_number"]) == (
        entered["Id"],
        "A-7",
    )
    assert len(company.all("Customer")) == 1
    assert len(company.all("Invoice")) == 1
    # The invoice was found before any write; only the customer's create was tried (6240).
    assert [r[3] for r in rig.sandbox.requests if r[1] == "POST"] == [400]


def test_a_record_created_again_after_a_hiccup_is_written_once(rig: SenderRig) -> None:
    """ENSURE of a bill QBO lost, and an update answered 610: each record is created again,
    and a re-drain after the results were not published (nothing committed) answers from
    the first write (its own requestid) instead of creating a second one."""
    company = rig.sandbox.company(REALM)
    _s, vendor = company.create("Vendor", {"DisplayName": "Midwest Duct"})
    line = {
        "Amount": 20.0,
        "DetailType": "ItemBasedExpenseLineDetail",
        "ItemBasedExpenseLineDetail": {"ItemRef": {"value": "1"}},
    }
    body = {"VendorRef": {"value": vendor["Vendor"]["Id"]}, "Line": [line], "DocNumber": "B-9"}
    _s, first = company.create("Bill", body)
    gone_bill = first["Bill"]["Id"]
    _s, customer_made = company.create("Customer", {"DisplayName": "Hopper, Grace"})
    gone_customer = customer_made["Customer"]["Id"]
    company.remove("Bill", gone_bill)
    company.remove("Customer", gone_customer)
    ensure = QboEntityRequest(QboOperation.ENSURE, "Bill", {**body, "Id": gone_bill})
    update = QboEntityRequest(
        QboOperation.SPARSE,
        "Customer",
        {"Id": gone_customer, "SyncToken": "0", "DisplayName": "Hopper, Grace", "Notes": "new"},
    )
    rig.send(
        qbo_command(rig.profile_id, "bill", "b-9", ensure),
        qbo_command(rig.profile_id, "customer", "c-1", update),
    )
    sink = NotAcknowledged(rig.runtime.sink)
    rig.runtime.sender._sink = sink  # the sender's seam, as the factory wires it
    report = rig.runtime.drain_all()[rig.profile_id]
    assert report.stopped is not None
    assert rig.pending() == 2  # nothing committed
    rig.drain_until_settled()
    by_entity = {r["entity"]: r for r in rig.results(2)}
    (bill,) = company.all("Bill")
    (customer,) = company.all("Customer")
    assert by_entity["bill"]["qb_id"] == bill["Id"] != gone_bill
    assert by_entity["customer"]["qb_id"] == customer["Id"] != gone_customer
    assert customer["Notes"] == "new"
    assert all(r["status_code"] == 0 for r in by_entity.values())
    assert "created again" in by_entity["bill"]["status_message"]
