"""What ``run``, ``demo``, the tests and the benchmarks share to bring the pipeline up."""

from __future__ import annotations

import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import SecretStr

from connectors.kafka import ConfigChange, TopicSpec
from connectors.kafka._kraft import java_missing, kraft_node, probe
from core.errors import ConfigurationError, WorkFailed
from core.ports import free_loopback_ports
from core.processes import ChildProcess, Supervised, child_process, qbsync_argv, spawn
from core.settings import QboSettings, Settings
from qbsync._local_run import RUN_FILE, LocalRun, remove_run_file, write_run_file
from qbsync.brokers import BrokerInfo

if TYPE_CHECKING:
    from connectors.store import Store

__all__ = [
    "RUN_FILE",
    "Services",
    "child_env",
    "free_port",
    "migrate_local_store",
    "open_cli_store",
    "prepare_topics",
    "reconcile_command_topics",
    "require_free_port",
    "running_services",
    "serve",
    "topic_specs",
    "use_broker",
    "wait_healthy",
]

# Where ``qbsync run`` serves the QBO sender's callback, webhooks and /healthz when
# QBSYNC_QBO_LISTEN is empty (QBSYNC_QBO_REDIRECT_URI must point at its /qbo/callback).
QBO_LISTEN = "127.0.0.1:8091"


def migrate_local_store(settings: Settings) -> None:
    """The one-machine commands (`run`, `demo`) migrate their own SQLite file in the data
    dir; a configured database (QBSYNC_DATABASE_URL) is only checked: `qbsync db upgrade`
    (the chart's migration Job) migrates it, never a command that happens to start."""
    from connectors.store import check_schema, upgrade

    if settings.database.url.get_secret_value():
        check_schema(settings.database_url)
    else:
        upgrade(settings.database_url)


def open_cli_store(settings: Settings | None = None) -> AbstractContextManager[Store]:
    """The store a CLI command works on, by the policy of :func:`migrate_local_store`."""
    from connectors.store import open_store

    chosen = settings or Settings()
    local = not chosen.database.url.get_secret_value()
    return open_store(chosen.database_url, migrate=local)


def free_port() -> int:
    """A loopback port nobody holds right now, outside the ephemeral range (core.ports)."""
    (port,) = free_loopback_ports(1)
    return port


def require_free_port(host: str, port: int, setting: str) -> None:
    """One clear line naming ``setting`` when ``port`` is taken on ``host``."""
    with socket.socket() as sock:
        # As the servers bind (waitress and aiohttp set SO_REUSEADDR): a port whose last
        # connections linger in TIME_WAIT after a restart is free for them, so for us too.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise ConfigurationError(
                f"port {port} on {host} is not free ({exc.strerror}); set {setting} to a free port"
            ) from None


def use_broker(settings: Settings, broker: BrokerInfo) -> None:
    """Point ``settings`` at ``broker``, with what its kind needs."""
    settings.kafka.bootstrap_servers = broker.bootstrap_servers
    if broker.kind == "tansu":
        # Tansu 0.6: high watermarks move per batch, and a group's first join waits half
        # the session timeout (see connectors.kafka._command_queue and the broker harness).
        settings.kafka.exact_watermarks = False
        settings.worker.session_timeout_s = 6.0


