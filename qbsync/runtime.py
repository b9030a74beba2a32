"""What ``run``, ``demo``, the tests and the benchmarks share to bring the pipeline up."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka import ConfigChange, TopicSpec
from connectors.kafka.brokers import BrokerInfo
from qbsync.errors import QbsyncError
from qbsync.processes import ChildProcess, child_process
from qbsync.settings import Settings

__all__ = [
    "Services",
    "child_env",
    "free_port",
    "prepare_topics",
    "running_services",
    "topic_specs",
    "use_broker",
    "wait_healthy",
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
        "QBSYNC_GATEWAY_SESSION_TTL_S": str(settings.gateway.session_ttl_s),
        "QBSYNC_GATEWAY_IMPORTS": settings.gateway.imports,
        "QBSYNC_GATEWAY_IMPORT_INTERVAL_S": str(settings.gateway.import_interval_s),
        "QBSYNC_GATEWAY_IMPORT_PAGE_SIZE": str(settings.gateway.import_page_size),
        "QBSYNC_KAFKA_EXACT_WATERMARKS": str(settings.kafka.exact_watermarks).lower(),
        "QBSYNC_TOPIC_EVENTS_PARTITIONS": str(settings.topics.events_partitions),
        "QBSYNC_TOPIC_RESULTS_PARTITIONS": str(settings.topics.results_partitions),
        # Every worker setting (retry backoff, parking limits ...): none is a secret.
        **{
            f"QBSYNC_WORKER_{name.upper()}": str(value)
            for name, value in settings.worker.model_dump().items()
        },
    }


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


def prepare_topics(settings: Settings) -> list[ConfigChange]:
    """Create the shared topics with their configs, and set back every config an existing
    topic (command topics included) drifted from; returns (and logs) what changed.
    Per-file command topics are created on first use, by the worker."""
    from confluent_kafka.admin import AdminClient

    from connectors.kafka import ensure_topics, reconcile_topics

    client = settings.kafka.client_config()
    specs = topic_specs(settings)
    ensure_topics(client, specs)
    wanted = {name: dict(spec.config or {}) for name, spec in specs.items()}
    prefix = settings.topics.commands("")
    existing = AdminClient(dict(client)).list_topics(timeout=30).topics
    command = settings.topics.command_config()
    wanted.update({name: command for name in existing if name.startswith(prefix)})
    return reconcile_topics(client, wanted)


@dataclass(frozen=True)
class Services:
    worker: ChildProcess
    gateway: ChildProcess
    url: str  # the gateway's base URL; SOAP at ``url + "/qbwc"``

    def check_alive(self) -> None:
        for child in (self.worker, self.gateway):
            if not child.alive():
                raise QbsyncError(f"{child.name} exited:\n{child.log_tail()}")


@contextmanager
def running_services(
    settings: Settings, log_dir: Path, *, start_timeout_s: float = 60.0
) -> Iterator[Services]:
    """The worker and the gateway as child processes; the gateway answers when this yields.
    Both get SIGTERM (then SIGKILL) on exit."""
    env = child_env(settings)
    with ExitStack() as stack:
        worker = stack.enter_context(child_process("worker", ["worker"], env=env, log_dir=log_dir))
        gateway = stack.enter_context(
            child_process("gateway", ["gateway"], env=env, log_dir=log_dir)
        )
        url = f"http://{settings.gateway.host}:{settings.gateway.port}"
        wait_healthy(gateway, f"{url}/healthz", start_timeout_s)
        yield Services(worker=worker, gateway=gateway, url=url)


def wait_healthy(child: ChildProcess, url: str, timeout_s: float = 60.0) -> None:
    """Until ``url`` answers 200; fails early, with the child's log, if the child exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise QbsyncError(f"{child.name} exited during start-up:\n{child.log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)  # polling a process that is still starting
    raise QbsyncError(f"{child.name} did not answer {url} in time:\n{child.log_tail()}")
