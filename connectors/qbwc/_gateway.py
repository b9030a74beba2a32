"""The Web Connector conversation, free of SOAP: each method is one QBWC operation.

State lives in the store (sessions) and in Kafka (committed offsets of each file's command
topic), never in this object, so any gateway replica can answer any call. The jobs it
sequences are each their own module: the credential check (``_login``), the batch planner
(``_batch``), recovery (``_recovery``), settling results (``_results``), import paging
(``_import_pages``) and the handshake (``_handshake``); the topic, the broker and dead letters
are the connectors' shared drain (:class:`connectors.kafka.CompanyDrain`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connectors.kafka import CommandBacklog, CompanyDrain, DrainConfig, RecordSink
from connectors.qbwc._batch import plan_batch
from connectors.qbwc._flight_memo import FlightMemo
from connectors.qbwc._handshake import client_version_answer, host_info
from connectors.qbwc._history import SessionHistory
from connectors.qbwc._import_pages import ImportPages
from connectors.qbwc._import_schedule import ImportSchedule
from connectors.qbwc._imports import ImportConfig
from connectors.qbwc._last_seen import LastSeen
from connectors.qbwc._login import Login, LoginPolicy, global_throttle_key, throttle_key
from connectors.qbwc._metrics import GatewayObserver, NullObserver
from connectors.qbwc._passwords import PasswordChecker
from connectors.qbwc._profile_cache import ProfileCache
from connectors.qbwc._recovery import (
    Flight,
    advance,
    finished,
    followup_requests,
    main_requests,
    staged,
)
from connectors.qbwc._results import Settler
from connectors.qbxml import UnsafeXml, build_message, explain, negotiate_version, parse_response
from connectors.store import (
    Profile,
    SessionBusy,
    SessionEnd,
    Store,
    WebConnectorSession,
    WorkingSession,
    json_text,
)
from core.contracts import AvroCodec
from core.status import Status

__all__ = [
    "BLOCKED",
    "GatewayConfig",
    "WebConnectorGateway",
    "global_throttle_key",
    "throttle_key",
]

log = logging.getLogger(__name__)

# Batches settled without QuickBooks (all blocked or undecodable) before answering "NoOp".
_LOCAL_BATCHES = 20
_NOTHING_LEFT = "Nothing left to send: every command is settled."
# Held back because a dependency failed (qbsync's own status code, core.status).
BLOCKED = Status.BLOCKED


@dataclass(frozen=True)
class GatewayConfig(DrainConfig):
    session_ttl: timedelta = timedelta(minutes=10)
    qbxml_version: str = "13.0"
    server_version: str = "qbsync"
    min_client_version: str = "2.1.0.0"
    # Refused outright (``E:``) below this version; empty: never refused.
    refuse_client_below: str = ""
    # Login throttling and the scrypt bound.
    login: LoginPolicy = field(default_factory=LoginPolicy)
    # Lists read back from QuickBooks after the file's commands (connectors.qbwc._imports).
    imports: ImportConfig = field(default_factory=ImportConfig)
    # Where imported records go for the worker's two-way rules; empty: nowhere (the store's
    # copy still serves matching and reference checks).
    imports_topic: str = ""
    # When Web Connectors last called is written in bulk at most this often (_last_seen).
    last_seen_flush_s: float = 30.0
    # A profile read for a login is used this long (_profile_cache), and import requests
    # are checked for all files this often (_import_schedule); 0: read every time.
    profile_cache_s: float = 0.0


@dataclass(frozen=True)
class _Taken:
    """What :meth:`WebConnectorGateway._take` found: the next batch for QuickBooks (None:
    none), the profile's ``sent_through`` it was planned against, the failed keys after
    it; ``exhausted``: batches settled here only, more may wait; ``gone``: the session
    ended meanwhile."""

    flight: Flight | None
    sent_through: int
    failed_keys: frozenset[str]
    exhausted: bool = False
    gone: bool = False

    def mark(self, profile_id: str) -> tuple[str, int] | None:
        """``sent_through`` to record with the batch's write (None: already past it)."""
        if self.flight is None or self.flight.next_offset <= self.sent_through:
            return None
        return profile_id, self.flight.next_offset


def _ticket_hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


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


