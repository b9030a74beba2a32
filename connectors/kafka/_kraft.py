"""Apache Kafka in KRaft mode (one combined broker/controller node) on the local JVM, from
the Maven Central jars of the version pinned in ``broker-pom.xml``: what ``qbsync run``
uses as its single-machine broker (data kept under the data dir) and the test harness
(:mod:`qbsync.brokers`) uses as its real broker.

The jars are fetched once with Maven into ``$QBSYNC_CACHE_DIR`` (else ``<repo>/.cache`` in
a checkout, else ``~/.cache/qbsync``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import defusedxml.ElementTree as SafeElementTree
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from core.errors import QbsyncError
from core.ports import free_loopback_ports

__all__ = [
    "BrokerUnavailable",
    "KraftNode",
    "java_missing",
    "kafka_version_from_pom",
    "kraft_node",
    "probe",
]

logger = logging.getLogger(__name__)

_ENV_CACHE: Final = "QBSYNC_CACHE_DIR"
_POM: Final = Path(__file__).with_name("broker-pom.xml")
_POM_NS: Final = "{http://maven.apache.org/POM/4.0.0}"
_REPO_ROOT: Final = Path(__file__).resolve().parents[2]
_LOG_TAIL_LINES: Final = 20
_SHORT_LIVED_JVM: Final = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")  # ~25% faster start
_KRAFT_DATA: Final = "kraft-data"  # the Kafka log (and metadata) directory inside the work dir
_PORTS: Final = "ports.json"  # the ports a kept work dir used last, taken again if free


class BrokerUnavailable(QbsyncError):
    """The requested (or every) broker kind cannot run here, or it did not come up.

    The message says which kind, and why (a missing tool, the address that did not answer,
    or the tail of the broker's log).
    """


def kafka_version_from_pom(pom: Path = _POM) -> str:
    """The Apache Kafka version pinned by ``<kafka.version>`` in ``broker-pom.xml``."""
    root = SafeElementTree.parse(pom).getroot()
    node = root.find(f"{_POM_NS}properties/{_POM_NS}kafka.version")
    if node is None or not (node.text or "").strip():
        raise BrokerUnavailable(f"{pom} has no <properties><kafka.version>")
    return str(node.text).strip()


def _probe(bootstrap: str, timeout: float) -> str | None:
    """``None`` when the cluster at ``bootstrap`` returns metadata with a broker, else why not."""
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "log_level": 0,  # "connection refused" while a broker boots is expected, not news
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 250,
        }
    )
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        return str(exc.args[0] if exc.args else exc)
    if not metadata.brokers:
        return "metadata lists no brokers"
    return None


def _cache_root() -> Path:
    """``$QBSYNC_CACHE_DIR``, else ``<repo>/.cache`` in a checkout, else ``~/.cache/qbsync``."""
    configured = os.environ.get(_ENV_CACHE, "").strip()
    if configured:
        return Path(configured).expanduser()
    if (_REPO_ROOT / "pyproject.toml").is_file():
        return _REPO_ROOT / ".cache"
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    return (Path(xdg) if xdg else Path.home() / ".cache") / "qbsync"


def _kafka_home() -> Path:
    return _cache_root() / f"kafka-{kafka_version_from_pom()}"


def _kafka_jars_cached() -> bool:
    return (_kafka_home() / ".complete").is_file()


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive ``flock`` on ``path``, held for the block (blocks other processes)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_kafka_jars() -> Path:
    """The directory of Kafka's runtime jars, fetching them with Maven on first use.

    Maven copies into a temporary sibling directory that is renamed into place, and a
    ``.complete`` marker is written last, so an interrupted fetch is never mistaken for a
    finished one; an ``flock`` makes concurrent first runs fetch once.
    """
    home = _kafka_home()
    libs = home / "libs"
    marker = home / ".complete"
    if marker.is_file():
        return libs
    home.mkdir(parents=True, exist_ok=True)
    with _file_lock(home / ".lock"):
        if marker.is_file():  # another process fetched them while we waited for the lock
            return libs
        mvn = shutil.which("mvn")
        if mvn is None:
            raise BrokerUnavailable("cannot fetch the Kafka jars: `mvn` is not on PATH")
        version = kafka_version_from_pom()
        logger.info(
            "fetching Apache Kafka %s jars from Maven Central (first run only) into %s ...",
            version,
            libs,
        )
        started = time.monotonic()
        staging = Path(tempfile.mkdtemp(prefix=".libs-", dir=home))
        try:
            result = subprocess.run(  # noqa: S603 - fixed argv, no shell
                [
                    mvn,
                    "-q",
                    "-B",
                    "-f",
                    str(_POM),
                    "dependency:copy-dependencies",
                    f"-DoutputDirectory={staging}",
                    "-DincludeScope=runtime",
                ],
                cwd=home,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            jars = sorted(staging.glob("*.jar"))
            if result.returncode != 0 or not jars:
                output = (result.stdout + result.stderr).strip().splitlines()
                raise BrokerUnavailable(
                    f"`mvn dependency:copy-dependencies` for Apache Kafka {version} failed "
                    f"(exit code {result.returncode}):\n" + "\n".join(output[-_LOG_TAIL_LINES:])
                )
            if libs.exists():  # left by a run that died between the rename and the marker
                shutil.rmtree(libs)
            staging.rename(libs)
            marker_tmp = home / ".complete.tmp"
            marker_tmp.write_text(f"kafka {version}: {len(jars)} jars\n", encoding="utf-8")
            os.replace(marker_tmp, marker)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "fetched %d Apache Kafka %s jars in %.0f s", len(jars), version, time.monotonic() - started
    )
    return libs


def _kafka_server_properties(work: Path, port: int, controller_port: int) -> str:
    broker = f"127.0.0.1:{port}"
    controller = f"127.0.0.1:{controller_port}"
    settings = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@{controller}",
        "listeners": f"PLAINTEXT://{broker},CONTROLLER://{controller}",
        "advertised.listeners": f"PLAINTEXT://{broker}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(work / _KRAFT_DATA),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",  # fewer partitions: the group coordinator loads faster
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def _kafka_log4j_properties(log_path: Path) -> str:
    return (
        "log4j.rootLogger=WARN, file\n"
        "log4j.logger.kafka.server.KafkaRaftServer=INFO\n"  # "Kafka Server started", shutdown
        "log4j.appender.file=org.apache.log4j.FileAppender\n"
        f"log4j.appender.file.File={log_path}\n"
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )


def _format_kraft_storage(java: str, classpath: str, properties: Path, work: Path) -> None:
    """Format the KRaft log directory with a fresh cluster id, unless a kept one already is."""
    if (work / _KRAFT_DATA / "meta.properties").is_file():
        logger.debug("reusing the formatted KRaft storage in %s", work / _KRAFT_DATA)
        return
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
    formatted = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [
            java,
            *_SHORT_LIVED_JVM,
            "-cp",
            classpath,
            "kafka.tools.StorageTool",
            "format",
            # One id in 64 starts with "-" (URL-safe base64), which argparse would take for
            # an option after a separate "-t": the broker then failed to start.
            f"--cluster-id={cluster_id}",
            "-c",
            str(properties),
        ],
        cwd=work,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if formatted.returncode != 0:
        output = (formatted.stdout + formatted.stderr).strip().splitlines()
        raise BrokerUnavailable(
            f"formatting the KRaft storage in {work} failed "
            f"(exit code {formatted.returncode}):\n" + "\n".join(output[-_LOG_TAIL_LINES:])
        )


def probe(bootstrap: str, timeout: float) -> str | None:
    """``None`` when the cluster at ``bootstrap`` returns metadata with a broker, else why not."""
    return _probe(bootstrap, timeout)


def java_missing() -> str | None:
    """Why Apache Kafka cannot run here (no ``java``, or no jars and no ``mvn`` to fetch
    them), or ``None`` when it can."""
    if shutil.which("java") is None:
        return "`java` is not on PATH"
    if not _kafka_jars_cached() and shutil.which("mvn") is None:
        return "`mvn` is not on PATH (needed once, to fetch the Kafka jars)"
    return None


@dataclass(frozen=True)
class KraftNode:
    """A prepared node: run ``argv`` in ``work``; it answers on ``bootstrap_servers``."""

    version: str
    argv: list[str]
    work: Path
    bootstrap_servers: str
    log_path: Path
    broker_log: Path


def _ports(work: Path, keep: bool, avoid: frozenset[int]) -> tuple[int, int]:
    """The broker and controller ports: those of the last run in ``work`` when ``keep``
    and they are free (clients restarted with the old address find the broker again),
    else new free ones; never one of ``avoid`` (ports chosen for others, not bound yet)."""
    path = work / _PORTS
    if keep:
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            last = json.loads(path.read_text(encoding="utf-8"))
            wanted = (int(last["port"]), int(last["controller_port"]))
            if all(_port_free(port) and port not in avoid for port in wanted):
                return wanted
    while True:
        port, controller_port = free_loopback_ports(2)
        if not {port, controller_port} & avoid:
            break
    path.write_text(
        json.dumps({"port": port, "controller_port": controller_port}), encoding="utf-8"
    )
    return port, controller_port


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def kraft_node(
    work: Path,
    *,
    keep_ports: bool = False,
    avoid_ports: frozenset[int] = frozenset(),
    max_heap: str = "1g",
) -> KraftNode:
    """Prepare a node whose configuration, logs and data live in ``work`` (created; its
    storage formatted once, then reused, so a restart keeps every message). ``keep_ports``:
    the ports of the last run in ``work`` when free; never one of ``avoid_ports``. Raises
    :class:`BrokerUnavailable` naming what is missing."""
    java = shutil.which("java")
    if java is None:
        raise BrokerUnavailable("cannot start Apache Kafka: `java` is not on PATH")
    version = kafka_version_from_pom()
    classpath = str(_ensure_kafka_jars() / "*")
    work.mkdir(parents=True, exist_ok=True)
    work = work.resolve()
    port, controller_port = _ports(work, keep_ports, avoid_ports)
    properties = work / "server.properties"
    properties.write_text(_kafka_server_properties(work, port, controller_port), encoding="utf-8")
    broker_log = work / "broker.log"
    log4j = work / "log4j.properties"
    log4j.write_text(_kafka_log4j_properties(broker_log), encoding="utf-8")
    _format_kraft_storage(java, classpath, properties, work)
    argv = [
        java,
        "-Xms256m",
        f"-Xmx{max_heap}",
        "-XX:+ExitOnOutOfMemoryError",
        "-Djava.awt.headless=true",
        f"-Djava.io.tmpdir={work}",  # e.g. lz4-java's native library, removed with it
        f"-Dlog4j.configuration={log4j.as_uri()}",
        "-cp",
        classpath,
        "kafka.Kafka",
        str(properties),
    ]
    return KraftNode(
        version=version,
        argv=argv,
        work=work,
        bootstrap_servers=f"127.0.0.1:{port}",
        log_path=work / "kafka.out",
        broker_log=broker_log,
    )
