"""``qbsync demo``: the whole pipeline on this machine, against sandbox companies.

Four tenants: two share one Desktop company file, the third has its own, the fourth syncs to
a QuickBooks Online company (the QBO sandbox over HTTP, connected through the sender's OAuth
callback as "Connect to QuickBooks" does). Each publishes customers;
once they are in QuickBooks, one customer per tenant is edited (a Mod with the stored
EditSequence); one malformed event shows the dead-letter path. The demo waits until every
event is settled (a result from QuickBooks, or a dead letter) and reports what it saw.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2
from confluent_kafka import Consumer, TopicPartition
from cryptography.fernet import Fernet
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.kafka import RecordProducer
from connectors.qbo import QboConnections, TokenCipher, authorize_url, create_company, oauth_app
from connectors.qbo_sandbox import Company, QboSandbox
from connectors.qbwc import create_profile
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import Store, upgrade
from core.contracts import AvroCodec, codec_from_settings, customer_event
from core.errors import WorkFailed
from core.messages import DEAD_LETTER, RESULT
from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.runtime import (
    Services,
    free_port,
    prepare_topics,
    running_services,
    use_broker,
)

__all__ = ["MALFORMED", "QBO_REALM", "QBO_TENANT", "explain", "run_demo"]

# The QBO company of the demo: its realm in the QBO sandbox, and the tenant synced to it.
QBO_REALM = "9130350000000001"
QBO_TENANT = "online-co"

CUSTOMER_EVENT = "com.qbsync.events.CustomerEvent"

_LETTERS_SHOWN = 5
# The deliberately malformed event: not Avro at all, so the worker cannot decode it.
MALFORMED = b"{not avro}"

_FIRST = ["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"]
_LAST = ["Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson"]


def _sample_customer(tenant_index: int, index: int) -> dict[str, Any]:
    number = tenant_index * 100 + index
    if index % 3 == 0:
        return {
            "company_name": f"{_LAST[number % len(_LAST)]} & Sons #{number}",
            "email": f"office{number}@example.com",
            "bill_address": {"line1": f"{number} Main St", "city": "Springfield", "state": "IL"},
        }
    return {
        "first_name": _FIRST[number % len(_FIRST)],
        "last_name": f"{_LAST[number % len(_LAST)]}-{number}",
        "phone": f"555-01{number % 100:02d}",
    }


@dataclass
class _Tally:
    """Outcomes seen on the results and dead-letter topics."""

    results_ok: int = 0
    results_error: int = 0
    dead_letters: int = 0
    dead_letters_from_events: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    # The first few dead letters: id, code, tenant and reason (the demo explains them).
    letters: list[dict[str, str]] = field(default_factory=list)

    @property
    def settled_events(self) -> int:
        # Every event ends as exactly one result, or as a dead letter written by the worker.
        return self.results_ok + self.results_error + self.dead_letters_from_events


class _Observer:
    def __init__(self, settings: Settings, codec: AvroCodec) -> None:
        self._codec = codec
        self._settings = settings
        self._consumer = Consumer(
            {
                **settings.kafka.client_config(),
                "group.id": f"{settings.topics.prefix}-demo-observer",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": False,
            }
        )
        self._consumer.assign(
            [
                *[
                    TopicPartition(settings.topics.results, p)
                    for p in range(settings.topics.results_partitions)
                ],
                TopicPartition(settings.topics.dead_letters, 0),
            ]
        )
        self.tally = _Tally()

    def poll(self, timeout: float) -> None:
        for message in self._consumer.consume(500, timeout=timeout):
            if message.error() is not None:
                continue
            name, record = self._codec.decode(message.value() or b"")
            if name == RESULT:
                ok = record["status_severity"] != "Error"
                if ok:
                    self.tally.results_ok += 1
                else:
                    self.tally.results_error += 1
            elif name == DEAD_LETTER:
                self.tally.dead_letters += 1
                self.tally.codes[record["code"]] = self.tally.codes.get(record["code"], 0) + 1
                if len(self.tally.letters) < _LETTERS_SHOWN:
                    self.tally.letters.append(
                        {
                            "id": str(record["dead_letter_id"]),
                            "code": str(record["code"]),
                            "tenant": str(record["tenant_id"] or ""),
                            "reason": str(record["reason"]),
                        }
                    )
                if record["source_topic"] == self._settings.topics.events:
                    self.tally.dead_letters_from_events += 1

    def close(self) -> None:
        self._consumer.close()


class _WebConnectorLoop(threading.Thread):
    """A Web Connector polling its gateway, as QBWC does on its schedule (faster here)."""

    def __init__(self, connector: SandboxWebConnector, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.connector = connector
        self.interval_s = interval_s
        self.stop_event = threading.Event()
        self.runs = 0
        self.failure: str | None = None

    def run(self) -> None:
        while not self.stop_event.is_set():
            try:
                report = self.connector.run_once()
            except Exception as exc:  # shown in the summary, never swallowed
                self.failure = f"{type(exc).__name__}: {exc}"
                report = None
            self.runs += 1
            if report is None or report.authenticate in {"none", "busy"}:
                self.stop_event.wait(self.interval_s)


@contextmanager
def _broker(settings: Settings, data_dir: Path) -> Iterator[BrokerInfo]:
    if settings.kafka.bootstrap_servers:
        with running_broker("external", bootstrap_servers=settings.kafka.bootstrap_servers) as b:
            yield b
    else:
        with running_broker("tansu", data_dir=data_dir / "broker") as b:
            yield b


def run_demo(
    base: Settings,
    *,
    customers_per_tenant: int = 4,
    timeout_s: float = 180.0,
    keep: bool = False,
    console: Console | None = None,
    show_progress: bool = False,
) -> dict[str, Any]:
    console = console or Console(stderr=True, quiet=True)
    started = time.monotonic()
    deadline = started + timeout_s
    run_id = uuid.uuid4().hex[:8]
    work = (base.data_dir / "demo" / run_id).resolve()
    work.mkdir(parents=True, exist_ok=True)
    settings = base.model_copy(deep=True)
    settings.data_dir = work
    settings.topics.prefix = f"{base.topics.prefix}-demo-{run_id}"
    settings.worker.app_id = f"qbsync-demo-{run_id}"
    settings.worker.web_port = free_port()
    settings.gateway.port = free_port()
    settings.gateway.host = "127.0.0.1"
    if not base.database.url.get_secret_value():
        settings.database.url = type(settings.database.url)(f"sqlite:///{work / 'qbsync.db'}")
    codec = codec_from_settings(settings)
    try:
        with ExitStack() as stack:
            console.print("starting the broker ...")
            broker = stack.enter_context(_broker(settings, work))
            use_broker(settings, broker)
            console.print(f"broker: {broker.describe()}")
            upgrade(settings.database_url)
            prepare_topics(settings)
            store = Store(settings.database_url)
            stack.callback(store.close)

            tenants = {
                "acme-field": "Shared Co",
                "acme-build": "Shared Co",
                "solo-hvac": "Solo HVAC",
            }
            profiles: dict[str, Any] = {}
            for _tenant_id, company in tenants.items():
                if company not in profiles:
                    served = [t for t, c in tenants.items() if c == company]
                    profiles[company] = create_profile(
                        store, name=f"{company} {run_id}", tenants=served
                    )
            sandbox = QboSandbox()
            online = sandbox.add_company(QBO_REALM)
            _use_qbo_sandbox(settings, stack.enter_context(sandbox.serve()), sandbox)
            qbo_profile = create_company(store, name=f"Online Co {run_id}", tenants=[QBO_TENANT])

            services = stack.enter_context(running_services(settings, work / "logs", qbo=True))
            url = services.url
            console.print(f"gateway: {url}/qbwc (WSDL at {url}/qbwc?wsdl)")
            _connect_to_quickbooks(settings, store, sandbox, qbo_profile)
            console.print(
                f"QuickBooks Online company {QBO_REALM} connected through"
                f" {services.qbo_url}/qbo/callback"
            )

            companies: dict[str, CompanyFile] = {}  # profile id -> its company file
            loops: list[_WebConnectorLoop] = []
            for company, created in profiles.items():
                # Every request is checked against Intuit's XSD when the reference is here.
                file = CompanyFile(
                    work / "companies" / f"{company}.db",
                    company_name=company,
                    validate_with=find_reference(),
                )
                companies[created.profile.id] = file
                stack.callback(file.close)
                connector = SandboxWebConnector(
                    HttpTransport(f"{url}/qbwc"),
                    username=created.profile.username,
                    password=created.password,
                    company=file,
                )
                loops.append(_WebConnectorLoop(connector, interval_s=0.2))
            for loop in loops:
                loop.start()
                stack.callback(loop.join, 10)
                stack.callback(loop.stop_event.set)

            observer = _Observer(settings, codec)
            stack.callback(observer.close)
            producer = RecordProducer(settings.kafka.client_config())
            stack.callback(producer.close)

            adds = [
                (tenant_id, f"C-{ti}-{i}", _sample_customer(ti, i))
                for ti, tenant_id in enumerate([*tenants, QBO_TENANT])
                for i in range(customers_per_tenant)
            ]
            published = producer.send_all(
                [
                    (
                        settings.topics.events,
                        tenant_id.encode(),
                        codec.encode(CUSTOMER_EVENT, customer_event(tenant_id, eid, customer)),
                    )
                    for tenant_id, eid, customer in adds
                ]
                + [(settings.topics.events, b"acme-field", MALFORMED)]
            )
            progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total}"),
                TimeElapsedColumn(),
                console=console,
                disable=not show_progress,
                transient=True,
            )
            with progress:
                task = progress.add_task("creating customers", total=published)
                _await(
                    lambda: (
                        observer.tally.settled_events >= published
                        and len(store.mappings()) >= observer.tally.results_ok
                    ),
                    observer,
                    progress,
                    task,
                    deadline,
                    services,
                )
                updates = [
                    (t, eid, {**c, "email": f"updated-{eid.lower()}@example.com"})
                    for t, eid, c in adds[::customers_per_tenant]
                ]
                published += producer.send_all(
                    [
                        (
                            settings.topics.events,
                            tenant_id.encode(),
                            codec.encode(CUSTOMER_EVENT, customer_event(tenant_id, eid, customer)),
                        )
                        for tenant_id, eid, customer in updates
                    ]
                )
                progress.update(task, description="editing customers", total=published)
                settled = _await(
                    lambda: observer.tally.settled_events >= published,
                    observer,
                    progress,
                    task,
                    deadline,
                    services,
                )
            tally = observer.tally
            desktop: list[dict[str, Any]] = [
                {
                    "kind": "desktop",
                    "name": name,
                    "tenants": len(store.tenants(created.profile.id)),
                    "records": len(companies[created.profile.id].customers()),
                    "duplicates": _unmapped_records(
                        store, {created.profile.id: companies[created.profile.id]}
                    ),
                }
                for name, created in profiles.items()
            ]
            qbo: dict[str, Any] = {
                "kind": "qbo",
                "name": f"Online Co (realm {QBO_REALM})",
                "tenants": len(store.tenants(qbo_profile)),
                "records": len(online.all("Customer")),
                "duplicates": _unmapped_qbo(store, qbo_profile, online),
                "api_requests": len(sandbox.requests),
                "throttled": sum(1 for r in sandbox.requests if r[3] == 429),
                "connected_via": f"{services.qbo_url}/qbo/callback",
            }
            records = sum(c["records"] for c in desktop) + qbo["records"]
            commands = _commands_sent(
                settings, [p.profile.id for p in profiles.values()] + [qbo_profile]
            )
            summary = {
                "broker": {"kind": broker.kind, "version": broker.version},
                "events_published": published,
                "commands_sent": commands,
                "results_ok": tally.results_ok,
                "results_error": tally.results_error,
                "dead_letters": tally.dead_letters,
                "dead_letter_codes": dict(sorted(tally.codes.items())),
                "dead_letter_list": tally.letters,
                "records_in_quickbooks": records,
                "duplicates_in_quickbooks": sum(c["duplicates"] for c in desktop)
                + qbo["duplicates"],
                "tenants": len(tenants) + 1,
                "company_files": len(profiles),
                "qbo_companies": 1,
                # Side by side: every Desktop file and the QBO company, with its own numbers.
                "companies": [*desktop, qbo],
                "qbo": qbo,
                "web_connector_runs": sum(loop.runs for loop in loops),
                "settled": settled,
                "elapsed_s": round(time.monotonic() - started, 2),
                "topic_prefix": settings.topics.prefix,
                "kept": str(work) if keep else None,
            }
            failures = [loop.failure for loop in loops if loop.failure]
            if failures:
                summary["web_connector_failures"] = failures
            return summary
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def _await(
    done: Any,
    observer: _Observer,
    progress: Progress,
    task: Any,
    deadline: float,
    services: Services,
) -> bool:
    """Poll the result topics until ``done()``; False at the deadline or if a child died."""
    while time.monotonic() < deadline:
        observer.poll(0.5)
        progress.update(task, completed=observer.tally.settled_events)
        if done():
            return True
        services.check_alive()
    return False


def _use_qbo_sandbox(settings: Settings, url: str, sandbox: QboSandbox) -> None:
    """Point ``settings.qbo`` at the served QBO sandbox, as an operator sets QBSYNC_QBO_*
    for Intuit; the sender serves its callback on a free loopback port."""
    qbo = settings.qbo
    qbo.api_base_url = url
    qbo.authorize_url = f"{url}/connect/oauth2"
    qbo.token_url = f"{url}/oauth2/v1/tokens/bearer"
    qbo.revoke_url = f"{url}/oauth2/v1/tokens/revoke"
    qbo.client_id = sandbox.oauth.client_id
    qbo.client_secret = SecretStr(sandbox.oauth.client_secret)
    qbo.listen = f"127.0.0.1:{free_port()}"
    qbo.redirect_uri = f"http://{qbo.listen}/qbo/callback"
    qbo.token_keys = SecretStr(Fernet.generate_key().decode())
    qbo.read_entities = ""  # the demo shows the way in; reading back: docs/qbo.md
    qbo.retry_base_s = 0.2
    qbo.drain_lease_s = 10.0


def _connect_to_quickbooks(
    settings: Settings, store: Store, sandbox: QboSandbox, profile_id: str
) -> None:
    """ "Connect to QuickBooks": the administrator opens the authorize URL, grants access
    (the sandbox's consent), and Intuit redirects the browser to the sender's callback."""
    connections = QboConnections(store.engine, TokenCipher(settings.qbo.token_keys))
    state = connections.begin_connect(profile_id)
    callback = sandbox.consent(authorize_url(oauth_app(settings), state), QBO_REALM)
    answer = httpx2.get(callback, timeout=30)
    if answer.status_code != 200:
        raise WorkFailed(f"the QBO sender's callback answered {answer.status_code}")


def _unmapped_qbo(store: Store, profile_id: str, company: Company) -> int:
    """Customers in the QBO company that no source record maps to (a write made twice)."""
    mapped = {m.qb_id for t in store.tenants(profile_id) for m in store.mappings(t.id)}
    return sum(1 for c in company.all("Customer") if c["Id"] not in mapped)


def _unmapped_records(store: Store, companies: dict[str, CompanyFile]) -> int:
    """Records in QuickBooks that no source record maps to: what a retry that added twice
    would leave behind. ListIDs are unique only within one company file."""
    unmapped = 0
    for profile_id, company in companies.items():
        mapped = {m.qb_id for t in store.tenants(profile_id) for m in store.mappings(t.id)}
        unmapped += sum(1 for c in company.customers() if c["ListID"] not in mapped)
    return unmapped


def _commands_sent(settings: Settings, profile_ids: list[str]) -> int:
    """Count the records on the command topics by reading them (watermarks are not exact on
    every broker the demo runs on)."""
    consumer = Consumer(
        {
            **settings.kafka.client_config(),
            "group.id": f"{settings.topics.prefix}-demo-count",
            "enable.auto.commit": False,
        }
    )
    try:
        consumer.assign([TopicPartition(settings.topics.commands(p), 0, 0) for p in profile_ids])
        total = 0
        while batch := consumer.consume(1000, timeout=1.0):
            total += sum(1 for message in batch if message.error() is None)
        return total
    finally:
        consumer.close()


def explain(summary: dict[str, Any]) -> list[str]:
    """What the demo did, in words: the outcome, the deliberate dead letter and where to see
    it, the next three commands to try, and the kept folder."""
    lines = [
        f"What happened: {summary['events_published']} events for {summary['tenants']} tenants"
        f" became {summary['commands_sent']} commands for {summary['company_files']} Desktop"
        f" company files (qbXML) and {summary.get('qbo_companies', 0)} QuickBooks Online"
        f" company (REST); QuickBooks (the sandboxes) accepted {summary['results_ok']} and refused"
        f" {summary['results_error']}. {summary['records_in_quickbooks']} customers are in"
        f" QuickBooks, {summary['duplicates_in_quickbooks']} of them twice.",
    ]
    qbo = summary.get("qbo")
    if qbo:
        lines.append(
            f"QuickBooks Online: {qbo['name']} was connected through the sender's OAuth"
            f" callback ({qbo['connected_via']}); it holds {qbo['records']} customers after"
            f" {qbo['api_requests']} API requests ({qbo['throttled']} throttled)."
        )
    if not summary["settled"]:
        lines.append(
            "Not everything settled before --timeout: the logs of the worker and gateway are"
            " in the kept folder (run again with --keep)."
        )
    letters = summary.get("dead_letter_list") or []
    if letters:
        first = letters[0]
        external = summary["broker"]["kind"] == "external"
        lines.append(
            f"{summary['dead_letters']} dead letter(s). The demo published one malformed event"
            f" ({MALFORMED.decode()!r}, tenant acme-field) on purpose: the worker sets what it"
            " cannot read aside with a reason, and goes on with the tenant's other records."
        )
        for letter in letters:
            lines.append(f"  {letter['id'][:8]} {letter['code']}: {letter['reason']}")
        if external:
            lines.append(
                f"  look at it: QBSYNC_TOPIC_PREFIX={summary['topic_prefix']}"
                f" qbsync dlq show {first['id'][:8]}"
            )
        else:
            lines.append(
                "  the embedded broker kept it in memory only; under your own `qbsync run`,"
                " `qbsync dlq list` and `qbsync dlq show ID` show dead letters like this one"
            )
    lines += [
        "Next, try (`source .venv/bin/activate` first in a fresh clone):",
        "  1. qbsync run    (one shell: broker, worker and gateway)",
        "  2. qbsync profile create --name 'My Company' --tenant acme-hvac    (another shell)",
        "  3. qbsync publish --tenant acme-hvac --type customer.upserted"
        " --file schemas/avro/examples/customer.upserted.json",
        "  then `qbsync sandbox run --username ... --password ... --until-idle` plays"
        " QuickBooks; docs/connect.md connects a real one.",
    ]
    if summary.get("kept"):
        lines.append(
            f"Kept in {summary['kept']}: the store (qbsync.db), the company files"
            " (companies/*.db, `qbsync sandbox show --file ...`) and the logs."
        )
    return lines
