"""Settling a batch when QuickBooks' answer is not the end of the story: pure rules, no I/O.

Two answers get a follow-up within the same Web Connector session instead of a failure:

- **3100 (name in use) to an Add that was already sent once** (the gateway crashed, or the
  Web Connector died, after QuickBooks applied it but before the answer came back). The record
  is ours: look it up by its full name and settle with its ListID, so a retry never creates
  a duplicate. A 3100 on a first attempt is a real clash and stays an error.
- **3200 (stale EditSequence) to a Mod**: read the current EditSequence by id and send the
  Mod again, once. A Mod re-sent after a crash meets exactly this. For a two-way entity the
  command carries the tenant's conflict policy and the app's ``source_updated_at``: 3200
  then means QuickBooks changed the record since we last wrote it, and the Mod is sent
  again only when the app's version wins (:func:`core.conflicts.winner` against the
  record's ``TimeModified``); otherwise it settles as ``CONFLICT`` and QuickBooks' version
  reaches the app through the next import.

A batch is a ``flight``: a JSON-able dict kept in the session row, so any gateway replica can
carry on with it. :func:`advance` takes a flight and QuickBooks' statuses and returns the
next flight; it is finished when it has no follow-ups left.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from lxml import etree

from connectors.qbxml import ResponseStatus, parse_xml
from core.conflicts import CONFLICT, winner
from core.status import Status

__all__ = [
    "advance",
    "finished",
    "followup_requests",
    "main_requests",
    "outcome",
    "prepare",
]

NAME_IN_USE = 3100
STALE_EDIT_SEQUENCE = 3200
NO_ANSWER = {
    "status_code": int(Status.NO_ANSWER),
    "status_severity": "Error",
    "status_message": "QuickBooks returned no answer for this request.",
    "qb_id": None,
    "edit_sequence": None,
    "full_name": None,
    "ref_number": None,
}


def outcome(status: ResponseStatus | None) -> dict[str, Any]:
    if status is None:
        return dict(NO_ANSWER)
    return {
        "status_code": status.status_code,
        "status_severity": status.status_severity,
        "status_message": status.status_message,
        "qb_id": status.qb_id,
        "edit_sequence": status.edit_sequence,
        "full_name": status.full_name,
        "ref_number": status.ref_number,
    }


def finished(flight: Mapping[str, Any]) -> bool:
    return not flight.get("followups") and bool(flight.get("main_sent", True))


def prepare(flight: Mapping[str, Any]) -> dict[str, Any]:
    """Before a batch goes out: a transaction add sent once already (it may be applied) is
    first looked up by its RefNumber; found, it settles without being added again."""
    followups = []
    for index, command in enumerate(flight["commands"]):
        if "outcome" in command or command["action"] != "ADD" or not command.get("resent"):
            continue
        lookup = _lookup_by_ref_number(command.get("request_xml") or "")
        if lookup is not None:
            followups.append(_followup(index, "lookup-txn", lookup, 0))
    return {**flight, "followups": followups, "main_sent": not followups}


def main_requests(flight: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The batch's own requests: every command not settled without QuickBooks."""
    return [(c["request_id"], c["request_xml"]) for c in flight["commands"] if "outcome" not in c]


