"""Drain one QBO company's command topic, like the gateway drains a company file's.

Per company (profile, realm): read at the committed offset, send each command in offset order
through :class:`QboClient` (limits, token, ``requestid``, retries), publish one result per
command on ``<prefix>.results`` (the gateway's result contract, ``api = "qbo"``), and commit
past them only once the broker acknowledged every result. When Intuit cannot be reached, is
throttling beyond the client's patience, or the company must be reconnected, the drain stops
*before* that command: the results so far are published and committed, the rest waits for the
next drain, and nothing is skipped.

A command's ``requestid`` is derived from its id, its offset and the resend number, so a
re-drain after a crash between the write and the commit sends the same id and Intuit answers
with the first result instead of writing twice; a replayed dead letter has a new offset, hence
a new id, and is really sent again.

Batches. A drain's runs of independent creates go through ``POST /batch`` (at most 30 items,
40 batch requests a minute; which commands, decided as pure logic by
:func:`connectors.qbo._batching.plan`; everything else keeps the one-request path). What
Intuit says about ``requestid`` and batches (Intuit's developer blog, "Request ID update for
QuickBooks Online integration", 2015-04-06, https://blogs.intuit.com/2015/04/06/15346/):
the ``requestid`` query parameter is taken on batch operations too, there at most 36
characters, and then each ``bId`` at most 10 characters; a repeated ``requestid`` gets the
first request's answer "without any state changes". Items carry no ``requestid`` of their
own (a ``bId`` only correlates an item with its answer; Intuit's Java SDK sets the request
id once for the whole batch: IntuitDeveloperRelations gist 7217848). So the whole batch is
the unit of idempotency, and qbsync makes it deterministic:

- its ``requestid`` is :func:`batch_request_id` of its first command (id and offset: a UUID,
  36 characters), each item's ``bId`` the item's offset minus that first offset ("0" to
  "29"), so an item keeps its ``bId`` in any batch that starts at the same offset;
- the plan depends only on the commands, so a re-drain after a crash between the write and
  the commit composes the same batches from the same committed offset and Intuit replays
  the answers: nothing is created twice. Only the last batch of a drain can differ, when
  the re-drain's fetch returned a different number of commands. More: the replayed answer
  lacks the items the first batch did not hold; they were not written by it and go in a
  batch of their own (from the first of them). Fewer: the replayed answer has item ids
  this drain did not read; the drain stops before the batch (nothing of it committed) and
  the next drain, reading from there, sends it again and settles it whole;
- a batch is settled whole or not at all: a stop inside it (Intuit unreachable while a
  transient item is sent again alone) commits only what came before the batch, so the
  re-drain starts at the batch's own first offset and gets the same replay.

Per item, the answer is read like the one-request path's: the same QBO catalog; a transient
item fault (throttled 3001, Intuit's 10000) sends only that command again, alone, under its
own one-request ``requestid`` (the others are not written twice); a permanent one (6240 ...)
is that command's error result, which the worker dead-letters, and does not touch its
neighbours; a whole batch answered 429/503 is retried by the client under the same
``requestid`` as any write (``Retry-After``, backoff); a batch refused as a whole (a 4xx:
nothing written) sends each command alone. The limiter counts a batch as one of the 500
requests a minute and one of the 40 batch requests. Switching ``QBSYNC_QBO_BATCH_CREATES``
while a company has written-but-uncommitted commands (a crash right before) changes their
``requestid`` (the one-request path's id is per command): switch it on a cleanly stopped
sender.

A stale ``SyncToken`` (5010) is re-read and decided by the command's overwrite rule
(``conflict_policy``; none: one-way, the app's version is resent with the current token).

Records QBO no longer has: an update answered 610 (object not found: deleted or merged in
QBO) forgets the old Id and creates the record again, and the result carries the new Id, so
the worker's mapping follows it. A bill or payment synced once is never updated
(``QboOperation.ENSURE``): it is read by Id; present, nothing is written and the result
says it was skipped (not an error); missing, it is created again the same way.

A project (sub-customer) whose name another customer, vendor or employee holds (6240; two
clients each with a "Phase 1") is written again as "<name> (<client>)" under its own
``requestid``, and ``match_existing`` adopts only the same client's project:
:mod:`connectors.qbo._project_names`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import KafkaException

from connectors.kafka import (
    CommandSource,
    DeliveryFailed,
    DrainConfig,
    QueuedCommand,
    RecordSink,
    undecodable,
)
from connectors.qbo._batching import BATCH_ITEMS, MATCHED_BY_NUMBER, Batch, Planned, Step, plan
from connectors.qbo._catalog import explain_fault
from connectors.qbo._checks import CompanyChecks, Refusal
from connectors.qbo._client import QboClient, QboUnavailable
from connectors.qbo._oauth import OAuthFailed, ReconnectNeeded
from connectors.qbo._project_names import client_id, is_project, qualified, same_project
from connectors.qbo._records import QboEntityRequest, QboOperation, QboRequest, QboResponse
from connectors.qbxml import Category
from core.conflicts import CONFLICT, winner
from core.contracts import AvroCodec, DecodeError
from core.errors import QbsyncError
from core.messages import COMMAND, RESULT

__all__ = ["DrainReport", "QboSender", "SenderConfig", "batch_request_id", "request_id"]

log = logging.getLogger(__name__)

API = "qbo"
STALE = "5010"
DUPLICATE_NAME = "6240"
NOT_FOUND = "610"
INVALID_REFERENCE = "2500"
# The requestid's resend number for a record created again after QBO lost it (610), past
# any stale-SyncToken resend, so its id differs from every write before it.
_RECREATE = 1000
# ... and for the write sent again with names looked up afresh after a 2500.
_RENAMED = 2000
# ... and for the delete of a record the day limit's own-write question created.
_UNDONE = 3000
# ... and for a project written again under its client-qualified name after a 6240.
_QUALIFIED = 4000
# match_existing: how a record QBO may already have is found. Lists are adopted when a create
# is refused as a duplicate name; transactions are looked up by number before the create
# (as the gateway does for Desktop).
_MATCH_KEYS = {"Customer": "DisplayName", "Vendor": "DisplayName", "Invoice": "DocNumber"}
_BY_NUMBER = MATCHED_BY_NUMBER
_REQUEST_IDS = uuid.UUID("5b0c8a52-5f0e-4c1e-9a57-0b0c7f6f1d19")


@dataclass(frozen=True)
class SenderConfig(DrainConfig):
    # Re-reads after a stale SyncToken before the command is settled as failed.
    stale_rounds: int = 3
    # Independent creates sent together through POST /batch, at most this many per batch
    # request (Intuit: 30); below 2, every command goes alone (QBSYNC_QBO_BATCH_CREATES off).
    batch_items: int = BATCH_ITEMS


@dataclass(frozen=True)
class DrainReport:
    sent: int
    ok: int
    failed: int
    dead_lettered: int
    stopped: str | None  # why the drain stopped before the end (reconnect, unavailable)


@dataclass(frozen=True)
class _Answer:
    status_code: int
    severity: str
    message: str
    qb_id: str | None = None
    sync_token: str | None = None
    full_name: str | None = None
    ref_number: str | None = None


def _adopted(entity: str, found: Mapping[str, Any]) -> _Answer:
    adopted = _answer(entity, QboResponse(200, {entity: found}))
    message = "OK: adopted the record QuickBooks Online already had (match_existing)"
    return _Answer(
        adopted.status_code,
        adopted.severity,
        message,
        adopted.qb_id,
        adopted.sync_token,
        adopted.full_name,
        adopted.ref_number,
    )


def request_id(command_id: str, offset: int, resend: int) -> str:
    """Stable per (command, place in the topic, resend): see the module's docstring."""
    return str(uuid.uuid5(_REQUEST_IDS, f"{command_id}:{offset}:{resend}"))