def child_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process see the same settings as this one."""
    return {
        "QBSYNC_DATA_DIR": str(settings.data_dir),
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
        "QBSYNC_DATABASE_URL": settings.database_url,
        "QBSYNC_TOPIC_PREFIX": settings.topics.prefix,
        "QBSYNC_GATEWAY_HOST": settings.gateway.host,
        "QBSYNC_GATEWAY_PORT": str(settings.gateway.port),
        "QBSYNC_GATEWAY_BATCH_SIZE": str(settings.gateway.batch_size),
        "QBSYNC_GATEWAY_BATCH_MAX_BYTES": str(settings.gateway.batch_max_bytes),
        "QBSYNC_GATEWAY_THREADS": str(settings.gateway.threads),
        "QBSYNC_GATEWAY_PROCESSES": str(settings.gateway.processes),
        "QBSYNC_GATEWAY_SESSION_TTL_S": str(settings.gateway.session_ttl_s),
        "QBSYNC_GATEWAY_IMPORTS": settings.gateway.imports,
        "QBSYNC_GATEWAY_IMPORT_INTERVAL_S": str(settings.gateway.import_interval_s),
        "QBSYNC_GATEWAY_IMPORT_PAGE_SIZE": str(settings.gateway.import_page_size),
        "QBSYNC_GATEWAY_WORK_INDEX_S": str(settings.gateway.work_index_s),
        "QBSYNC_GATEWAY_PROFILE_CACHE_S": str(settings.gateway.profile_cache_s),
        "QBSYNC_GATEWAY_SOAP_PATH": settings.gateway.soap_path,
        "QBSYNC_KAFKA_EXACT_WATERMARKS": str(settings.kafka.exact_watermarks).lower(),
        "QBSYNC_TOPIC_EVENTS_PARTITIONS": str(settings.topics.events_partitions),
        "QBSYNC_TOPIC_RESULTS_PARTITIONS": str(settings.topics.results_partitions),
        # Every worker setting (retry backoff, parking limits ...): none is a secret.
        **{
            f"QBSYNC_WORKER_{name.upper()}": str(value)
            for name, value in settings.worker.model_dump().items()
        },
        **_qbo_env(settings.qbo),
    }


def _qbo_env(qbo: QboSettings) -> dict[str, str]:
    """Every ``QBSYNC_QBO_*`` setting for the sender child (secrets too: a child's
    environment, like QBSYNC_DATABASE_URL above, never a log line)."""
    env: dict[str, str] = {}
    for name, value in qbo:
        text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        env[f"QBSYNC_QBO_{name.upper()}"] = text
    return env


def topic_specs(settings: Settings) -> dict[str, TopicSpec]:
    """Every shared topic and the worker's table changelog, as qbsync creates them
    (docs/architecture.md, "Topics and keys"); command topics: ``TopicSettings.command_config``."""
    topics = settings.topics
    events, results = topics.events_partitions, topics.results_partitions

    def spec(partitions: int, retention_ms: int) -> TopicSpec:
        return TopicSpec(partitions, topics.replication_factor, topics.config(retention_ms))

    return {
        topics.events: spec(events, topics.events_retention_ms),
        topics.results: spec(results, topics.results_retention_ms),
        topics.status: spec(results, topics.status_retention_ms),
        # Keyed by tenant like the events: the worker that parks a tenant's events reads
        # its imports (a pending app change is a conflict).
        topics.imports: spec(events, topics.imports_retention_ms),
        topics.changes: spec(results, topics.changes_retention_ms),
        topics.dead_letters: spec(1, topics.dead_letters_retention_ms),
        # Faust's table changelog, created here so it gets the replication asked for.
        topics.changelog(settings.worker.app_id): TopicSpec(
            events, topics.changelog_replicas, topics.config(None)
        ),
    }


def prepare_topics(settings: Settings, *, command_topics: bool = True) -> list[ConfigChange]:
    """Create the shared topics with their configs, and set back every config an existing
    topic drifted from (the command topics' too unless ``command_topics`` is False: see
    :func:`reconcile_command_topics`); returns (and logs) what changed. A company file's
    command topic is created when the file is provisioned (``qbsync profile create``), or
    by the worker when it first meets the file."""
    from connectors.kafka import ensure_topics, reconcile_topics

    client = settings.kafka.client_config()
    specs = topic_specs(settings)
    ensure_topics(client, specs)
    wanted = {name: dict(spec.config or {}) for name, spec in specs.items()}
    changes = reconcile_topics(client, wanted)
    if command_topics:
        changes += reconcile_command_topics(settings)
    return changes


def reconcile_command_topics(settings: Settings, *, timeout: float = 30.0) -> list[ConfigChange]:
    """Set back every config an existing company file's command topic drifted from (one
    DescribeConfigs for all of them: thousands of topics take a while, so the worker runs
    it beside its start rather than before it); returns (and logs) what changed."""
    from confluent_kafka.admin import AdminClient

    from connectors.kafka import reconcile_topics

    client = settings.kafka.client_config()
    prefix = settings.topics.commands("")
    existing = AdminClient(dict(client)).list_topics(timeout=30).topics
    command = settings.topics.command_config()
    wanted = {name: command for name in existing if name.startswith(prefix)}
    return reconcile_topics(client, wanted, timeout=timeout)


@dataclass(frozen=True)
class Services:
    worker: ChildProcess
    gateway: ChildProcess
    url: str  # the gateway's base URL; SOAP at ``url + "/qbwc"``
    console: ChildProcess | None = None
    console_url: str = ""  # the support console's pages, when it runs
    qbo: ChildProcess | None = None  # the QBO sender, when it runs
    qbo_url: str = ""  # its callback at ``qbo_url + "/qbo/callback"``

    def check_alive(self) -> None:
        for child in (self.worker, self.gateway, self.console, self.qbo):
            if child is None:
                continue
            if not child.alive():
                raise WorkFailed(_exited(child, "exited"))


@contextmanager
def running_services(
    settings: Settings,
    log_dir: Path,
    *,
    start_timeout_s: float = 60.0,
    console: bool = False,
    qbo: bool = False,
) -> Iterator[Services]:
    """The worker and the gateway (and, with ``console``, the support console; with ``qbo``,
    the QBO sender serving on ``settings.qbo.listen``) as child processes; each answers
    when this yields. All get SIGTERM (then SIGKILL) on exit."""
    env = child_env(settings)
    with ExitStack() as stack:
        worker = stack.enter_context(child_process("worker", ["worker"], env=env, log_dir=log_dir))
        gateway = stack.enter_context(
            child_process("gateway", ["gateway"], env=env, log_dir=log_dir)
        )
        url = f"http://{settings.gateway.host}:{settings.gateway.port}"
        pages = None
        console_url = ""
        if console:
            pages = stack.enter_context(
                child_process("console", ["console"], env=env, log_dir=log_dir)
            )
            origin = f"http://{settings.console.host}:{settings.console.port}"
            console_url = origin + settings.console.path_prefix
        sender = None
        qbo_url = ""
        if qbo:
            sender = stack.enter_context(
                child_process("qbo", ["qbo", "send"], env=env, log_dir=log_dir)
            )
            qbo_url = f"http://{settings.qbo.listen}"
        wait_healthy(gateway, f"{url}/healthz", start_timeout_s)
        if pages is not None:
            wait_healthy(pages, f"{origin}/healthz", start_timeout_s)
        if sender is not None:
            wait_healthy(sender, f"{qbo_url}/healthz", start_timeout_s)
        yield Services(
            worker=worker,
            gateway=gateway,
            url=url,
            console=pages,
            console_url=console_url,
            qbo=sender,
            qbo_url=qbo_url,
        )


def wait_healthy(child: ChildProcess, url: str, timeout_s: float = 60.0) -> None:
    """Until ``url`` answers 200; fails early, with the child's log, if the child exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise WorkFailed(_exited(child, "exited during start-up"))
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling a process that is still starting
    raise WorkFailed(_exited(child, f"did not answer {url} in time"))


