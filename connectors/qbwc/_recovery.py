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

A batch is a :class:`Flight`, a frozen record kept in the session row as JSON
(:meth:`Flight.to_json`), so any gateway replica can carry on with it. :func:`advance` takes a
flight and QuickBooks' statuses and returns the next flight; it is finished when it has no
follow-ups left.

What the session row's flight says, and what any replica does with it (issue 14: a batch is
written once, by the settle of the batch before it or, for a session's first, by the
``sendRequestXML`` that serves it; its commands are marked sent, ``sent_through``, in that
same write):

- no flight: ``sendRequestXML`` fetches, plans, writes the batch and serves it;
  ``receiveResponseXML`` has nothing to settle (an import answered, or the end);
- follow-ups: served without a write; their answers :func:`advance` it, and an unfinished
  flight is written again;
- no follow-ups and ``main_sent`` False (:func:`staged`, or after its look-ups): its own
  requests are served without a write; their answers :func:`advance` it (``main_sent`` now
  True), it is settled, and the next batch is staged in the settle's write;
- finished (``main_sent``, no follow-ups) at a ``sendRequestXML``: served once already, so
  it is planned again from the topic, its commands now re-sends, looked up first.

After a crash at any point the next session starts with no flight: what was planned or
served but not settled is read again from the topic (nothing was committed past it) and,
being below ``sent_through``, looked up in QuickBooks before it is sent.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from lxml import etree

from connectors.qbxml import ResponseStatus, parse_xml
from core.conflicts import CONFLICT, winner
from core.messages import Action
from core.status import Status

__all__ = [
    "Answer",
    "Flight",
    "Followup",
    "Sent",
    "advance",
    "finished",
    "followup_requests",
    "main_requests",
    "prepare",
    "staged",
]

NAME_IN_USE = 3100
STALE_EDIT_SEQUENCE = 3200
FollowupKind = Literal["lookup-add", "lookup-txn", "lookup-mod", "resend-mod"]


@dataclass(frozen=True)
class Answer:
    """What became of one command: QuickBooks' status, or qbsync's own (core.status)."""

    status_code: int
    status_severity: str
    status_message: str
    qb_id: str | None = None
    edit_sequence: str | None = None
    full_name: str | None = None
    ref_number: str | None = None

    @property
    def failed(self) -> bool:
        return self.status_severity == "Error" or self.status_code >= 1000

    @classmethod
    def of(cls, status: ResponseStatus | None) -> Answer:
        if status is None:
            return NO_ANSWER
        return cls(
            status_code=status.status_code,
            status_severity=status.status_severity,
            status_message=status.status_message,
            qb_id=status.qb_id,
            edit_sequence=status.edit_sequence,
            full_name=status.full_name,
            ref_number=status.ref_number,
        )


NO_ANSWER = Answer(
    status_code=int(Status.NO_ANSWER),
    status_severity="Error",
    status_message="QuickBooks returned no answer for this request.",
)


@dataclass(frozen=True)
class Sent:
    """One command of a batch, as the gateway hands it to QuickBooks."""

    request_id: str
    action: Action
    request_xml: str
    command_id: str = ""
    tenant_id: str = ""
    entity: str = ""
    entity_id: str = ""
    # The command's own bytes: they travel back in the result, so the worker re-sends it on
    # a passing failure and dead-letters exactly it on a lasting one.
    command: bytes | None = None
    # Handed to QuickBooks before without an answer (it may be applied), or the worker says
    # it may exist already: either way, look it up first.
    resent: bool = False
    # Two-way: a 3200 is a conflict, decided by the tenant's policy.
    conflict_policy: str | None = None
    source_updated_at: datetime | None = None
    outcome: Answer | None = None

    @property
    def key(self) -> str:
        """``tenant:entity:entity_id``: what a dependent names (a session's failed keys)."""
        return f"{self.tenant_id}:{self.entity}:{self.entity_id}"

    @property
    def answer(self) -> Answer:
        return self.outcome or NO_ANSWER