def batch_request_id(command_id: str, offset: int) -> str:
    """A batch request's id, from its first command (id and offset): 36 characters, the
    most Intuit takes for a batch; see the module's docstring ("Batches")."""
    return str(uuid.uuid5(_REQUEST_IDS, f"batch:{command_id}:{offset}"))


class _Unsettled(QbsyncError):
    """A batch answer the drain cannot settle now; it stops before the batch (nothing of it
    committed) and the next drain sends it again under the same requestid."""


@dataclass(frozen=True)
class _Fetched:
    item: QueuedCommand
    planned: Planned
    command: Mapping[str, Any] | None = None
    request: QboEntityRequest | None = None
    error: str | None = None  # why it could not be read


def _indices(step: Step) -> tuple[int, ...]:
    return step.indices if isinstance(step, Batch) else (step.index,)


def _answer(entity: str, response: QboResponse) -> _Answer:
    if response.ok:
        found = response.entity(entity) or {}
        return _Answer(
            0,
            "Info",
            "OK",
            qb_id=_text(found.get("Id")),
            sync_token=_text(found.get("SyncToken")),
            full_name=_text(found.get("FullyQualifiedName") or found.get("DisplayName")),
            ref_number=_text(found.get("DocNumber")),
        )
    explanation = explain_fault(response)
    first = response.errors[0] if response.errors else None
    code = int(first.code) if first and first.code.isdigit() else response.status
    said = f"{first.message}: {first.detail}" if first else f"HTTP {response.status}"
    return _Answer(code, "Error", f"{said} ({explanation.title})")


