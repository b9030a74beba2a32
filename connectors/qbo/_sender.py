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

A stale ``SyncToken`` (5010) is re-read and decided by the command's overwrite rule
(``conflict_policy``; none: one-way, the app's version is resent with the current token).

Records QBO no longer has: an update answered 610 (object not found: deleted or merged in
QBO) forgets the old Id and creates the record again, and the result carries the new Id, so
the worker's mapping follows it. A bill or payment synced once is never updated
(``QboOperation.ENSURE``): it is read by Id; present, nothing is written and the result
says it was skipped (not an error); missing, it is created again the same way.
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
from connectors.qbo._catalog import explain_fault
from connectors.qbo._checks import CompanyChecks, Refusal
from connectors.qbo._client import QboClient, QboUnavailable
from connectors.qbo._oauth import OAuthFailed, ReconnectNeeded
from connectors.qbo._records import QboEntityRequest, QboOperation, QboRequest, QboResponse
from core.conflicts import CONFLICT, winner
from core.contracts import AvroCodec, DecodeError
from core.messages import COMMAND, RESULT

__all__ = ["DrainReport", "QboSender", "SenderConfig"]

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
# match_existing: how a record QBO may already have is found. Lists are adopted when a create
# is refused as a duplicate name; transactions are looked up by number before the create
# (as the gateway does for Desktop).
_MATCH_KEYS = {"Customer": "DisplayName", "Vendor": "DisplayName", "Invoice": "DocNumber"}
_BY_NUMBER = frozenset({"Invoice"})
_REQUEST_IDS = uuid.UUID("5b0c8a52-5f0e-4c1e-9a57-0b0c7f6f1d19")


@dataclass(frozen=True)
class SenderConfig(DrainConfig):
    # Re-reads after a stale SyncToken before the command is settled as failed.
    stale_rounds: int = 3


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
        pace: Callable[[], bool] | None = None,
    ) -> DrainReport:
        """Send what waits for this company, one batch; see the module's docstring.
        ``keep`` renews this process's lease on the company before every command; when it
        returns False (another sender holds the company now) the drain stops there.
        ``pace`` says whether the next command may go without waiting long for the realm's
        limiter; when it returns False the drain ends there (what was sent is committed, the
        rest waits for the next drain), so the thread drains other companies meanwhile."""
        try:
            queued = self._commands.fetch(
                profile_id, self._config.batch_size, self._config.batch_max_bytes
            )
        except KafkaException as exc:  # a topic just created, a leader moving: next drain
            return DrainReport(0, 0, 0, 0, f"the command topic could not be read: {exc}")
        records: list[tuple[str, bytes | None, bytes]] = []
        next_offset: int | None = None
        ok = failed = dead = 0
        versions: list[tuple[str, str, str, str]] = []
        stopped: str | None = None
        for item in queued:
            if keep is not None and not keep():
                stopped = "another sender holds this company's lease"
                log.warning("qbo drain lease lost", extra={"profile": profile_id})
                break
            if pace is not None and not pace():
                break  # the realm's minute is full: not a stop, the next drain goes on
            try:
                _name, command = self._codec.decode(item.value, COMMAND)
                request = QboEntityRequest.from_avro(command["qbo"]) if command["qbo"] else None
            except (DecodeError, ValueError, KeyError, TypeError) as exc:
                records.append(self._dead_letter(profile_id, item, str(exc)))
                dead += 1
                next_offset = item.offset + 1
                continue
            if request is None:
                records.append(
                    self._dead_letter(
                        profile_id, item, "a QuickBooks Desktop command on a QBO company's topic"
                    )
                )
                dead += 1
                next_offset = item.offset + 1
                continue
            try:
                answer = self._execute(realm_id, item.offset, command, request)
            except (QboUnavailable, ReconnectNeeded, OAuthFailed) as exc:
                stopped = str(exc)
                log.warning(
                    "qbo drain stopped",
                    extra={"profile": profile_id, "realm": realm_id, "offset": item.offset},
                )
                break
            except Exception as exc:  # the store, a bug: stop here, never skip the command
                stopped = f"{type(exc).__name__} at offset {item.offset}"
                log.exception(
                    "qbo drain failed",
                    extra={"profile": profile_id, "realm": realm_id, "offset": item.offset},
                )
                break
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
            records.append(self._result(profile_id, command, item.value, answer))
            next_offset = item.offset + 1
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
        if adopt and key and any(e.code == DUPLICATE_NAME for e in response.errors):
            found = self._find(realm_id, request.entity, key, request.body.get(key))
            if found is not None:
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
        if not undone.ok:  # said in the dead letter: never accepted as the entry's own
            return _Answer(
                refusal.code,
                "Error",
                f"{refusal.reason}. QuickBooks Online took the write (TimeActivity "
                f"{answer.qb_id}) and would not delete it ({undone.status}): delete it there",
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