def _exited(child: ChildProcess, what: str) -> str:
    """What happened with the child's exit code and last log line, its first error (the
    cause, usually, where the last line is the shutdown it led to), and where its log is."""
    last = child.log_tail(1).strip()
    code = child.process.poll()
    said = f"the {child.name} {what}" + ("" if code is None else f" (exit code {code})")
    said += f": {last or 'no output'}"
    first = child.first_error()
    if first and first.strip() != last:
        said += "\n  its first error:\n" + "\n".join(f"    {line}" for line in first.splitlines())
    return f"{said}\n  its log: {child.log_path}"


def _local_kafka(settings: Settings, say: Callable[[str], None]) -> Supervised:
    """Apache Kafka in KRaft mode with its data under ``<data dir>/kafka``, supervised;
    ``settings`` pointed at it once it answers."""
    reason = java_missing()
    if reason is not None:
        raise ConfigurationError(
            f"qbsync run starts a local Apache Kafka when no broker is configured, but {reason}:"
            " install Java 17 or newer (and Maven, once, to fetch the Kafka jars), or set"
            " QBSYNC_KAFKA_BOOTSTRAP_SERVERS to your broker"
        )
    # The same ports as last time when free: a child restarted meanwhile finds it again.
    node = kraft_node(
        settings.data_dir / "kafka",
        keep_ports=True,
        # Chosen for the gateway, the worker and the console, which bind them only later.
        avoid_ports=frozenset(
            {settings.gateway.port, settings.worker.web_port, settings.console.port}
        ),
    )
    broker = Supervised(
        "broker",
        lambda: spawn("broker", node.argv, env={}, log_path=node.log_path, cwd=node.work),
    )
    deadline = time.monotonic() + 120
    while (why := probe(node.bootstrap_servers, 1.0)) is not None:
        if not broker.child.alive() or time.monotonic() > deadline:
            broker.stop()
            raise WorkFailed(
                f"the local Apache Kafka did not start ({why}); its log: {node.broker_log}"
            )
    settings.kafka.bootstrap_servers = node.bootstrap_servers
    say(
        f"started Apache Kafka {node.version} (KRaft) at {node.bootstrap_servers};"
        f" its data in {node.work} (kept across restarts)"
    )
    return broker