def _noted(answer: _Answer, notes: tuple[str, ...]) -> _Answer:
    """A written record's message with what preparing it did (the sync log shows it)."""
    if not notes or answer.status_code != 0:
        return answer
    return replace(answer, message=f"{answer.message}: {'; '.join(notes)}")


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _not_found(response: QboResponse) -> bool:
    return any(error.code == NOT_FOUND for error in response.errors)


def _duplicate(response: QboResponse) -> bool:
    return any(error.code == DUPLICATE_NAME for error in response.errors)


def _adoptable(request: QboEntityRequest, found: Mapping[str, Any]) -> bool:
    """Whether ``match_existing`` may take ``found`` (QBO's record under the request's name
    or number) as this record: a project only its own client's project of that name."""
    return same_project(request, found) if is_project(request) else True


def _invalid_reference(response: QboResponse) -> bool:
    return any(error.code == INVALID_REFERENCE for error in response.errors)


def _recreatable(request: QboEntityRequest) -> bool:
    """An update that carries the record (not a deactivation, a void or a delete: there is
    nothing to make inactive in a record that is gone)."""
    fields = set(request.body) - {"Id", "SyncToken", "sparse", "Active"}
    return request.operation in (QboOperation.UPDATE, QboOperation.SPARSE) and bool(fields)


def _changed_at(found: Mapping[str, Any]) -> datetime | None:
    meta = found.get("MetaData") or {}
    text = meta.get("LastUpdatedTime") if isinstance(meta, Mapping) else None
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text)).astimezone(UTC)
    except ValueError:
        return None


def _qbo_wins(policy: str, app_changed_at: datetime | None, found: Mapping[str, Any]) -> bool:
    """Whether QBO's newer version stands under ``policy``; a policy qbsync does not know
    (never written by the worker, which validates settings) is logged and treated as
    one-way, rather than stopping the company's queue."""
    try:
        return winner(policy, app_changed_at, _changed_at(found)) == "quickbooks"
    except ValueError:
        log.warning("unknown conflict policy on a qbo command", extra={"policy": policy})
        return False