def followup_requests(flight: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [(f["request_id"], f["request_xml"]) for f in flight.get("followups", [])]


def advance(flight: Mapping[str, Any], statuses: Mapping[str, ResponseStatus]) -> dict[str, Any]:
    """Record what QuickBooks answered; plan the follow-ups that answer calls for."""
    commands = [dict(c) for c in flight["commands"]]
    round_number = int(flight.get("round", 0)) + 1
    followups: list[dict[str, Any]] = []
    pending = flight.get("followups") or []
    if not pending:
        for index, command in enumerate(commands):
            if "outcome" in command:
                continue  # settled without QuickBooks (blocked by a failed dependency)
            answer = outcome(statuses.get(command["request_id"]))
            command["outcome"] = answer
            followups.extend(_after_first_answer(index, command, answer, round_number))
    else:
        for followup in pending:
            command = commands[followup["index"]]
            status = statuses.get(followup["request_id"])
            followups.extend(_after_followup(followup, command, status, round_number))
    return {**flight, "commands": commands, "followups": followups, "round": round_number}


def _after_first_answer(
    index: int, command: dict[str, Any], answer: Mapping[str, Any], round_number: int
) -> list[dict[str, Any]]:
    code = answer["status_code"]
    request = command.get("request_xml") or ""
    if code == NAME_IN_USE and command["action"] == "ADD" and command.get("resent"):
        lookup = _lookup_by_name(request)
        if lookup is not None:
            return [_followup(index, "lookup-add", lookup, round_number)]
    if code == STALE_EDIT_SEQUENCE and command["action"] == "MOD":
        lookup = _lookup_by_id(request)
        if lookup is not None:
            return [_followup(index, "lookup-mod", lookup, round_number)]
    return []


def _after_followup(
    followup: Mapping[str, Any],
    command: dict[str, Any],
    status: ResponseStatus | None,
    round_number: int,
) -> list[dict[str, Any]]:
    kind = followup["kind"]
    found = status is not None and status.ok and status.status_code == 0 and status.qb_id
    if kind == "lookup-add":
        if found:
            command["outcome"] = {
                **outcome(status),
                "status_message": "Already in QuickBooks from an earlier attempt; matched by"
                " name instead of adding it twice.",
            }
        return []
    if kind == "lookup-txn":
        if found:
            command["outcome"] = {
                **outcome(status),
                "status_message": "Already in QuickBooks from an earlier attempt; matched by"
                " RefNumber instead of adding it twice.",
            }
        return []
    if kind == "lookup-mod":
        if found and status is not None and _quickbooks_wins(command, status):
            command["outcome"] = _conflict(command, status)
            return []
        if found and status is not None and status.edit_sequence:
            again = _with_edit_sequence(command["request_xml"], status.edit_sequence)
            return [_followup(followup["index"], "resend-mod", again, round_number)]
        return []
    # resend-mod: whatever QuickBooks says now is the answer.
    command["outcome"] = outcome(status)
    return []


def _quickbooks_wins(command: Mapping[str, Any], status: ResponseStatus) -> bool:
    policy = command.get("conflict_policy")
    if not policy or not command.get("source_updated_at"):
        return False  # one-way: the app's version is written
    app_changed_at = datetime.fromisoformat(command["source_updated_at"])
    return winner(policy, app_changed_at, status.time_modified) == "quickbooks"


def _conflict(command: Mapping[str, Any], status: ResponseStatus) -> dict[str, Any]:
    changed = status.time_modified.isoformat() if status.time_modified else "an unknown time"
    return {
        **outcome(status),
        "status_code": CONFLICT,
        "status_severity": "Warn",
        "status_message": f"Not written: QuickBooks changed this record at {changed}, and the"
        f" app's change of {command['source_updated_at']} loses under conflict policy"
        f" {command['conflict_policy']!r}. QuickBooks' version goes to the app as a change.",
        "edit_sequence": None,  # the mapping keeps the version we wrote: the import delivers
    }


def _followup(index: int, kind: str, request_xml: str, round_number: int) -> dict[str, Any]:
    return {
        "request_id": f"r{round_number}-{index}",
        "index": index,
        "kind": kind,
        "request_xml": request_xml,
    }


def _body(request_xml: str) -> tuple[str, etree._Element] | None:
    """``(object name, body element)`` of e.g. ``<CustomerAddRq><CustomerAdd>``.

    Follow-up queries are built from the request itself, not from the command's entity:
    the two differ (a 1099 worker is an ``employee`` sent as a VendorAdd), and the query
    must ask for the object QuickBooks was actually given."""
    root = parse_xml(request_xml)
    body = next((child for child in root if isinstance(child.tag, str)), None)
    if body is None:
        return None
    for suffix in ("Add", "Mod"):
        if body.tag.endswith(suffix):
            return body.tag.removesuffix(suffix), body
    return None


def _lookup_by_name(request_xml: str) -> str | None:
    parsed = _body(request_xml)
    if parsed is None:
        return None
    name, body = parsed
    short = body.findtext("Name")
    if not short:
        return None  # not a list object: transactions have no unique name
    parent = body.findtext("ParentRef/FullName")
    query = etree.Element(f"{name}QueryRq")
    etree.SubElement(query, "FullName").text = f"{parent}:{short}" if parent else short
    return str(etree.tostring(query, encoding="unicode"))


def _lookup_by_ref_number(request_xml: str) -> str | None:
    """A query by RefNumber for a transaction add that carries one (lists have a Name)."""
    parsed = _body(request_xml) if request_xml else None
    if parsed is None:
        return None
    name, body = parsed
    ref_number = body.findtext("RefNumber")
    if body.find("Name") is not None or not ref_number:
        return None
    query = etree.Element(f"{name}QueryRq")
    etree.SubElement(query, "RefNumber").text = ref_number
    return str(etree.tostring(query, encoding="unicode"))


def _lookup_by_id(request_xml: str) -> str | None:
    parsed = _body(request_xml)
    if parsed is None:
        return None
    name, body = parsed
    for id_element in ("ListID", "TxnID"):
        value = body.findtext(id_element)
        if value:
            query = etree.Element(f"{name}QueryRq")
            etree.SubElement(query, id_element).text = value
            return str(etree.tostring(query, encoding="unicode"))
    return None


def _with_edit_sequence(request_xml: str, edit_sequence: str) -> str:
    root = parse_xml(request_xml)
    element = root.find(".//EditSequence")
    if element is not None:
        element.text = edit_sequence
    return str(etree.tostring(root, encoding="unicode"))
