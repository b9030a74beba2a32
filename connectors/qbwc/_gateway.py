"""The Web Connector conversation, free of SOAP: each method is one QBWC operation.

State lives in the store (sessions) and in Kafka (committed offsets of each file's command
topic), never in this object, so any gateway replica can answer any call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from connectors.kafka import QueuedCommand
from connectors.qbwc._history import SessionHistory
from connectors.qbwc._imports import ImportConfig, absorb, due, import_request, start
from connectors.qbwc._last_seen import LastSeen
from connectors.qbwc._metrics import GatewayObserver, NullObserver
from connectors.qbwc._passwords import CredentialCache, PasswordChecker
from connectors.qbwc._recovery import (
    advance,
    finished,
    followup_requests,
    main_requests,
    outcome,
    prepare,
)
from connectors.qbxml import (
    Record,
    UnsafeXml,
    build_message,
    explain,
    negotiate_version,
    parse_response,
    parse_xml,
    reported_versions,
)
from connectors.store import Profile, SessionBusy, Store, WebConnectorSession
from core.contracts import AvroCodec, DecodeError
from core.status import Status

__all__ = [
    "CommandSource",
    "GatewayConfig",
    "RecordSink",
    "WebConnectorGateway",
    "global_throttle_key",
    "throttle_key",
]

log = logging.getLogger(__name__)

COMMAND = "com.qbsync.pipeline.Command"
RESULT = "com.qbsync.pipeline.Result"
DEAD_LETTER = "com.qbsync.pipeline.DeadLetter"
IMPORTED = "com.qbsync.pipeline.Imported"
# Batches settled without QuickBooks (all blocked or undecodable) before answering "NoOp".
_LOCAL_BATCHES = 20
# Login counters nobody has used for this long are deleted (names sprayed at the gateway).
_FORGET_LOGINS = timedelta(days=1)
# Held back because a dependency failed (qbsync's own status code, core.status).
BLOCKED = Status.BLOCKED


class CommandSource(Protocol):
    def pending(self, profile_id: str) -> int: ...

    def fetch(self, profile_id: str, max_count: int, max_bytes: int) -> list[QueuedCommand]: ...

    def commit(self, profile_id: str, next_offset: int) -> None: ...


class RecordSink(Protocol):
    def send_all(
        self, records: Sequence[tuple[str, bytes | None, bytes]], *, timeout: float = ...
    ) -> int: ...


@dataclass(frozen=True)
class GatewayConfig:
    results_topic: str
    dead_letters_topic: str
    commands_topic_prefix: str
    batch_size: int = 25
    batch_max_bytes: int = 512 * 1024
    session_ttl: timedelta = timedelta(minutes=10)
    qbxml_version: str = "13.0"
    server_version: str = "qbsync"
    min_client_version: str = "2.1.0.0"
    # Refused outright (``E:``) below this version; empty: never refused.
    refuse_client_below: str = ""
    # Failed logins for one user name before further attempts are refused unchecked, for
    # 2**(n - free) seconds (at most max_lockout): guessing gets slow, a typo does not hurt.
    free_login_failures: int = 5
    max_lockout: timedelta = timedelta(minutes=5)
    first_lockout: timedelta = timedelta(seconds=1)
    # Failed logins per minute over all user names (known or not) beyond which logins
    # without a recently verified password are refused unchecked until the minute is over.
    global_failures_per_minute: int = 300
    # scrypt derivations running at once in this process, and how long a login waits for
    # one before it is answered "busy".
    kdf_concurrency: int = 2
    kdf_wait: float = 0.25
    # Lists read back from QuickBooks after the file's commands (connectors.qbwc._imports).
    imports: ImportConfig = field(default_factory=ImportConfig)
    # Where imported records go for the worker's two-way rules; empty: nowhere (the store's
    # copy still serves matching and reference checks).
    imports_topic: str = ""
    # When Web Connectors last called is written in bulk at most this often (_last_seen).
    last_seen_flush_s: float = 30.0


def _key(command: dict[str, Any]) -> str:
    return f"{command['tenant_id']}:{command['entity']}:{command['entity_id']}"


def _failed(answer: dict[str, Any]) -> bool:
    return bool(answer["status_severity"] == "Error" or answer["status_code"] >= 1000)


def blocked(dependencies: list[str]) -> dict[str, Any]:
    """The outcome of a command held back because what it needs failed this session."""
    return {
        "status_code": BLOCKED,
        "status_severity": "Error",
        "status_message": "Not sent to QuickBooks: it depends on "
        + ", ".join(repr(d) for d in dependencies)
        + ", which failed earlier in this session. It is settled as blocked so nothing"
        " waits forever; replay it once that record is fixed.",
        "qb_id": None,
        "edit_sequence": None,
        "full_name": None,
        "ref_number": None,
    }


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def throttle_key(username: str) -> str:
    """The login counter of a user name, known or not (a hash: names are not stored)."""
    return "name:" + hashlib.sha256(username.encode()).hexdigest()[:40]


def global_throttle_key(moment: datetime | None) -> str:
    """The counter of failed logins over all names in ``moment``'s minute (None: prefix)."""
    return "global:" + ("" if moment is None else moment.strftime("%Y%m%dT%H%M"))


