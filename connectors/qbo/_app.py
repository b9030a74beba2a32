"""Build the QBO sender and its parts from settings (a factory: nothing happens at import)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx2
from pydantic import SecretStr

from connectors.kafka import CommandQueue, RecordProducer
from connectors.qbo._batching import BATCH_ITEMS
from connectors.qbo._checks import CompanyChecks
from connectors.qbo._client import ClientConfig, QboClient
from connectors.qbo._connections import CONNECTED, QboConnections
from connectors.qbo._crypto import TokenCipher
from connectors.qbo._http import sender_http_app
from connectors.qbo._limits import RealmLimits
from connectors.qbo._oauth import OAuthApp, OAuthClient
from connectors.qbo._reader import QboReader, ReaderConfig, webhook_hints
from connectors.qbo._sender import DrainReport, QboSender, SenderConfig
from connectors.qbo._sharing import SenderRoster, assign
from connectors.qbo._tokens import TokenKeeper
from connectors.qbo._webhooks import WebhookApp, webhook_app
from connectors.store import Store
from core.contracts import codec_from_settings
from core.errors import ConfigurationError
from core.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["SENDER_GROUP", "QboRuntime", "create_qbo_runtime", "oauth_app", "sender_name"]

# The consumer group whose committed offsets are the QBO companies' progress.
SENDER_GROUP = "qbsync-qbo-sender"


def oauth_app(settings: Settings) -> OAuthApp:
    qbo = settings.qbo
    missing = qbo.missing()
    if missing:
        raise ConfigurationError(
            "QuickBooks Online needs " + ", ".join(missing) + " (see docs/qbo.md, Settings)"
        )
    return OAuthApp(
        client_id=qbo.client_id,
        client_secret=qbo.client_secret,
        redirect_uri=qbo.redirect_uri,
        authorize_url=qbo.authorize_url,
        token_url=qbo.token_url,
        revoke_url=qbo.revoke_url,
    )


@dataclass
class QboRuntime:
    http: httpx2.Client
    oauth: OAuthClient
    connections: QboConnections
    keeper: TokenKeeper
    client: QboClient
    commands: CommandQueue
    sink: RecordProducer
    sender: QboSender

    threads: int = 8
    lease: timedelta = timedelta(minutes=2)
    # This process, as the holder of companies' drain leases and a member of the roster.
    owner: str = field(default_factory=lambda: sender_name())
    # The live senders, among which the companies are shared (None: this process drains
    # every company whose lease it gets, as a single sender).
    roster: SenderRoster | None = None
    # Reads the company's changes back after its commands (None: not configured).
    reader: QboReader | None = None
    # A company whose limiter would hold the next request longer than this is left for the
    # next drain, so one busy realm does not keep a thread from the others.
    pace_s: float = 1.0
    # The companies whose drain lease this process holds, and until when.
    _held: dict[str, datetime] = field(default_factory=dict)
    _held_lock: threading.Lock = field(default_factory=threading.Lock)
    # Until when this process's roster heartbeat runs.
    _alive_until: datetime | None = None

    def drain_all(self) -> dict[str, DrainReport]:
        """One drain of every connected company, ``threads`` companies at a time, so a
        realm waiting out a ``Retry-After`` does not hold up the others (each realm is still
        drained by one thread, in order); companies that need reconnecting wait, and so do
        companies another sender process holds the lease of, or that the roster gives to
        another sender (:meth:`mine`), are not drained here (not in the answer)."""
        ready = [
            (c.profile_id, c.realm_id)
            for c in self.connections.companies()
            if c.status == CONNECTED and c.realm_id
        ]
        if self.roster is not None:
            mine = self.mine([profile for profile, _realm in ready])
            ready = [(profile, realm) for profile, realm in ready if profile in mine]
        if len(ready) <= 1 or self.threads <= 1:
            drained = {profile: self.drain_leased(profile, realm) for profile, realm in ready}
        else:
            with ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="qbo") as pool:
                futures = {
                    profile: pool.submit(self.drain_leased, profile, realm)
                    for profile, realm in ready
                }
                drained = {profile: future.result() for profile, future in futures.items()}
        return {profile: report for profile, report in drained.items() if report is not None}

    def mine(self, companies: list[str]) -> set[str]:
        """The companies the roster gives this process (``connectors.qbo._sharing``): it
        renews its heartbeat once half of it is gone, shares ``companies`` among the live
        senders, and gives back the lease of every company now given to another sender."""
        assert self.roster is not None
        now = datetime.now(UTC)
        if self._alive_until is None or self._alive_until - now <= self.lease / 2:
            self.roster.beat(self.owner, self.lease)
            self._alive_until = now + self.lease
        members = {*self.roster.live(), self.owner}
        ours = {c for c, member in assign(companies, members).items() if member == self.owner}
        with self._held_lock:
            moved = [profile for profile in self._held if profile not in ours]
            for profile in moved:
                del self._held[profile]
        for profile in moved:
            self.connections.release_drain(profile, self.owner)
            log.info("qbo company moved to another sender", extra={"profile": profile})
        return ours

    def drain_leased(self, profile_id: str, realm_id: str) -> DrainReport | None:
        """One drain of one company under its lease; None when another process holds it.
        A company whose minute is full (Intuit's 500 requests) yields its thread to the
        others until its limiter lets the next request go. The lease is kept between drains
        (given back by :meth:`close`) and renewed in the
        store only once half of it is gone, so an idle company costs no write per drain."""
        if not self._hold(profile_id):
            return None
        if self.client.wait_s(realm_id) > self.pace_s:
            return DrainReport(0, 0, 0, 0, None)  # its minute is full: the others first
        report = self.sender.drain(
            profile_id,
            realm_id,
            keep=lambda: self._hold(profile_id),
            pace=lambda batch: self.client.wait_s(realm_id, batch) <= self.pace_s,
        )
        paced = self.client.wait_s(realm_id) > self.pace_s
        if report.stopped is None and not paced and self.reader is not None:
            self._read(profile_id, realm_id)
        return report

    def _hold(self, profile_id: str) -> bool:
        """Whether this process holds the company's lease, claiming or renewing it when less
        than half is left (by this process's clock, from before the claim: never later
        than the store's)."""
        now = datetime.now(UTC)
        with self._held_lock:
            until = self._held.get(profile_id)
        if until is not None and until - now > self.lease / 2:
            return True
        claimed = self.connections.claim_drain(profile_id, self.owner, self.lease)
        with self._held_lock:
            if claimed:
                self._held[profile_id] = now + self.lease
            else:
                self._held.pop(profile_id, None)
        return claimed

    def _read(self, profile_id: str, realm_id: str) -> None:
        """Read the company's changes back after its commands; a failure leaves its
        watermarks where they were (the next drain reads again) and stops nothing else."""
        try:
            assert self.reader is not None
            self.reader.read(profile_id, realm_id)
        except Exception:  # Intuit, the broker, the store: the next drain tries again
            log.exception("qbo changes not read", extra={"profile": profile_id})

    def webhooks(self, verifier: SecretStr, store: Store) -> WebhookApp:
        """Intuit's webhook endpoint (``webhook_app``): a verified notification asks for a
        read of the entities it names (``webhook_hints``), nothing more."""
        if not verifier.get_secret_value():
            raise ConfigurationError(
                "QBSYNC_QBO_WEBHOOK_VERIFIER is empty: copy the verifier token from the app's "
                "webhooks page at developer.intuit.com"
            )
        if self.reader is None:
            raise ConfigurationError(
                "webhooks only ask for reads, and QBSYNC_QBO_READ_ENTITIES is empty: "
                "name the entities to read back"
            )
        return webhook_app(verifier, webhook_hints(self.connections, store, self.reader.config))

    def http_app(self, verifier: SecretStr, store: Store) -> WebhookApp:
        """What the sender serves (``connectors.qbo._http``): the OAuth callback that
        completes a "Connect to QuickBooks", ``/healthz``, and Intuit's webhooks when a
        verifier is configured (and something is read back)."""
        hooks = None
        if verifier.get_secret_value() and self.reader is not None:
            hooks = self.webhooks(verifier, store)
        return sender_http_app(
            complete=lambda url: self.connections.complete_callback(url, self.oauth),
            webhooks=hooks,
        )

    def close(self) -> None:
        with self._held_lock:
            held, self._held = list(self._held), {}
        for profile_id in held:  # another sender may take them over at once
            self.connections.release_drain(profile_id, self.owner)
        if self.roster is not None:
            self.roster.leave(self.owner)
        self.commands.close()
        self.sink.close()
        self.http.close()


def sender_name() -> str:
    """This process as a sender: host and pid for an operator reading the store, and a
    random part so a restarted process with the same pid is a new sender."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def create_qbo_runtime(
    settings: Settings, store: Store, *, limits: RealmLimits | None = None
) -> QboRuntime:
    """Everything the sender needs, from settings; ``limits`` replaces the per-realm
    limiters built from them (a benchmark's unlimited baseline)."""
    app = oauth_app(settings)
    qbo = settings.qbo
    http = httpx2.Client(
        timeout=qbo.timeout_s,
        limits=httpx2.Limits(max_connections=200, max_keepalive_connections=100),
    )
    oauth = OAuthClient(app, http)
    connections = QboConnections(store.engine, TokenCipher(qbo.token_keys))
    keeper = TokenKeeper(connections, oauth)
    client = QboClient(
        ClientConfig(
            base_url=qbo.api_base_url.rstrip("/"),
            minor_version=qbo.minor_version,
            attempts=qbo.retry_attempts,
            backoff_base_s=qbo.retry_base_s,
            backoff_max_s=qbo.retry_max_s,
        ),
        http,
        keeper,
        limits or RealmLimits(per_minute=qbo.requests_per_minute, concurrent=qbo.concurrent),
    )
    kafka = settings.kafka.client_config()
    commands = CommandQueue(
        kafka,
        group_id=SENDER_GROUP,
        topic_for=settings.topics.commands,
        exact_watermarks=settings.kafka.exact_watermarks,
        consumers=qbo.sender_threads,
    )
    sink = RecordProducer(kafka)
    codec = codec_from_settings(settings)
    sender = QboSender(
        commands,
        sink,
        client,
        codec,
        SenderConfig(
            results_topic=settings.topics.results,
            dead_letters_topic=settings.topics.dead_letters,
            commands_topic_prefix=settings.topics.commands(""),
            batch_size=qbo.batch_size,
            batch_items=BATCH_ITEMS if qbo.batch_creates else 0,
        ),
        written=store.record_written,
        checks=CompanyChecks(client),
    )
    reader = None
    if qbo.read_entity_names:
        try:
            read_config = ReaderConfig(
                imports_topic=settings.topics.imports,
                entities=qbo.read_entity_names,
                interval=timedelta(seconds=qbo.read_interval_s),
                sweep_interval=timedelta(seconds=qbo.deletion_sweep_s),
            )
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from exc
        reader = QboReader(client, store, sink, codec, read_config)
    return QboRuntime(
        http,
        oauth,
        connections,
        keeper,
        client,
        commands,
        sink,
        sender,
        qbo.sender_threads,
        timedelta(seconds=qbo.drain_lease_s),
        reader=reader,
        roster=SenderRoster(store.engine),
    )