class WebConnectorGateway:
    def __init__(
        self,
        *,
        store: Store,
        commands: CommandBacklog,
        sink: RecordSink,
        codec: AvroCodec,
        config: GatewayConfig,
        observer: GatewayObserver | None = None,
    ) -> None:
        self._observer: GatewayObserver = observer or NullObserver()
        self._store = store
        self._commands = commands
        self._drain = CompanyDrain(commands, sink, codec, config)
        self._flights = FlightMemo(json_text)
        self._config = config
        self._login = Login(
            store,
            ProfileCache(store, config.profile_cache_s),
            config.login,
            on_check=self._observer.password_checked,
        )
        self._imports = ImportPages(
            store,
            self._drain,
            config.imports,
            config.imports_topic,
            ImportSchedule(store, config.imports, config.profile_cache_s),
        )
        self._settler = Settler(
            self._drain, store, self._observer, record_written=self._imports.publishing
        )
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
        return client_version_answer(
            version, self._config.min_client_version, self._config.refuse_client_below
        )

    def authenticate(self, username: str, password: str, client: str = "") -> list[str]:
        """``client``: who is calling (a hash of address and agent), for session takeover."""
        ticket = secrets.token_urlsafe(32)
        verdict = self._login.check(username, password)
        outcome: str
        if verdict.profile is None:
            outcome = verdict.refusal or "nvu"
            status = "busy" if outcome == "overloaded" else "nvu"
        else:
            outcome, status = self._open(verdict.profile, ticket, client)
        self._observer.authenticated(outcome)
        return [ticket, status]

    @property
    def passwords(self) -> PasswordChecker:
        return self._login.passwords

    def _open(self, profile: Profile, ticket: str, client: str) -> tuple[str, str]:
        """``(outcome for metrics and logs, status for the Web Connector)``."""
        self._last_seen.seen(
            profile.id, first=profile.last_seen_at is None, version=profile.password_hash
        )
        if not profile.enabled:
            log.info("authenticate: profile disabled", extra={"profile_id": profile.id})
            return "disabled", "none"
        if self._commands.pending(profile.id) == 0 and not self._imports.may_be_due(profile.id):
            log.debug("authenticate: nothing to do", extra={"profile_id": profile.id})
            return "none", "none"
        try:
            self._store.open_session(
                profile.id, _ticket_hash(ticket), self._config.session_ttl, client=client or None
            )
        except SessionBusy:
            log.info("authenticate busy", extra={"profile_id": profile.id})
            return "busy", "busy"
        # The claim started the session's history row too (same transaction).
        log.info("session opened", extra={"profile_id": profile.id})
        return "session", profile.company_file

    # -- the exchange -----------------------------------------------------------------

    def send_request_xml(self, ticket: str, hcp_response: str, major: str, minor: str) -> str:
        key = _ticket_hash(ticket)
        working = self._store.working_session(key)
        if working is None:
            return ""
        session = working.row
        version = session.qbxml_version or self._negotiate(
            session.profile_id, hcp_response, major, minor
        )
        flight = self._flights.read(key, working.in_flight_json)
        if flight is not None and not finished(flight):
            # No write: the flight, its sent_through mark and the version are on the row
            # already. Follow-ups: answers are in but not settled, or a re-sent batch is
            # checked first. Else the batch's own requests: staged by the settle before
            # (one write per batch), or due after their follow-ups.
            if flight.followups:
                return self._message(followup_requests(flight), version)
            requests = main_requests(flight)
            if requests:
                return self._message(requests, version)
            # Everything was found in QuickBooks already: settle and go on.
            self._settler.settle(session.profile_id, flight)
            self._write(key, self._config.session_ttl, in_flight=None)
            start: int | None = flight.next_offset
        else:
            start = None
        taken = self._take(
            key,
            session.profile_id,
            working.sent_through,
            frozenset(session.failed_keys or []),
            start=start,
        )
        if taken.gone:
            return ""
        if taken.flight is None:
            if taken.exhausted:
                return "NoOp"  # the Web Connector pauses a few seconds and asks again
            imported = self._next_import(key, session, version)
            # No write when nothing is left: getLastError, asked next, says so.
            return imported if imported is not None else ""
        # sent_through is recorded before QuickBooks sees the batch (in the same write as
        # the batch itself), so a crash at any later point marks these commands as possibly
        # applied when they are sent again.
        flight = taken.flight
        self._write(
            key,
            self._config.session_ttl,
            qbxml_version=version,
            in_flight=self._flights.written(key, flight),
            sent_through=taken.mark(session.profile_id),
        )
        return self._serve(flight, version)

    def _serve(self, flight: Flight, version: str) -> str:
        if flight.followups:
            return self._message(followup_requests(flight), version)
        return self._message(main_requests(flight), version)

    def _take(
        self,
        key: str,
        profile_id: str,
        sent_through: int,
        failed_keys: frozenset[str],
        settle: Mapping[str, Any] | None = None,
        *,
        start: int | None = None,
    ) -> _Taken:
        """The next batch for QuickBooks, planned, not yet written. Batches that settle here
        without QuickBooks (all blocked or undecodable) are settled on the way, each with
        its own write of the failed keys (as a batch's settle, with ``settle``: the counts
        of the batch QuickBooks answered, if any), at most _LOCAL_BATCHES. ``sent_through``:
        the file's mark, read with the session's row (only this session's own writes raise
        it while it holds the lease, and these batches raise none). ``start``: the offset
        this session has just committed (it holds the file's lease, so it is the group's),
        which spares the broker round trip that would ask it."""
        keys = failed_keys
        for _ in range(_LOCAL_BATCHES):
            queued = self._drain.fetch(profile_id, start)
            if not queued:
                # The file's work ends here: its settles' commits (made in the background)
                # are made before the session says so, so the next session, on any replica,
                # starts after them.
                self._drain.flush(profile_id)
                return _Taken(None, 0, keys)
            batch = plan_batch(
                [(item, self._drain.read(profile_id, item)) for item in queued],
                sent_through,
                keys,
            )
            self._drain.publish([self._drain.outgoing(letter) for letter in batch.dead])
            keys = batch.failed_keys
            if batch.for_quickbooks:
                return _Taken(batch.flight, sent_through, keys)
            # Nothing QuickBooks needs to see (undecodable, or blocked by a failure): settle
            # it here and go on to the next batch.
            if batch.flight.commands:
                self._settler.settle(profile_id, batch.flight)
            else:
                self._drain.commit(profile_id, batch.flight.next_offset, wait=False)
            start = batch.flight.next_offset
            self._write(
                key,
                self._config.session_ttl,
                in_flight=None,
                failed_keys=sorted(keys),
                **(settle or {}),
            )
            if self._store.live_session(key) is None:
                return _Taken(None, 0, keys, gone=True)
        return _Taken(None, 0, keys, exhausted=True)

    def receive_response_xml(self, ticket: str, response: str, hresult: str, message: str) -> int:
        key = _ticket_hash(ticket)
        working = self._store.working_session(key)
        if working is None:
            return -1
        session = working.row
        if hresult:
            explanation = explain(hresult, message).describe()
            # Nothing is settled: the batch is sent again (and recognised as a re-send); an
            # import under way starts over from its watermark.
            self._write(
                key,
                self._config.session_ttl,
                in_flight=None,
                importing=None,
                last_error=f"QuickBooks could not process the request ({hresult}): {explanation}",
            )
            return -1
        flight = self._flights.read(key, working.in_flight_json)
        if session.importing and flight is None:
            return self._absorb_import(key, session, response)
        failed_keys = frozenset(session.failed_keys or [])
        ok = failed = 0
        if flight is not None:
            try:
                statuses = {s.request_id: s for s in parse_response(response, records=False)}
            except UnsafeXml:
                statuses = {}
            asked = {r for r, _ in followup_requests(flight) or main_requests(flight)}
            if unanswered := len(asked - statuses.keys()):
                return self._unknown_outcome(key, session, unanswered, len(asked))
            flight = advance(flight, statuses)
            if not finished(flight):
                self._write(
                    key, self._config.session_ttl, in_flight=self._flights.written(key, flight)
                )
                return self._progress(session.settled + session.failed, session.profile_id, 99)
            settled = self._settler.settle(session.profile_id, flight)
            ok, failed = settled.ok, settled.failed
            failed_keys |= settled.failed_keys
        done = session.settled + ok
        total_failed = session.failed + failed
        # The settle's write also stages the next batch (one write per batch): planned and
        # marked sent here, served by the next sendRequestXML without a write.
        settle: dict[str, Any] = {"settled": done, "failed": total_failed, "last_error": None}
        taken = (
            self._stage(key, working, failed_keys, settle, flight.next_offset)
            if flight is not None
            else _Taken(None, 0, failed_keys)
        )
        if taken.gone:
            return -1
        if taken.flight is not None:
            progress = self._progress(done + total_failed, session.profile_id, 99)
            self._write(
                key,
                self._config.session_ttl,
                in_flight=self._flights.written(key, staged(taken.flight)),
                failed_keys=sorted(taken.failed_keys),
                sent_through=taken.mark(session.profile_id),
                **settle,
            )
            return progress
        # Commands done; an import still due keeps the session open (imports come after
        # writes, so what was just written is read back with the rest).
        imports_left = self._imports.left(session.profile_id, session.importing)
        progress = self._progress(
            done + total_failed, session.profile_id, 50 if imports_left else 100
        )
        self._write(
            key,
            self._ttl(progress),
            in_flight=None,
            failed_keys=sorted(taken.failed_keys),
            ended=self._ended(progress, session, done, total_failed, None),
            **settle,
        )
        return progress

    def _stage(
        self,
        key: str,
        working: WorkingSession,
        failed_keys: frozenset[str],
        settle: Mapping[str, Any],
        committed: int,
    ) -> _Taken:
        """The next batch, to be written with the settle of the one answered. Staging is
        only a saving: if reading the next batch fails (the broker, the store), the settle
        is written alone and the next sendRequestXML reads the batch itself, so a settled
        batch never becomes an unknown outcome for it."""
        profile_id = working.row.profile_id
        try:
            return self._take(
                key, profile_id, working.sent_through, failed_keys, settle, start=committed
            )
        except Exception as error:  # the settle above stands; the next call reads again
            log.warning(
                "next batch not staged",
                extra={
                    "profile_id": profile_id,
                    "error": type(error).__name__,
                    "code": _error_code(error),
                },
            )
            return _Taken(None, 0, failed_keys)

    def _ended(
        self,
        progress: int,
        session: WebConnectorSession,
        settled: int,
        failed: int,
        last_error: str | None,
    ) -> SessionEnd | None:
        """The history's end of the session, written with the settle that ends its work
        (progress 100); None while it goes on."""
        if progress < 100:
            return None
        return SessionEnd(
            "closed",
            settled=settled,
            failed=failed,
            qbxml_version=session.qbxml_version,
            last_error=last_error,
        )

    def _write(self, key: str, ttl: timedelta, **changes: Any) -> None:
        """The session's write, with what QuickBooks reported of itself if it is not yet
        written (the console's history rides on the protocol's writes)."""
        if "in_flight" in changes and changes["in_flight"] is None:
            self._flights.forget(key)  # nothing in flight: a finished session holds no memory
        self._store.update_session(key, ttl, reported=self.history.take(key), **changes)

    def _ttl(self, progress: int) -> timedelta:
        """The lease a session keeps after a write: the TTL while there is more to do; none
        at 100, the end of the work (this write releases the file, and closeConnection then
        only reads the row: one write fewer per session). Nothing is in flight then, so a
        Web Connector that calls again finds no session and is told so."""
        return timedelta(0) if progress >= 100 else self._config.session_ttl

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
        self._write(
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

    # -- imports ------------------------------------------------------------------------

    def _next_import(self, key: str, session: WebConnectorSession, version: str) -> str | None:
        """The next import page to ask for, once the file's commands are all sent; None
        when no import is due (or every due one was tried this session)."""
        page = self._imports.next_page(session.profile_id, session.importing)
        if page is None:
            return None
        state, request = page
        self._write(key, self._config.session_ttl, qbxml_version=version, importing=state)
        return self._message([request], version)

    def _absorb_import(self, key: str, session: WebConnectorSession, response: str) -> int:
        taken = self._imports.take(session.profile_id, session.importing or {}, response)
        progress = self._progress(
            session.settled + session.failed, session.profile_id, 50 if taken.more else 100
        )
        last_error = taken.error or session.last_error
        self._write(
            key,
            self._ttl(progress),
            importing=taken.state,
            last_error=last_error,
            ended=self._ended(progress, session, session.settled, session.failed, last_error),
        )
        return progress

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
        return session.last_error or _NOTHING_LEFT

    def connection_error(self, ticket: str, hresult: str, message: str) -> str:
        explanation = explain(hresult, message).describe()
        self._write(
            _ticket_hash(ticket),
            self._config.session_ttl,
            last_error=f"The Web Connector could not reach QuickBooks ({hresult}): {explanation}",
        )
        log.info("connection error", extra={"hresult": hresult})
        return "done"

    def close_connection(self, ticket: str) -> str:
        key = _ticket_hash(ticket)
        # A live row is deleted and its history ended in one write; a released one (its
        # last settle ended the history) is only read.
        session = self._store.close_session(key, reported=self.history.take(key))
        if session is None:
            return "Session closed."
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
                self._write(
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
        """Pick the qbXML version; remember what the Web Connector said about its host."""
        reported, host = host_info(hcp_response, major, minor)
        if host is not None:
            self._store.update_profile(profile_id, host_info=host)
        return negotiate_version(reported, self._config.qbxml_version)