def serve(settings: Settings, stop: threading.Event, say: Callable[[str], None]) -> None:
    """``qbsync run`` until ``stop`` is set: the broker (a local Apache Kafka when none is
    configured), the worker and the gateway (the console when enabled, the QBO sender when
    QuickBooks Online is configured), each restarted with backoff when it exits
    (:class:`~core.processes.Supervised`), all stopped in reverse order at the end."""

    children: list[Supervised] = []
    run_file: Path | None = None
    try:
        if not settings.kafka.bootstrap_servers:
            children.append(_local_kafka(settings, say))
        migrate_local_store(settings)
        prepare_topics(settings)
        if settings.qbo.configured and not settings.qbo.listen:
            settings.qbo.listen = QBO_LISTEN
        env = child_env(settings)
        logs = settings.data_dir / "logs"
        commands = {"worker": ["worker"], "gateway": ["gateway"]}
        if settings.console.enabled:
            commands["console"] = ["console"]
        if settings.qbo.configured:
            commands["qbo"] = ["qbo", "send"]
        for name, args in commands.items():
            argv = qbsync_argv(args)
            log_path = logs / f"{name}.log"
            children.append(
                Supervised(name, partial(spawn, name, argv, env=env, log_path=log_path))
            )
        supervised = {child.name: child for child in children}
        url = f"http://{settings.gateway.host}:{settings.gateway.port}"
        wait_healthy(supervised["gateway"].child, f"{url}/healthz")
        pages = ""
        if "console" in supervised:
            origin = f"http://{settings.console.host}:{settings.console.port}"
            wait_healthy(supervised["console"].child, f"{origin}/healthz")
            pages = f"; console on {origin}{settings.console.path_prefix}/"
        if "qbo" in supervised:
            qbo_origin = f"http://{settings.qbo.listen}"
            wait_healthy(supervised["qbo"].child, f"{qbo_origin}/healthz")
            pages += f"; QBO callback on {qbo_origin}/qbo/callback"

        def record() -> Path:
            return write_run_file(
                settings.data_dir,
                LocalRun(
                    bootstrap_servers=settings.kafka.bootstrap_servers,
                    gateway_url=url,
                    worker_web_port=settings.worker.web_port,
                    pid=os.getpid(),
                    children={child.name: child.pid for child in children},
                ),
            )

        run_file = record()
        say(f"gateway on {url}/qbwc{pages}; broker at {settings.kafka.bootstrap_servers}")
        say(
            f"other shells in this directory find both through {run_file}; logs in {logs};"
            " a child that exits is restarted; Ctrl-C or SIGTERM stops everything"
        )
        while not stop.wait(1.0):
            restarted = [child.check() for child in children]  # every child, each time
            if any(restarted):
                record()
    finally:
        for child in reversed(children):
            child.stop()
        if run_file is not None:
            remove_run_file(settings.data_dir, os.getpid())