class QboSender:
    def __init__(
        self,
        commands: CommandSource,
        sink: RecordSink,
        client: QboClient,
        codec: AvroCodec,
        config: SenderConfig,
        written: Callable[[Sequence[tuple[str, str, str, str]]], None] | None = None,
        checks: CompanyChecks | None = None,
    ) -> None:
        self._commands = commands
        self._sink = sink
        self._client = client
        self._codec = codec
        self._config = config
        # Versions we wrote, (tenant, entity, Id, SyncToken), saved before the commit, so a
        # CDC read that comes before the worker settled the result knows its own write
        # (the store's record_written, as the gateway does for imports).
        self._written = written
        # The rules a command names that only the company can answer (start date, a
        # worker's day): ``connectors.qbo._checks``; None: not checked (unit tests).
        self._checks = checks

    def drain(
        self,
        profile_id: str,
        realm_id: str,
        keep: Callable[[], bool] | None = None,
        pace: Callable[[bool], bool] | None = None,
    ) -> DrainReport:
        """Send what waits for this company, one fetch; see the module's docstring.
        The fetched commands are planned into steps (:func:`connectors.qbo._batching.plan`:
        a batch of independent creates, or one command) and each step is executed in offset
        order. ``keep`` renews this process's lease on the company before every step; when
        it returns False (another sender holds the company now) the drain stops there.
        ``pace(batch)`` says whether the next request (a batch request: ``batch``) may go
        without waiting long for the realm's limiter; when it returns False the drain ends
        there (what was sent is committed, the rest waits for the next drain), so the thread
        drains other companies meanwhile."""
        try:
            queued = self._commands.fetch(
                profile_id, self._config.batch_size, self._config.batch_max_bytes
            )
        except KafkaException as exc:  # a topic just created, a leader moving: next drain
            return DrainReport(0, 0, 0, 0, f"the command topic could not be read: {exc}")
        fetched = [self._read(item) for item in queued]
        steps = plan([f.planned for f in fetched], self._config.batch_items)
        records: list[tuple[str, bytes | None, bytes]] = []
        next_offset: int | None = None
        ok = failed = dead = 0
        versions: list[tuple[str, str, str, str]] = []
        stopped: str | None = None
        for step in steps:
            if keep is not None and not keep():
                stopped = "another sender holds this company's lease"
                log.warning("qbo drain lease lost", extra={"profile": profile_id})
                break
            if pace is not None and not pace(isinstance(step, Batch)):
                break  # the realm's minute is full: not a stop, the next drain goes on
            members = [fetched[i] for i in _indices(step)]
            first = members[0]
            if first.command is None or first.request is None:  # a Single, never batched
                reason = first.error or "a QuickBooks Desktop command on a QBO company's topic"
                records.append(self._dead_letter(profile_id, first.item, reason))
                dead += 1
                next_offset = first.item.offset + 1
                continue
            try:
                if isinstance(step, Batch):
                    answers = self._batch(realm_id, members)
                else:
                    answers = [
                        self._execute(realm_id, first.item.offset, first.command, first.request)
                    ]
            except (QboUnavailable, ReconnectNeeded, OAuthFailed, _Unsettled) as exc:
                stopped = str(exc)
                log.warning(
                    "qbo drain stopped",
                    extra={"profile": profile_id, "realm": realm_id, "offset": first.item.offset},
                )
                break
            except Exception as exc:  # the store, a bug: stop here, never skip the command
                stopped = f"{type(exc).__name__} at offset {first.item.offset}"
                log.exception(
                    "qbo drain failed",
                    extra={"profile": profile_id, "realm": realm_id, "offset": first.item.offset},
                )
                break
            for member, answer in zip(members, answers, strict=True):
                command = member.command
                assert command is not None
                if answer.status_code == 0:
                    ok += 1
                    if answer.qb_id and answer.sync_token:
                        versions.append(
                            (
                                str(command["tenant_id"]),
                                str(command["entity"]),
                                answer.qb_id,
                                answer.sync_token,
                            )
                        )
                else:
                    failed += 1
                records.append(self._result(profile_id, command, member.item.value, answer))
                next_offset = member.item.offset + 1
        if records:
            try:
                self._sink.send_all(records)
            except (DeliveryFailed, KafkaException) as exc:
                # Nothing committed: the next drain sends the same commands with the same
                # requestids, and Intuit answers them without writing twice.
                log.warning("qbo results not acknowledged", extra={"profile": profile_id})
                return DrainReport(ok + failed, ok, failed, dead, f"results not published: {exc}")
        if self._written is not None and versions:
            self._written(versions)
        if next_offset is not None:
            # Only after every result is acknowledged (send_all returns then).
            self._commands.commit(profile_id, next_offset)
        return DrainReport(ok + failed, ok, failed, dead, stopped)

    def _read(self, item: QueuedCommand) -> _Fetched:
        """One fetched command, decoded, with what the batch planner needs of it."""
        unread = Planned(("", "", f"#{item.offset}"), None)
        try:
            _name, command = self._codec.decode(item.value, COMMAND)
            request = QboEntityRequest.from_avro(command["qbo"]) if command["qbo"] else None
        except (DecodeError, ValueError, KeyError, TypeError) as exc:
            return _Fetched(item, unread, error=str(exc))
        if request is None:
            return _Fetched(item, unread, command)
        planned = Planned(
            (str(command["tenant_id"]), str(command["entity"]), str(command["entity_id"])),
            request,
            tuple(str(d) for d in command.get("depends_on") or ()),
            bool(command.get("match_existing")),
        )
        return _Fetched(item, planned, command, request)

    def _batch(self, realm_id: str, members: Sequence[_Fetched]) -> list[_Answer]:
        """Independent creates through ``POST /batch``: one answer per member, in order.
        See the module's docstring ("Batches") for the ``requestid`` and ``bId``."""
        answers: dict[int, _Answer] = {}
        pending = list(members)
        while pending:
            anchor = pending[0]
            assert anchor.command is not None
            base = anchor.item.offset
            rid = batch_request_id(str(anchor.command["command_id"]), base)
            by_id = {str(m.item.offset - base): m for m in pending}
            items = [(b_id, m.request) for b_id, m in by_id.items() if m.request is not None]
            response = self._client.send(QboRequest.batch(realm_id, items, rid))
            if not response.ok:
                # The batch as a whole was refused (throttling and outages were waited out
                # by the client): nothing of it was written; each goes alone, as today.
                log.warning(
                    "qbo batch refused, sent one by one",
                    extra={"realm": realm_id, "status": response.status, "items": len(items)},
                )
                for m in pending:
                    answers[m.item.offset] = self._alone(realm_id, m)
                break
            got = response.batch_items()
            if set(got) - set(by_id):
                # Intuit replayed a batch that held more commands than this drain read (a
                # re-drain after a crash that fetched fewer): settling only these would let
                # the next drain write the others again under a new requestid.
                raise _Unsettled(
                    f"realm {realm_id}: the batch at offset {base} was written before with "
                    "more commands than this drain read; the next drain reads them all"
                )
            missing = [m for b_id, m in by_id.items() if b_id not in got]
            if len(missing) == len(pending):
                raise _Unsettled(f"realm {realm_id}: the batch at offset {base} had no answers")
            for b_id, m in by_id.items():
                if b_id in got:
                    answers[m.item.offset] = self._item(realm_id, m, got[b_id])
            # Not in the answer: Intuit replayed a smaller batch written before a crash;
            # the rest were not written by it and go in a batch of their own.
            pending = missing
        return [answers[m.item.offset] for m in members]

    def _item(self, realm_id: str, member: _Fetched, response: QboResponse) -> _Answer:
        """One batch item's answer, read as the one-request path reads its answer: a
        transient fault sends that command again alone (its own requestid: the others are
        not written twice); a duplicate name adopts the existing record when the command
        asks to (``match_existing``); every other fault is the command's error result,
        explained by the same catalog (permanent ones become dead letters in the worker)."""
        assert member.request is not None
        assert member.command is not None
        entity = member.request.entity
        if response.ok:
            return _answer(entity, response)
        if explain_fault(response).category is Category.TRANSIENT:
            log.info("qbo batch item failed transiently, sent alone", extra={"entity": entity})
            return self._alone(realm_id, member)
        key = _MATCH_KEYS.get(entity)
        duplicate = _duplicate(response)
        if member.command.get("match_existing") and key and duplicate:
            found = self._find(realm_id, entity, key, member.request.body.get(key))
            if found is not None and _adoptable(member.request, found):
                return _adopted(entity, found)
        if duplicate and is_project(member.request):
            # Nothing of it was written: sent alone, where a taken name is qualified.
            return self._alone(realm_id, member)
        return _answer(entity, response)

    def _alone(self, realm_id: str, member: _Fetched) -> _Answer:
        assert member.request is not None
        assert member.command is not None
        return self._execute(realm_id, member.item.offset, member.command, member.request)

    def _execute(
        self, realm_id: str, offset: int, command: Mapping[str, Any], request: QboEntityRequest
    ) -> _Answer:
        command_id = str(command["command_id"])
        if request.operation is QboOperation.ENSURE:
            return self._ensure(realm_id, command_id, offset, request)
        given = request
        prepared = self._prepared(realm_id, request, command.get("created_at"))
        if isinstance(prepared, Refusal):
            return self._own_write(realm_id, command_id, offset, request, prepared)
        if isinstance(prepared, _Answer):
            return prepared
        request = prepared
        adopt = bool(command.get("match_existing")) and request.operation is QboOperation.CREATE
        key = _MATCH_KEYS.get(request.entity)
        if adopt and key and request.entity in _BY_NUMBER:
            found = self._find(realm_id, request.entity, key, request.body.get(key))
            if found is not None:
                return _adopted(request.entity, found)
        response = self._client.send(
            QboRequest.write(realm_id, request, request_id(command_id, offset, 0))
        )
        if self._checks is not None and request != given and _invalid_reference(response):
            # An Id looked up by name may be stale (the account made inactive, merged or
            # re-created in QBO since the realm's names were read): read them again and
            # send the write once more under its own requestid. Even unchanged: this 2500
            # may be Intuit replaying the first answer to a re-drain whose second write
            # went through before a crash (then the second id's replay says so).
            self._checks.forget_names(realm_id)
            again = self._prepared(realm_id, given)
            if isinstance(again, Refusal):
                return _Answer(again.code, "Error", again.reason)
            if isinstance(again, _Answer):
                return again
            request = again
            response = self._client.send(
                QboRequest.write(realm_id, request, request_id(command_id, offset, _RENAMED))
            )
        if _duplicate(response):
            if adopt and key:
                found = self._find(realm_id, request.entity, key, request.body.get(key))
                if found is not None and _adoptable(request, found):
                    return _adopted(request.entity, found)
            if is_project(request):
                renamed = self._qualified(realm_id, request)
                if renamed is not None:
                    request = renamed
                    response = self._client.send(
                        QboRequest.write(
                            realm_id, request, request_id(command_id, offset, _QUALIFIED)
                        )
                    )
                    if adopt and _duplicate(response):
                        found = self._find(
                            realm_id, request.entity, "DisplayName", request.body["DisplayName"]
                        )
                        if found is not None and same_project(request, found):
                            return _adopted(request.entity, found)
        for resend in range(1, self._config.stale_rounds + 1):
            if not self._stale(response) or not request.operation.changes_existing:
                break
            current = self._client.send(
                QboRequest.read(realm_id, request.entity, str(request.body.get("Id", "")))
            )
            found = current.entity(request.entity)
            if not current.ok or found is None:
                return _answer(request.entity, current)
            policy = command.get("conflict_policy")
            if policy and _qbo_wins(str(policy), command.get("source_updated_at"), found):
                return _Answer(
                    CONFLICT,
                    "Error",
                    "Not written: the record changed in QuickBooks Online after this change "
                    f"and the tenant's overwrite rule ({policy}) keeps QuickBooks' version.",
                    qb_id=_text(found.get("Id")),
                    sync_token=_text(found.get("SyncToken")),
                )
            request = request.with_sync_token(str(found.get("SyncToken", "")))
            response = self._client.send(
                QboRequest.write(realm_id, request, request_id(command_id, offset, resend))
            )
        if _not_found(response) and _recreatable(request):
            log.info("qbo record gone, created again", extra={"entity": request.entity})
            return self._recreate(realm_id, command_id, offset, request, "an update was")
        return _noted(_answer(request.entity, response), request.notes)

    def _ensure(
        self, realm_id: str, command_id: str, offset: int, request: QboEntityRequest
    ) -> _Answer:
        """A record synced once and never updated: see the module's docstring."""
        entity, entity_id = request.entity, str(request.body.get("Id", ""))
        current = self._client.send(QboRequest.read(realm_id, entity, entity_id))
        found = current.entity(entity)
        if current.ok and found is not None and found.get("status") != "Deleted":
            return _Answer(
                0,
                "Info",
                f"Skipped: QuickBooks Online has this {entity.lower()} already (Id {entity_id});"
                " a synced bill or payment is not updated, only sent again when missing",
                qb_id=_text(found.get("Id")),
                sync_token=_text(found.get("SyncToken")),
                full_name=_text(found.get("FullyQualifiedName") or found.get("DisplayName")),
                ref_number=_text(found.get("DocNumber")),
            )
        if not _not_found(current):
            return _answer(entity, current)
        # Only what is written again is checked (a record QBO has is never refused).
        prepared = self._prepared(realm_id, request)
        if isinstance(prepared, Refusal):
            return _Answer(prepared.code, "Error", prepared.reason)
        if isinstance(prepared, _Answer):
            return prepared
        return self._recreate(realm_id, command_id, offset, prepared, "the read was")

    def _prepared(
        self, realm_id: str, request: QboEntityRequest, queued_at: datetime | None = None
    ) -> QboEntityRequest | _Answer | Refusal:
        """The request with its references by name as the company's Ids, once the
        company's own rules the command names (start date, a worker's day) let it go; else
        the refusal (as the Refusal itself when it names a possible own write)."""
        if self._checks is None or not request.checks:
            return request
        named = self._checks.named(realm_id, request)
        refusal = (
            named
            if isinstance(named, Refusal)
            else self._checks.refused(realm_id, named, queued_at)
        )
        if refusal is not None:
            if refusal.own_write:
                return refusal
            return _Answer(refusal.code, "Error", refusal.reason)
        assert isinstance(named, QboEntityRequest)
        return named

    def _own_write(
        self,
        realm_id: str,
        command_id: str,
        offset: int,
        request: QboEntityRequest,
        refusal: Refusal,
    ) -> _Answer:
        """The day limit would refuse the entry, but QBO has an identical one made since
        the command was queued: perhaps its own write before a crash. The write is sent
        again with its ``requestid``; Intuit answers a write it has seen with the first
        answer, so an Id among ``refusal.own_write`` is that earlier write (settled now,
        nothing written twice). A new Id was not: that record is deleted and the entry
        refused."""
        response = self._client.send(
            QboRequest.write(realm_id, request, request_id(command_id, offset, 0))
        )
        answer = _answer(request.entity, response)
        if answer.status_code != 0 or answer.qb_id in refusal.own_write:
            if answer.status_code == 0:
                log.info("qbo write found written before", extra={"entity": request.entity})
            return answer
        undo = QboEntityRequest(
            QboOperation.DELETE,
            request.entity,
            {"Id": answer.qb_id, "SyncToken": answer.sync_token or "0"},
        )
        undone = self._client.send(
            QboRequest.write(realm_id, undo, request_id(command_id, offset, _UNDONE))
        )
        # Intuit unreachable or throttling raised QboUnavailable: the drain stops and the
        # re-drain sends the same write and delete (same requestids: done once). Gone
        # already (610: someone deleted it meanwhile) is what the delete wanted. Refused
        # for good (closed books, ...): said in the dead letter, never taken for the
        # entry's own; a person deletes it in QBO (retrying would be refused the same way).
        if not undone.ok and not _not_found(undone):
            said = _answer(request.entity, undone).message
            return _Answer(
                refusal.code,
                "Error",
                f"{refusal.reason}. QuickBooks Online took the write ({request.entity} "
                f"{answer.qb_id}) and refused to delete it ({said}): delete it there",
            )
        return _Answer(refusal.code, "Error", refusal.reason)

    def _recreate(
        self,
        realm_id: str,
        command_id: str,
        offset: int,
        request: QboEntityRequest,
        what: str,
    ) -> _Answer:
        """The record again, new: the old Id is forgotten (the result's is the new one)."""
        old = request.body.get("Id")
        response = self._client.send(
            QboRequest.write(
                realm_id, request.as_create(), request_id(command_id, offset, _RECREATE)
            )
        )
        answer = _answer(request.entity, response)
        if answer.status_code != 0:
            return answer
        message = (
            f"OK: created again: {what} answered 610 (Id {old} is no longer in QuickBooks "
            f"Online: deleted or merged there); the mapping now points at Id {answer.qb_id}"
        )
        return _Answer(
            0,
            "Info",
            message,
            answer.qb_id,
            answer.sync_token,
            answer.full_name,
            answer.ref_number,
        )

    def _qualified(self, realm_id: str, request: QboEntityRequest) -> QboEntityRequest | None:
        """The project's write under its client-qualified name (``_project_names``), None
        when QBO no longer has the client (the 6240 answer stands)."""
        parent = client_id(request)
        answer = self._client.send(QboRequest.read(realm_id, "Customer", str(parent)))
        found = answer.entity("Customer") if answer.ok else None
        name = found.get("DisplayName") if found is not None else None
        if not isinstance(name, str) or not name.strip():
            return None
        log.info("qbo project name taken, qualified by its client", extra={"realm": realm_id})
        return qualified(request, name)

    def _find(
        self, realm_id: str, entity: str, field: str, value: object
    ) -> Mapping[str, Any] | None:
        """The record QBO already has under this name or number (match_existing)."""
        if not isinstance(value, str) or not value:
            return None
        quoted = value.replace("\\", "\\\\").replace("'", "\\'")
        # QBO's query language, not SQL; the value is escaped as Intuit documents.
        text = f"select * from {entity} where {field} = '{quoted}'"  # noqa: S608
        answer = self._client.send(QboRequest.query(realm_id, text))
        rows = (answer.body.get("QueryResponse") or {}).get(entity) if answer.ok else None
        return rows[0] if isinstance(rows, list) and rows else None

    @staticmethod
    def _stale(response: QboResponse) -> bool:
        return any(error.code == STALE for error in response.errors)

    def _result(
        self, profile_id: str, command: Mapping[str, Any], raw: bytes, answer: _Answer
    ) -> tuple[str, bytes | None, bytes]:
        record = {
            "command_id": command["command_id"],
            "tenant_id": command["tenant_id"],
            "profile_id": profile_id,
            "entity": command["entity"],
            "entity_id": command["entity_id"],
            "action": command["action"],
            "status_code": answer.status_code,
            "status_severity": answer.severity,
            "status_message": answer.message,
            "qb_id": answer.qb_id,
            "edit_sequence": answer.sync_token,
            "full_name": answer.full_name,
            "ref_number": answer.ref_number,
            "processed_at": datetime.now(UTC),
            "command": raw,
            "api": API,
        }
        return (
            self._config.results_topic,
            str(command["tenant_id"]).encode(),
            self._codec.encode(RESULT, record),
        )

    def _dead_letter(
        self, profile_id: str, item: QueuedCommand, reason: str
    ) -> tuple[str, bytes | None, bytes]:
        letter = undecodable(self._config, profile_id, item, reason, datetime.now(UTC))
        return self._config.dead_letters_topic, item.key, letter.encode(self._codec)
