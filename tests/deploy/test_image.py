"""The container image as the chart runs it: built from the Containerfile (``make image``,
deploy/image/build.sh), started with buildah against the test broker and PostgreSQL. The
image is named by ``QBSYNC_TEST_IMAGE`` (CI builds it first); without it, a developer machine
skips and CI fails."""

from __future__ import annotations

import http.client
import logging
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import free_port, prepare_topics, use_broker
from tests.conftest import missing
from tests.support.waiting import until

pytestmark = pytest.mark.integration
log = logging.getLogger(__name__)

BUILDAH = ["buildah", "--storage-driver", "vfs"]
SERVER_VERSION = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<soap:Body><serverVersion xmlns="http://developer.intuit.com/"/></soap:Body>'
    b"</soap:Envelope>"
)


@pytest.fixture(scope="module")
def image() -> str:
    name = os.environ.get("QBSYNC_TEST_IMAGE", "")
    if not name:
        missing("QBSYNC_TEST_IMAGE is not set: build the image with `make image` and export it")
    if shutil.which("buildah") is None:
        missing("buildah is not installed (apt-get install buildah)")
    return name


@dataclass
class Container:
    """A buildah working container of the image; ``run`` starts a process in it."""

    name: str
    env: dict[str, str]
    logs: Path

    def run(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        environment = [f"--env={key}={value}" for key, value in self.env.items()]
        with (self.logs / f"{log}.log").open("ab") as output:
            return subprocess.Popen(
                [*BUILDAH, "run", "--isolation", "chroot", *environment, self.name, "--", *args],
                stdout=output,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]


@contextmanager
def container(image: str, env: dict[str, str], logs: Path) -> Iterator[Container]:
    logs.mkdir(parents=True, exist_ok=True)
    name = subprocess.run(
        [*BUILDAH, "from", "--quiet", "--pull-never", image],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    try:
        yield Container(name, env, logs)
    finally:
        subprocess.run([*BUILDAH, "rm", name], check=False, capture_output=True)


def descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            found += [int(child), *descendants(int(child))]
    return found


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM to the qbsync process inside, as Kubernetes sends it (buildah itself would kill
    its child); buildah's exit code is the process's."""
    for pid in descendants(process.pid):
        try:
            # The image's interpreter, not buildah's helpers (whose arguments name the image).
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"/opt/qbsync/bin/"):
                os.kill(pid, signal.SIGTERM)
        except (OSError, ProcessLookupError):
            continue
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


def get(port: int, path: str) -> tuple[int, bytes]:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    except OSError:
        return 0, b""


def server_version(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request(
        "POST",
        "/qbwc",
        SERVER_VERSION,
        {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "http://developer.intuit.com/serverVersion",
        },
    )
    response = connection.getresponse()
    return response.status, response.read()


def group_members(bootstrap: str, group: str) -> int:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    (future,) = admin.describe_consumer_groups([group], request_timeout=10).values()
    try:
        return len(future.result().members)
    except Exception:
        return 0


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_the_image_serves_the_web_connector_and_joins_the_worker_group(
    image: str, broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> None:
    use_broker(settings, broker)
    prepare_topics(settings)
    gateway_port, worker_port = free_port(), free_port()
    env = {
        "QBSYNC_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
        "QBSYNC_DATABASE_URL": database_url,
        "QBSYNC_TOPIC_PREFIX": settings.topics.prefix,
        "QBSYNC_WORKER_APP_ID": settings.worker.app_id,
        "QBSYNC_WORKER_WEB_PORT": str(worker_port),
        "QBSYNC_WORKER_SESSION_TIMEOUT_S": "6",
        "QBSYNC_LOG_FORMAT": "json",
    }
    with container(image, env, tmp_path / "logs") as box:
        upgrade = box.run("qbsync", "db", "upgrade", log="upgrade")
        assert upgrade.wait(120) == 0, box.log("upgrade")

        gateway = box.run(
            "qbsync", "gateway", "--host", "127.0.0.1", "--port", str(gateway_port), log="gateway"
        )
        worker = box.run("qbsync", "worker", log="worker")
        try:

            def gateway_ready() -> bool:
                assert gateway.poll() is None, box.log("gateway")
                return get(gateway_port, "/readyz") == (200, b"ready\n")

            until(gateway_ready, timeout=120, what="the image's gateway /readyz")
            log.info("image %s: gateway GET /readyz -> 200 ready", image)
            status, body = server_version(gateway_port)
            assert status == 200, body
            assert b"serverVersionResult" in body
            log.info("image %s: gateway SOAP serverVersion -> %s", image, status)

            def worker_joined() -> bool:
                assert worker.poll() is None, box.log("worker")
                return group_members(broker.bootstrap_servers, settings.worker.app_id) >= 1

            until(worker_joined, timeout=180, what="the image's worker in its consumer group")
            log.info("image %s: worker joined consumer group %s", image, settings.worker.app_id)
            until(
                lambda: get(worker_port, "/readyz")[0] == 200,
                timeout=120,
                what="the image's worker /readyz",
            )
            log.info(
                "image %s: worker GET /readyz -> 200 %s", image, get(worker_port, "/readyz")[1]
            )
        finally:
            codes = (stop(worker), stop(gateway))
        assert codes == (0, 0), box.log("worker") + box.log("gateway")
