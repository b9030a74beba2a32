"""The company files' backlog on the gateway's /metrics, read from the real broker: files by
commands waiting, the oldest waiting command's age, broker reachability; no file ids."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from connectors.qbwc import create_gateway, create_profile
from core.settings import Settings
from tests.support.gateway import Served, connector, enqueue
from tests.support.promtool import check_metrics

pytestmark = pytest.mark.integration


def sample(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$"
    found = re.search(pattern, text, re.M)
    assert found, f"{name}{labels} not in the scrape"
    return float(found.group(1))


def scrape(served: Served) -> str:
    with urllib.request.urlopen(served.url + "/metrics", timeout=30) as response:
        body: bytes = response.read()
    check_metrics(body)
    return body.decode()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.gateway.backlog_interval_s = 0.01  # read Kafka at every scrape
    return settings


def test_backlog_is_a_distribution_of_files_and_drains_when_delivered(
    served: Served, tmp_path: Path
) -> None:
    idle = create_profile(served.store, name="Idle Co", tenants=["t-9"])
    enqueue(served, "Ada", "Grace", "Edsger")

    text = scrape(served)
    buckets = {
        le: sample(text, "qbsync_file_backlog_commands_bucket", f'{{le="{le}"}}')
        for le in ("0.0", "1.0", "25.0", "+Inf")
    }
    # Two enabled files: the idle one has 0 waiting, Shared Co has 3.
    assert buckets == {"0.0": 1, "1.0": 1, "25.0": 2, "+Inf": 2}
    assert sample(text, "qbsync_file_backlog_commands_sum") == 3
    assert sample(text, "qbsync_file_oldest_command_age_seconds_count") == 1
    assert 0 <= sample(text, "qbsync_oldest_command_age_seconds") < 600
    assert sample(text, "qbsync_kafka_up") == 1
    assert re.search(r'^qbsync_build_info\{.*version="0\.1\.0".*\} 1\.0$', text, re.M)
    assert sample(text, "process_resident_memory_bytes") > 0
    for profile_id in (served.profile.profile.id, idle.profile.id):
        assert profile_id not in text

    report = connector(served, tmp_path).run_once()
    assert not report.errors
    drained = scrape(served)
    assert sample(drained, "qbsync_file_backlog_commands_sum") == 0
    assert sample(drained, "qbsync_file_backlog_commands_bucket", '{le="0.0"}') == 2
    assert sample(drained, "qbsync_oldest_command_age_seconds") == 0


def test_an_unreachable_broker_is_a_metric_not_an_error(served: Served) -> None:
    enqueue(served, "Ada")
    served.settings.kafka.bootstrap_servers = "127.0.0.1:1"
    gateway = create_gateway(served.settings)  # a second gateway, pointed nowhere
    try:
        text = generate_latest(gateway.registry).decode()
    finally:
        gateway.close()
    assert "qbsync_kafka_up 0.0" in text


def test_http_responses_are_counted_by_status_class_and_route(served: Served) -> None:
    with pytest.raises(urllib.error.HTTPError, match="404"):
        urllib.request.urlopen(served.url + "/tenants/t-1/secret", timeout=10)
    text = scrape(served)
    labels = '{route="other",status_class="4xx"}'
    assert sample(text, "qbsync_gateway_http_responses_total", labels) == 1
    assert (
        sample(text, "qbsync_gateway_http_responses_total", '{route="qbwc",status_class="5xx"}')
        == 0
    )
    assert "t-1" not in text
