"""The follow-up rules for 3100 on a re-sent add and 3200 on a mod (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.qbwc._recovery import (
    Flight,
    Sent,
    advance,
    finished,
    followup_requests,
    main_requests,
    prepare,
    staged,
)
from connectors.qbxml import ResponseStatus, build_request, parse_xml
from core.conflicts import CONFLICT


def status(request_id: str, code: int, **found: str) -> ResponseStatus:
    severity = "Info" if code < 500 else "Error"
    return ResponseStatus(
        request_id=request_id,
        request_type="Customer",
        status_code=code,
        status_severity=severity,
        status_message=f"code {code}",
        qb_id=found.get("qb_id"),
        edit_sequence=found.get("edit_sequence"),
        full_name=found.get("full_name"),
    )


def flight(*commands: Sent) -> Flight:
    return Flight(next_offset=10, commands=commands)


def add(request_id: str, name: str, *, resent: bool) -> Sent:
    values: dict[str, Any] = {"Name": name}
    return Sent(
        request_id=request_id,
        action="ADD",
        resent=resent,
        request_xml=build_request("customer", "Add", values),
    )


def mod(request_id: str) -> Sent:
    return Sent(
        request_id=request_id,
        action="MOD",
        resent=False,
        request_xml=build_request(
            "customer", "Mod", {"Name": "Ada"}, qb_id="80000001-1", edit_sequence="100"
        ),
    )


def test_plain_answers_finish_the_flight() -> None:
    after = advance(flight(add("1", "Ada", resent=False)), {"1": status("1", 0, qb_id="X")})
    assert finished(after)
    assert after.commands[0].outcome.qb_id == "X"


def test_3100_on_a_first_attempt_is_a_real_clash() -> None:
    after = advance(flight(add("1", "Ada", resent=False)), {"1": status("1", 3100)})
    assert finished(after)
    assert after.commands[0].outcome.status_code == 3100


def test_3100_on_a_resent_add_is_resolved_by_name() -> None:
    after = advance(flight(add("1", "Ada & Co", resent=True)), {"1": status("1", 3100)})
    assert not finished(after)
    ((request_id, request_xml),) = followup_requests(after)
    query = parse_xml(request_xml)
    assert query.tag == "CustomerQueryRq"
    assert query.findtext("FullName") == "Ada & Co"
    done = advance(
        after, {request_id: status(request_id, 0, qb_id="80000007-1", edit_sequence="5")}
    )
    assert finished(done)
    answer = done.commands[0].outcome
    assert (answer.status_code, answer.qb_id, answer.edit_sequence) == (
        0,
        "80000007-1",
        "5",
    )
    assert "earlier attempt" in answer.status_message


def test_lookup_that_finds_nothing_keeps_the_original_error() -> None:
    after = advance(flight(add("1", "Ada", resent=True)), {"1": status("1", 3100)})
    ((request_id, _),) = followup_requests(after)
    done = advance(after, {request_id: status(request_id, 1)})
    assert finished(done)
    assert done.commands[0].outcome.status_code == 3100


def test_3200_rereads_the_edit_sequence_and_sends_the_mod_once_more() -> None:
    after = advance(flight(mod("1")), {"1": status("1", 3200)})
    ((lookup_id, lookup_xml),) = followup_requests(after)
    assert parse_xml(lookup_xml).findtext("ListID") == "80000001-1"
    resend = advance(
        after, {lookup_id: status(lookup_id, 0, qb_id="80000001-1", edit_sequence="777")}
    )
    ((resend_id, resend_xml),) = followup_requests(resend)
    assert parse_xml(resend_xml).findtext("CustomerMod/EditSequence") == "777"
    assert parse_xml(resend_xml).findtext("CustomerMod/Name") == "Ada"
    # A second 3200 is final: no loop.
    done = advance(resend, {resend_id: status(resend_id, 3200)})
    assert finished(done)
    assert done.commands[0].outcome.status_code == 3200


def test_missing_answer_is_an_error_not_a_silent_success() -> None:
    done = advance(flight(add("1", "Ada", resent=False)), {})
    assert done.commands[0].outcome.status_severity == "Error"


def test_only_commands_that_need_it_get_follow_ups() -> None:
    after = advance(
        flight(add("1", "Ada", resent=True), add("2", "Grace", resent=True), mod("3")),
        {"1": status("1", 0, qb_id="A"), "2": status("2", 3100), "3": status("3", 0, qb_id="M")},
    )
    assert [f.index for f in after.followups] == [1]


INVOICE_ADD = (
    "<InvoiceAddRq><InvoiceAdd><CustomerRef><FullName>Ada</FullName></CustomerRef>"
    "<RefNumber>INV-7</RefNumber><InvoiceLineAdd><Desc>Work</Desc><Amount>10.00</Amount>"
    "</InvoiceLineAdd></InvoiceAdd></InvoiceAddRq>"
)


def invoice(request_id: str, *, resent: bool) -> Sent:
    return Sent(request_id=request_id, action="ADD", resent=resent, request_xml=INVOICE_ADD)


def test_a_resent_transaction_add_is_looked_up_by_ref_number_before_it_goes_out() -> None:
    prepared = prepare(flight(invoice("1", resent=True), add("2", "Ada", resent=True)))
    assert not finished(prepared)
    ((lookup_id, lookup_xml),) = followup_requests(prepared)
    query = parse_xml(lookup_xml)
    assert (query.tag, query.findtext("RefNumber")) == ("InvoiceQueryRq", "INV-7")
    found = advance(prepared, {lookup_id: status(lookup_id, 0, qb_id="1A-1", edit_sequence="3")})
    # Found: settled as already there; only the customer goes out.
    assert not finished(found)
    assert found.commands[0].outcome.qb_id == "1A-1"
    assert [request_id for request_id, _ in main_requests(found)] == ["2"]


def test_a_resent_transaction_add_not_found_is_sent() -> None:
    prepared = prepare(flight(invoice("1", resent=True)))
    ((lookup_id, _),) = followup_requests(prepared)
    missing = advance(prepared, {lookup_id: status(lookup_id, 1)})
    assert [request_id for request_id, _ in main_requests(missing)] == ["1"]


def test_first_attempts_need_no_lookup() -> None:
    prepared = prepare(flight(invoice("1", resent=False)))
    assert finished(prepared)
    assert followup_requests(prepared) == []


# -- a batch staged by the settle before it (issue 14: one write per batch) ---------------


def test_a_staged_batch_goes_out_whole_and_its_answers_finish_it() -> None:
    """Staged: its own requests are next (served without a write, so the row still says
    not sent); the answers to them are the main answers, and finish it."""
    ready = staged(prepare(flight(add("1", "Ada", resent=False), add("2", "Grace", resent=False))))
    assert not finished(ready)
    assert followup_requests(ready) == []
    assert [request_id for request_id, _ in main_requests(ready)] == ["1", "2"]
    answered = advance(ready, {"1": status("1", 0, qb_id="A"), "2": status("2", 0, qb_id="G")})
    assert finished(answered)
    assert [c.outcome.qb_id for c in answered.commands] == ["A", "G"]


def test_a_staged_batch_of_re_sends_is_looked_up_first_then_sent() -> None:
    """A staged re-sent transaction add keeps its look-up first; once that is answered the
    batch's own requests are due (still not finished), and their answers finish it."""
    ready = staged(prepare(flight(invoice("1", resent=True))))
    ((lookup_id, _),) = followup_requests(ready)
    missing = advance(ready, {lookup_id: status(lookup_id, 1)})
    assert not finished(missing)
    assert [request_id for request_id, _ in main_requests(missing)] == ["1"]
    sent = advance(missing, {"1": status("1", 0, qb_id="1A-9")})
    assert finished(sent)
    assert sent.commands[0].outcome.qb_id == "1A-9"
    # The row's JSON carries the staged state across replicas.
    assert Flight.from_json(json.loads(json.dumps(ready.to_json()))) == ready