@dataclass(frozen=True)
class Followup:
    request_id: str
    index: int
    kind: FollowupKind
    request_xml: str


@dataclass(frozen=True)
class Flight:
    """A batch in flight: its commands, the follow-ups asked, the offset past it."""

    next_offset: int
    commands: tuple[Sent, ...]
    followups: tuple[Followup, ...] = ()
    main_sent: bool = True
    round: int = 0

    def to_json(self) -> dict[str, Any]:
        """The session row's form (JSON): bytes in base64, times in ISO 8601."""
        return {
            "next_offset": self.next_offset,
            "round": self.round,
            "main_sent": self.main_sent,
            "followups": [dataclasses.asdict(f) for f in self.followups],
            "commands": [_sent_json(c) for c in self.commands],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flight:
        return cls(
            next_offset=int(data["next_offset"]),
            round=int(data.get("round", 0)),
            main_sent=bool(data.get("main_sent", True)),
            followups=tuple(Followup(**f) for f in data.get("followups") or ()),
            commands=tuple(_sent_of(c) for c in data["commands"]),
        )


# A flight is read from the session row on every Web Connector call and written at every
# batch: its commands go to and from JSON by their fields' names, looked up once here
# (dataclasses.fields per command was a visible share of a busy gateway's CPU).
_SENT_FIELDS = frozenset(f.name for f in dataclasses.fields(Sent))


def _sent_json(sent: Sent) -> dict[str, Any]:
    data = dict(vars(sent))  # every field: Sent is a plain (frozen) dataclass
    data["command"] = None if sent.command is None else base64.b64encode(sent.command).decode()
    if sent.source_updated_at is not None:
        data["source_updated_at"] = sent.source_updated_at.isoformat()
    data["outcome"] = None if sent.outcome is None else dict(vars(sent.outcome))
    return data


def _sent_of(data: Mapping[str, Any]) -> Sent:
    # A row written by another version may carry fields this one does not know.
    known = data.keys() <= _SENT_FIELDS
    values = dict(data) if known else {k: v for k, v in data.items() if k in _SENT_FIELDS}
    if values.get("command") is not None:
        values["command"] = base64.b64decode(values["command"])
    if values.get("source_updated_at") is not None:
        values["source_updated_at"] = datetime.fromisoformat(values["source_updated_at"])
    if values.get("outcome") is not None:
        values["outcome"] = Answer(**values["outcome"])
    return Sent(**values)


def finished(flight: Flight) -> bool:
    return not flight.followups and flight.main_sent


def prepare(flight: Flight) -> Flight:
    """Before a batch goes out: a transaction add sent once already (it may be applied) is
    first looked up by its RefNumber; found, it settles without being added again."""
    followups = []
    for index, command in enumerate(flight.commands):
        if command.outcome is not None or command.action != "ADD" or not command.resent:
            continue
        lookup = _lookup_by_ref_number(command.request_xml)
        if lookup is not None:
            followups.append(_followup(index, "lookup-txn", lookup, 0))
    return dataclasses.replace(flight, followups=tuple(followups), main_sent=not followups)


def staged(flight: Flight) -> Flight:
    """The next batch as the settle of the one before records it (issue 14): planned and
    marked sent (``sent_through``) in that settle's write, its own requests still to go
    out (``main_sent`` False), so the next ``sendRequestXML`` serves it without a write."""
    return dataclasses.replace(flight, main_sent=False)


def main_requests(flight: Flight) -> list[tuple[str, str]]:
    """The batch's own requests: every command not settled without QuickBooks."""
    return [(c.request_id, c.request_xml) for c in flight.commands if c.outcome is None]


def followup_requests(flight: Flight) -> list[tuple[str, str]]:
    return [(f.request_id, f.request_xml) for f in flight.followups]


def advance(flight: Flight, statuses: Mapping[str, ResponseStatus]) -> Flight:
    """Record what QuickBooks answered; plan the follow-ups that answer calls for."""
    commands = list(flight.commands)
    round_number = flight.round + 1
    followups: list[Followup] = []
    main_sent = flight.main_sent
    if not flight.followups:
        # No follow-ups asked: these are the answers to the batch's own requests, so they
        # went out (a batch staged by the settle before it is served without a write).
        main_sent = True
        for index, command in enumerate(commands):
            if command.outcome is not None:
                continue  # settled without QuickBooks (blocked by a failed dependency)
            answer = Answer.of(statuses.get(command.request_id))
            commands[index] = dataclasses.replace(command, outcome=answer)
            followups.extend(_after_first_answer(index, command, answer, round_number))
    else:
        for followup in flight.followups:
            command = commands[followup.index]
            status = statuses.get(followup.request_id)
            settled, more = _after_followup(followup, command, status, round_number)
            commands[followup.index] = settled
            followups.extend(more)
    return dataclasses.replace(
        flight,
        commands=tuple(commands),
        followups=tuple(followups),
        round=round_number,
        main_sent=main_sent,
    )


def _after_first_answer(
    index: int, command: Sent, answer: Answer, round_number: int
) -> list[Followup]:
    code = answer.status_code
    if code == NAME_IN_USE and command.action == "ADD" and command.resent:
        lookup = _lookup_by_name(command.request_xml)
        if lookup is not None:
            return [_followup(index, "lookup-add", lookup, round_number)]
    if code == STALE_EDIT_SEQUENCE and command.action == "MOD":
        lookup = _lookup_by_id(command.request_xml)
        if lookup is not None:
            return [_followup(index, "lookup-mod", lookup, round_number)]
    return []


_MATCHED_BY = {
    "lookup-add": "Already in QuickBooks from an earlier attempt; matched by name instead of"
    " adding it twice.",
    "lookup-txn": "Already in QuickBooks from an earlier attempt; matched by RefNumber instead"
    " of adding it twice.",
}


def _after_followup(
    followup: Followup, command: Sent, status: ResponseStatus | None, round_number: int
) -> tuple[Sent, list[Followup]]:
    """The command as the follow-up's answer leaves it, and any further follow-up."""
    kind = followup.kind
    found = status is not None and status.ok and status.status_code == 0 and bool(status.qb_id)
    if kind in _MATCHED_BY:
        if found:
            matched = dataclasses.replace(Answer.of(status), status_message=_MATCHED_BY[kind])
            return dataclasses.replace(command, outcome=matched), []
        return command, []
    if kind == "lookup-mod":
        if found and status is not None and _quickbooks_wins(command, status):
            return dataclasses.replace(command, outcome=_conflict(command, status)), []
        if found and status is not None and status.edit_sequence:
            again = _with_edit_sequence(command.request_xml, status.edit_sequence)
            return command, [_followup(followup.index, "resend-mod", again, round_number)]
        return command, []
    # resend-mod: whatever QuickBooks says now is the answer.
    return dataclasses.replace(command, outcome=Answer.of(status)), []


def _quickbooks_wins(command: Sent, status: ResponseStatus) -> bool:
    if not command.conflict_policy or command.source_updated_at is None:
        return False  # one-way: the app's version is written
    return winner(command.conflict_policy, command.source_updated_at, status.time_modified) == (
        "quickbooks"
    )


def _conflict(command: Sent, status: ResponseStatus) -> Answer:
    changed = status.time_modified.isoformat() if status.time_modified else "an unknown time"
    app_changed = command.source_updated_at.isoformat() if command.source_updated_at else ""
    return dataclasses.replace(
        Answer.of(status),
        status_code=CONFLICT,
        status_severity="Warn",
        status_message=f"Not written: QuickBooks changed this record at {changed}, and the"
        f" app's change of {app_changed} loses under conflict policy"
        f" {command.conflict_policy!r}. QuickBooks' version goes to the app as a change.",
        edit_sequence=None,  # the mapping keeps the version we wrote: the import delivers
    )


def _followup(index: int, kind: FollowupKind, request_xml: str, round_number: int) -> Followup:
    return Followup(
        request_id=f"r{round_number}-{index}", index=index, kind=kind, request_xml=request_xml
    )


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