def _error_code(error: Exception) -> str:
    """A code that says which failure, without the error's text: Kafka's error name, the
    database driver's error name or SQLSTATE; "" when there is none."""
    first = error.args[0] if error.args else None
    if callable(getattr(first, "name", None)) and callable(getattr(first, "code", None)):
        return str(first.name())  # type: ignore[union-attr]  # confluent_kafka.KafkaError
    cause = getattr(error, "orig", None) or error.__cause__
    for attribute in ("sqlite_errorname", "sqlstate"):
        value = getattr(cause, attribute, None)
        if isinstance(value, str) and value:
            return value
    return ""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _millis_now() -> datetime:
    return datetime.now(UTC)


class WebConnectorGateway:
    def __init__(
        self,
        *,
        store: Store,
        commands: CommandSource,
        sink: RecordSink,
        codec: AvroCodec,
        config: GatewayConfig,
        observer: GatewayObserver | None = None,
    ) -> None:
        self._observer: GatewayObserver = observer or NullObserver()
        self._credentials = CredentialCache()
        self._passwords = PasswordChecker(config.kdf_concurrency, config.kdf_wait)
        self._store = store
        self._commands = commands
        self._sink = sink
        self._codec = codec
        self._config = config
        self._last_seen = LastSeen(store, flush_s=config.last_seen_flush_s)
        self.history = SessionHistory(store)  # for people: the console's pages

    def close(self) -> None:
        """Write what is only in memory (when Web Connectors last called)."""
        self._last_seen.flush()

    # -- handshake --------------------------------------------------------------------

    def server_version(self) -> str:
        return self._config.server_version

    def client_version(self, version: str) -> str:
        """``""`` go on, ``W:`` warn and go on, ``E:`` refuse (the Web Connector shows it)."""
        current = _version_tuple(version)
        if not current:
            return ""
        refuse = self._config.refuse_client_below
        if refuse and current < _version_tuple(refuse):
            return (
                f"E:This Web Connector ({version}) is too old for qbsync; install version"
                f" {refuse} or later from Intuit, then try again."
            )
        if current < _version_tuple(self._config.min_client_version):
            return (
                f"W:This Web Connector ({version}) is older than {self._config.min_client_version};"
                " please update it."
            )
        return ""

    def authenticate(self, username: str, password: str, client: str = "") -> list[str]:
        """``client``: who is calling (a hash of address and agent), for session takeover."""
        ticket = secrets.token_urlsafe(32)
        outcome, status = self._authenticate(username, password, ticket, client)
        self._observer.authenticated(outcome)
        return [ticket, status]

    @property
    def passwords(self) -> PasswordChecker:
        return self._passwords

    def _authenticate(
        self, username: str, password: str, ticket: str, client: str
    ) -> tuple[str, str]:
        """``(outcome for metrics and logs, status for the Web Connector)``.

        Which path runs depends only on what the caller sent and on the counters of the name
        it sent, never on whether that name exists: an unknown name is throttled, counted and
        checked (against a dummy hash) exactly like a known one, so neither the answer nor
        its cost tells which names exist."""
        profile = self._store.profile_by_username(username)
        # A password verified recently is not run through scrypt again (see CredentialCache);
        # a Web Connector that knows its password is never locked out by someone guessing.
        if profile is not None and self._credentials.hit(username, password, profile.password_hash):
            return self._open(profile, ticket, client)
        key = throttle_key(username)
        if self._globally_throttled() or not self._store.claim_login(
            key, free_failures=self._config.free_login_failures, lockout=self._lockout
        ):
            log.info("authenticate throttled")
            return "throttled", "nvu"
        verified = self._passwords.verify(
            password, None if profile is None else profile.password_hash
        )
        if verified is None:
            log.info("authenticate: every password check slot is busy")
            return "overloaded", "busy"
        if not verified:
            self._store.login_failed(
                key, free_failures=self._config.free_login_failures, lockout=self._lockout
            )
            now = _millis_now()
            bucket = global_throttle_key(now)
            if self._store.count_failure(bucket) == 1:  # once a minute, by one replica
                self._store.prune_counters(
                    global_throttle_key(None), keep=[bucket], idle_before=now - _FORGET_LOGINS
                )
            log.info("authenticate refused", extra={"outcome": "nvu"})
            return "nvu", "nvu"
        assert profile is not None
        self._credentials.remember(username, password, profile.password_hash)
        self._store.login_succeeded(key)
        return self._open(profile, ticket, client)

    def _open(self, profile: Profile, ticket: str, client: str) -> tuple[str, str]:
        self._last_seen.seen(profile.id, first=profile.last_seen_at is None)
        if not profile.enabled:
            log.info("authenticate: profile disabled", extra={"profile_id": profile.id})
            return "disabled", "none"
        if self._commands.pending(profile.id) == 0 and not self._imports_due(profile.id):
            log.debug("authenticate: nothing to do", extra={"profile_id": profile.id})
            return "none", "none"
        try:
            self._store.open_session(
                profile.id, _ticket_hash(ticket), self._config.session_ttl, client=client or None
            )
        except SessionBusy:
            log.info("authenticate busy", extra={"profile_id": profile.id})
            return "busy", "busy"
        log.info("session opened", extra={"profile_id": profile.id})
        self.history.opened(profile.id, ticket, client)
        return "session", profile.company_file

    def _lockout(self, excess: int) -> timedelta:
        """How long a name stays locked after ``excess`` attempts beyond the free ones."""
        grown: timedelta = self._config.first_lockout * 2 ** min(excess - 1, 20)
        return min(grown, self._config.max_lockout)

    def _globally_throttled(self) -> bool:
        limit = self._config.global_failures_per_minute
        return self._store.counter(global_throttle_key(_millis_now())) >= limit

    # -- the exchange -----------------------------------------------------------------

    def send_request_xml(self, ticket: str, hcp_response: str, major: str, minor: str) -> str:
        key = _ticket_hash(ticket)
        session = self._store.live_session(key)
        if session is None:
            return ""
        version = session.qbxml_version or self._negotiate(
            session.profile_id, hcp_response, major, minor
        )
        flight = session.in_flight
        if flight and not finished(flight):
            if flight.get("followups"):
                # Answers are in but not settled, or a re-sent batch is checked first: ask
                # QuickBooks what the follow-ups need to know.
                self._store.update_session(key, self._config.session_ttl, qbxml_version=version)
                return self._message(followup_requests(flight), version)
            flight = {**flight, "main_sent": True}
            requests = main_requests(flight)
            if requests:
                self._store.update_session(
                    key, self._config.session_ttl, qbxml_version=version, in_flight=flight
                )
                return self._message(requests, version)
            # Everything was found in QuickBooks already: settle and go on.
            self._settle(session.profile_id, flight)
            self._store.update_session(key, self._config.session_ttl, in_flight=None)
        for _ in range(_LOCAL_BATCHES):
            message = self._next_batch(key, session, version)
            if message is not None:
                return message
            # Settled here without QuickBooks (blocked or undecodable): on to the next batch.
            refreshed = self._store.live_session(key)
            if refreshed is None:
                return ""
            session = refreshed
        return "NoOp"  # the Web Connector pauses a few seconds and asks again

    def _next_batch(self, key: str, session: WebConnectorSession, version: str) -> str | None:
        """The next qbXML message; ``""`` when the queue is empty; None when the whole batch
        was settled without QuickBooks."""
        queued = self._commands.fetch(
            session.profile_id, self._config.batch_size, self._config.batch_max_bytes
        )
        if not queued:
            imported = self._next_import(key, session, version)
            if imported is not None:
                return imported
            self._store.update_session(
                key,
                self._config.session_ttl,
                qbxml_version=version,
                last_error="Nothing left to send: every command is settled.",
            )
            return ""
        profile = self._store.profile(session.profile_id)
        sent_through = profile.sent_through if profile is not None else 0
        failed_keys = set(session.failed_keys or [])
        commands: list[dict[str, Any]] = []
        dead: list[tuple[str, bytes | None, bytes]] = []
        for item in queued:
            try:
                _, command = self._codec.decode(item.value, expected=COMMAND)
            except DecodeError as exc:
                dead.append(self._dead_letter(session.profile_id, item, str(exc)))
                continue
            entry: dict[str, Any] = {
                "request_id": str(item.offset),
                "command_id": str(command["command_id"]),
                "tenant_id": command["tenant_id"],
                "entity": command["entity"],
                "entity_id": command["entity_id"],
                "action": command["action"],
                "request_xml": command["request_xml"],
                # The command itself travels back in the result: the worker re-sends it on a
                # passing failure and dead-letters exactly it on a lasting one.
                "command": base64.b64encode(item.value).decode("ascii"),
                # Handed to QuickBooks before without an answer, it may be applied; or the
                # worker says it may exist already (first sync): either way, look first.
                "resent": item.offset < sent_through or bool(command.get("match_existing")),
            }
            if command.get("conflict_policy") and command.get("source_updated_at"):
                # Two-way: a 3200 is a conflict, decided by the tenant's policy (_recovery).
                entry["conflict_policy"] = command["conflict_policy"]
                entry["source_updated_at"] = command["source_updated_at"].isoformat()
            blockers = [
                dependency
                for dependency in command.get("depends_on") or []
                if f"{command['tenant_id']}:{dependency}" in failed_keys
            ]
            if blockers:
                entry["outcome"] = blocked(blockers)
                # Its own dependents are held back in turn.
                failed_keys.add(_key(entry))
            commands.append(entry)
        if dead:
            self._sink.send_all(dead)
        next_offset = queued[-1].offset + 1
        to_send = [(c["request_id"], c["request_xml"]) for c in commands if "outcome" not in c]
        if not to_send:
            # Nothing QuickBooks needs to see (undecodable, or blocked by a failure): settle
            # it here and let the Web Connector ask again.
            if commands:
                self._settle(session.profile_id, {"next_offset": next_offset, "commands": commands})
            else:
                self._commands.commit(session.profile_id, next_offset)
            self._store.update_session(
                key, self._config.session_ttl, failed_keys=sorted(failed_keys)
            )
            return None
        flight = prepare({"next_offset": next_offset, "commands": commands})
        # sent_through is recorded before QuickBooks sees the batch (in the same write as
        # the batch itself), so a crash at any later point marks these commands as possibly
        # applied when they are sent again.
        self._store.update_session(
            key,
            self._config.session_ttl,
            qbxml_version=version,
            in_flight=flight,
            sent_through=(session.profile_id, next_offset) if next_offset > sent_through else None,
        )
        if not finished(flight):
            return self._message(followup_requests(flight), version)
        return self._message(to_send, version)

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        key = _ticket_hash(ticket)
        session = self._store.live_session(key)
        if session is None:
            return -1
        if hresult:
            explanation = explain(hresult, message).describe()
            # Nothing is settled: the batch is sent again (and recognised as a re-send); an
            # import under way starts over from its watermark.
            self._store.update_session(
                key,
                self._config.session_ttl,
                in_flight=None,
                importing=None,
                last_error=f"QuickBooks could not process the request ({hresult}): {explanation}",
            )
            return -1
        if session.importing and not session.in_flight:
            return self._absorb_import(key, session, response)
        flight = session.in_flight
        if flight:
            try:
                statuses = {s.request_id: s for s in parse_response(response)}
            except UnsafeXml:
                statuses = {}
            asked = {r for r, _ in followup_requests(flight) or main_requests(flight)}
            if unanswered := len(asked - statuses.keys()):
                return self._unknown_outcome(key, session, unanswered, len(asked))
            flight = advance(flight, statuses)
            if not finished(flight):
                self._store.update_session(key, self._config.session_ttl, in_flight=flight)
                return self._progress(session.settled + session.failed, session.profile_id, 99)
            ok, failed = self._settle(session.profile_id, flight)
            failed_keys = set(session.failed_keys or []) | {
                _key(c) for c in flight["commands"] if _failed(c.get("outcome") or outcome(None))
            }
        else:
            ok = failed = 0
            failed_keys = set(session.failed_keys or [])
        settled = session.settled + ok
        total_failed = session.failed + failed
        self._store.update_session(
            key,
            self._config.session_ttl,
            in_flight=None,
            settled=settled,
            failed=total_failed,
            failed_keys=sorted(failed_keys),
            last_error=None,
        )
        # Commands done; an import still due keeps the session open (imports come after
        # writes, so what was just written is read back with the rest).
        tried = set((session.importing or {}).get("tried", []))
        imports_left = any(e not in tried for e in self._imports_due(session.profile_id))
        return self._progress(
            settled + total_failed, session.profile_id, 50 if imports_left else 100
        )

    def _unknown_outcome(
        self, key: str, session: WebConnectorSession, unanswered: int, asked: int
    ) -> int:
        """QuickBooks' answer is unreadable or incomplete (garbage, truncated, another
        document): it may have applied the batch, so nothing is settled, exactly as after a
        crash between send and receive. The batch is sent again in the next session, looked
        up in QuickBooks first (its commands are marked sent), so nothing is applied twice.
        ``-1`` makes the Web Connector ask getLastError, which says so."""
        log.warning(
            "unreadable answer: outcome unknown",
            extra={"profile_id": session.profile_id, "unanswered": unanswered, "asked": asked},
        )
        self._store.update_session(
            key,
            self._config.session_ttl,
            in_flight=None,
            importing=None,
            last_error=(
                f"QuickBooks' answer could not be read ({unanswered} of {asked} requests"
                " without a readable answer), so QuickBooks may or may not have applied them."
                " Nothing was settled: at the next update they are looked up in QuickBooks"
                " and sent again only where missing."
            ),
        )
        return -1

    def _settle(self, profile_id: str, flight: dict[str, Any]) -> tuple[int, int]:
        """Emit one result per command, then commit past the batch: ``(ok, failed)``."""
        now = _millis_now()
        records: list[tuple[str, bytes | None, bytes]] = []
        failed = 0
        for command in flight["commands"]:
            answer = command.get("outcome") or outcome(None)
            if _failed(answer):
                failed += 1
            record = {
                "command_id": command["command_id"],
                "tenant_id": command["tenant_id"],
                "profile_id": profile_id,
                "entity": command["entity"],
                "entity_id": command["entity_id"],
                "action": command["action"],
                **answer,
                "processed_at": now,
                "command": base64.b64decode(command["command"]) if "command" in command else None,
            }
            records.append(
                (
                    self._config.results_topic,
                    command["tenant_id"].encode(),
                    self._codec.encode(RESULT, record),
                )
            )
        self._sink.send_all(records)
        if self._config.imports_topic and self._config.imports.entities:
            self._store.record_written(
                [
                    (c["tenant_id"], c["entity"], answer["qb_id"], answer["edit_sequence"])
                    for c in flight["commands"]
                    if (answer := c.get("outcome") or {}).get("edit_sequence")
                    and answer.get("qb_id")
                    and not _failed(answer)
                ]
            )
        self._observer.settled(len(records) - failed, failed)
        # Only after every result is acknowledged: a crash before this line re-sends the
        # batch, which recovery recognises; a crash after it loses nothing.
        self._commands.commit(profile_id, flight["next_offset"])
        return len(records) - failed, failed

    # -- imports ------------------------------------------------------------------------

    def _imports_due(self, profile_id: str) -> list[str]:
        if not self._config.imports.entities:
            return []
        return due(self._config.imports, self._store.watermarks(profile_id), _millis_now())

    def _next_import(self, key: str, session: WebConnectorSession, version: str) -> str | None:
        """The next import page to ask for, once the file's commands are all sent; None
        when no import is due (or every due one was tried this session)."""
        state = session.importing
        if state is None or state.get("iterator_id") is None:
            tried = set((state or {}).get("tried", []))
            marks = self._store.watermarks(session.profile_id)
            now = _millis_now()
            todo = [e for e in due(self._config.imports, marks, now) if e not in tried]
            if not todo:
                return None
            mark = marks.get(todo[0])
            modified_from = mark.modified_from if mark else None
            state = {
                **start(self._config.imports, todo[0], modified_from, now),
                "tried": sorted(tried),
            }
        request_id, request = import_request(self._config.imports, state)
        self._store.update_session(
            key, self._config.session_ttl, qbxml_version=version, importing=state
        )
        log.info("import page asked", extra={"entity": state["entity"], "page": state["page"]})
        return self._message([(request_id, request)], version)

    def _absorb_import(self, key: str, session: WebConnectorSession, response: str) -> int:
        state = session.importing or {}
        try:
            statuses = parse_response(response)
        except UnsafeXml:
            statuses = []
        taken = absorb(state, statuses[0] if statuses else None)
        entity = state["entity"]
        if taken.records:
            self._store.save_qb_records(session.profile_id, entity, taken.records)
            # Acknowledged by Kafka before the watermark can move: an import that dies
            # after this page asks for it again, and the worker drops what it saw already.
            self._publish_imported(session.profile_id, entity, statuses[0].records)
        tried = sorted({*state.get("tried", []), entity})
        if taken.state is not None:
            following: dict[str, Any] | None = {**taken.state, "tried": state.get("tried", [])}
        else:
            following = {"entity": entity, "iterator_id": None, "tried": tried}
            if taken.error is None:
                # Every page processed: only now does the watermark move.
                self._store.complete_import(
                    session.profile_id, entity, taken.watermark, taken.total
                )
                log.info("import completed", extra={"entity": entity, "records": taken.total})
        self._store.update_session(
            key,
            self._config.session_ttl,
            importing=following,
            last_error=taken.error or session.last_error,
        )
        more = taken.state is not None or any(
            e not in tried for e in self._imports_due(session.profile_id)
        )
        return self._progress(
            session.settled + session.failed, session.profile_id, 50 if more else 100
        )

    def _publish_imported(self, profile_id: str, entity: str, records: Sequence[Record]) -> None:
        if not self._config.imports_topic:
            return
        now = _millis_now()
        tenants = [tenant.id for tenant in self._store.tenants(profile_id)]
        messages = [
            (
                self._config.imports_topic,
                tenant_id.encode(),
                self._codec.encode(
                    IMPORTED,
                    {
                        "tenant_id": tenant_id,
                        "profile_id": profile_id,
                        "entity": entity,
                        "qb_id": record.qb_id,
                        "edit_sequence": record.edit_sequence,
                        "time_modified": record.time_modified,
                        "record_type": record.kind,
                        "record_json": json.dumps(record.fields, separators=(",", ":")),
                        "imported_at": now,
                    },
                ),
            )
            for tenant_id in tenants
            for record in records
            if record.qb_id
        ]
        if messages:
            self._sink.send_all(messages)

    def _progress(self, done: int, profile_id: str, when_empty: int) -> int:
        """0-99 while commands wait; ``when_empty`` (100 ends the session) when none do."""
        remaining = self._commands.pending(profile_id)
        if remaining == 0:
            return when_empty
        return max(1, min(99, done * 100 // (done + remaining)))

    def _message(self, requests: list[tuple[str, str]], version: str) -> str:
        message = build_message(requests, version=version)
        self._observer.batch_sent(len(requests), len(message))
        return message

    # -- the end ----------------------------------------------------------------------

    def get_last_error(self, ticket: str) -> str:
        session = self._store.live_session(_ticket_hash(ticket))
        if session is None:
            return "This session has ended or expired; the next scheduled update will continue."
        return session.last_error or "No error."

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        explanation = explain(hresult, message).describe()
        self._store.update_session(
            _ticket_hash(ticket),
            self._config.session_ttl,
            last_error=f"The Web Connector could not reach QuickBooks ({hresult}): {explanation}",
        )
        log.info("connection error", extra={"hresult": hresult})
        return "done"

    def close_connection(self, ticket: str) -> str:
        session = self._store.close_session(_ticket_hash(ticket))
        if session is None:
            return "Session closed."
        self.history.ended(ticket, "closed", session)
        text = f"Synced {session.settled} record{'s' if session.settled != 1 else ''}"
        if session.failed:
            text += f"; {session.failed} need{'s' if session.failed == 1 else ''} attention"
        return text + "."

    def failed(self, operation: str, ticket: str, error: Exception) -> None:
        """``operation`` raised ``error``: log it and leave the session's batch as an
        unknown outcome, exactly as after a crash between send and receive (nothing was
        committed past it, its commands are marked sent, so the next session looks them up
        in QuickBooks before sending any again). Never raises: the SOAP layer answers the
        Web Connector with the operation's failure value, and getLastError reads the words
        left here. Logs the type, a code and ids, never the text (it may quote input)."""
        key = _ticket_hash(ticket) if ticket else ""
        profile_id: str | None = None
        recorded = False
        try:
            session = self._store.live_session(key) if key else None
            if session is not None:
                profile_id = session.profile_id
                self._store.update_session(
                    key,
                    self._config.session_ttl,
                    in_flight=None,
                    importing=None,
                    last_error=(
                        f"qbsync failed while answering {operation} ({type(error).__name__},"
                        " logged on the server). Nothing in flight was settled: QuickBooks may"
                        " or may not have applied the last request, so at the next update its"
                        " records are looked up in QuickBooks and sent again only where"
                        " missing."
                    ),
                )
                recorded = True
        except Exception as again:  # the store itself may be what failed
            log.error(
                "failure not recorded on the session",
                extra={"operation": operation, "error": type(again).__name__},
            )
        self._observer.operation_failed(operation, type(error).__name__)
        log.error(
            "operation failed",
            extra={
                "operation": operation,
                "error": type(error).__name__,
                "code": _error_code(error),
                "profile_id": profile_id,
                "ticket_hash": key[:12] or None,
                "session_marked": recorded,
            },
        )

    # -- helpers ----------------------------------------------------------------------

    def _negotiate(self, profile_id: str, hcp_response: str, major: str, minor: str) -> str:
        """Pick the qbXML version; remember what the Web Connector said about its host.

        ``strHCPResponse`` arrives only on a session's first call, and some clients leave it
        empty: then the major/minor version parameters are all there is."""
        reported = reported_versions(hcp_response, major, minor)
        if hcp_response.strip():
            try:
                root = parse_xml(hcp_response, recover=True)
            except UnsafeXml:
                root = None
            if root is not None:
                self._store.update_profile(
                    profile_id,
                    host_info={
                        "supported_versions": reported,
                        "product": (root.findtext(".//ProductName") or "").strip(),
                        "country": root.findtext(".//Country") or "",
                        "company_name": root.findtext(".//CompanyName") or "",
                    },
                )
        return negotiate_version(reported, self._config.qbxml_version)

    def _dead_letter(
        self, profile_id: str, item: QueuedCommand, reason: str
    ) -> tuple[str, bytes | None, bytes]:
        record = {
            "dead_letter_id": str(uuid.uuid4()),
            "source_topic": f"{self._config.commands_topic_prefix}{profile_id}",
            "source_partition": 0,
            "source_offset": item.offset,
            "tenant_id": None,
            "profile_id": profile_id,
            "code": "undecodable-command",
            "reason": f"The command could not be read: {reason}",
            "original_key": item.key,
            "original_value": item.value,
            "failed_at": _millis_now(),
        }
        return self._config.dead_letters_topic, item.key, self._codec.encode(DEAD_LETTER, record)