# -- two-way: a 3200 is a conflict, decided by the tenant's policy -------------------------

QB_CHANGED = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def two_way_mod(policy: str, app_changed: datetime) -> Sent:
    return dataclasses.replace(mod("1"), conflict_policy=policy, source_updated_at=app_changed)


def after_lookup(command: Sent) -> Flight:
    after = advance(flight(command), {"1": status("1", 3200)})
    ((lookup_id, _),) = followup_requests(after)
    found = ResponseStatus(
        request_id=lookup_id,
        request_type="Customer",
        status_code=0,
        status_severity="Info",
        status_message="Status OK",
        qb_id="80000001-1",
        edit_sequence="777",
        time_modified=QB_CHANGED,
    )
    return advance(after, {lookup_id: found})


@pytest.mark.parametrize(
    ("policy", "app_offset", "resent"),
    [
        ("never", timedelta(hours=-1), True),  # the app always wins
        ("always", timedelta(hours=1), False),  # QuickBooks always wins
        ("most_recent", timedelta(minutes=1), True),
        ("most_recent", timedelta(minutes=-1), False),
    ],
)
def test_a_two_way_3200_is_resent_only_when_the_app_wins(
    policy: str, app_offset: timedelta, resent: bool
) -> None:
    done = after_lookup(two_way_mod(policy, QB_CHANGED + app_offset))
    if resent:
        ((_, again),) = followup_requests(done)
        assert parse_xml(again).findtext("CustomerMod/EditSequence") == "777"
        return
    assert finished(done)
    answer = done.commands[0].outcome
    assert answer.status_code == CONFLICT
    assert answer.status_severity != "Error"  # not a failure of the file's session
    assert answer.edit_sequence is None  # the mapping keeps our version: the import delivers
    assert policy in answer.status_message
    assert QB_CHANGED.isoformat() in answer.status_message


def test_a_one_way_3200_is_resent_whatever_the_times() -> None:
    done = after_lookup(mod("1"))
    ((_, again),) = followup_requests(done)
    assert parse_xml(again).findtext("CustomerMod/EditSequence") == "777"


def test_a_flight_survives_the_session_row() -> None:
    """The session row keeps a flight as JSON: any replica reads back the same flight."""
    two_way = dataclasses.replace(
        two_way_mod("most_recent", QB_CHANGED), command=b"\x00raw\xff", tenant_id="t"
    )
    after = advance(flight(add("0", "Ada", resent=True), two_way), {"0": status("0", 3100)})
    again = Flight.from_json(json.loads(json.dumps(after.to_json())))
    assert again == after
    assert again.commands[1].source_updated_at == QB_CHANGED
    assert again.commands[1].command == b"\x00raw\xff"


def test_a_flight_written_by_another_version_is_read_with_what_this_one_knows() -> None:
    """Replicas are upgraded one at a time: a session row may carry a command field this
    version does not know (ignored) or lack one it added (its default)."""
    answered = advance(flight(invoice("1", resent=False)), {"1": status("1", 0, qb_id="1A-9")})
    row = json.loads(json.dumps(answered.to_json()))
    row["commands"][0]["added_later"] = "x"
    del row["commands"][0]["conflict_policy"]
    assert Flight.from_json(row) == answered
