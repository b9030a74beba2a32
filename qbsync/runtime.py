"""What ``run``, ``demo``, the tests and the benchmarks share to bring the pipeline up."""

from __future__ import annotations

import socket
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from connectors.kafka.brokers import BrokerInfo
from qbsync.errors import ConfigurationError, WorkFailed
from qbsync.processes import ChildProcess, child_process
from qbsync.settings import Settings

__all__ = [
    "Services",
    "child_env",
    "free_port",
    "prepare_topics",
    "require_free_port",
    "running_services",
    "use_broker",
    "wait_healthy",
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_free_port(host: str, port: int, setting: str) -> None:
    """One clear line naming ``setting`` when ``port`` is taken on ``host``."""
    with socket.socket() as sock:
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


def prepare_topics(settings: Settings) -> None:
    """Create the shared topics; per-file command topics are created on first use."""
    from connectors.kafka import ensure_topics

    ensure_topics(
        settings.kafka.client_config(),
        {
            settings.topics.events: settings.topics.events_partitions,
            settings.topics.results: settings.topics.results_partitions,
            settings.topics.status: settings.topics.results_partitions,
            # Keyed by tenant like the events: the worker that parks a tenant's events
            # reads its imports (a pending app change is a conflict).
            settings.topics.imports: settings.topics.events_partitions,
            settings.topics.changes: settings.topics.results_partitions,
            settings.topics.dead_letters: 1,
        },
    )


@dataclass(frozen=True)
class Services:
    worker: ChildProcess
    gateway: ChildProcess
    url: str  # the gateway's base URL; SOAP at ``url + "/qbwc"``
    console: ChildProcess | None = None
    console_url: str = ""  # the support console's pages, when it runs

    def check_alive(self) -> None:
        for child in (self.worker, self.gateway, self.console):
            if child is None:
                continue
            if not child.alive():
                raise WorkFailed(_exited(child, "exited"))


@contextmanager
def running_services(
    settings: Settings, log_dir: Path, *, start_timeout_s: float = 60.0, console: bool = False
) -> Iterator[Services]:
    """The worker and the gateway (and, with ``console``, the support console) as child
    processes; each answers when this yields. All get SIGTERM (then SIGKILL) on exit."""
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
        wait_healthy(gateway, f"{url}/healthz", start_timeout_s)
        if pages is not None:
            wait_healthy(pages, f"{origin}/healthz", start_timeout_s)
        yield Services(
            worker=worker, gateway=gateway, url=url, console=pages, console_url=console_url
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
    """Two lines: what happened with the child's last log line, and where its log is."""
    last = child.log_tail(1).strip()
    return f"the {child.name} {what}: {last or 'no output'}\n  its log: {child.log_path}"
