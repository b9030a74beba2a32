"""The worker's /metrics and /readyz as a real process on the real broker: event-to-QuickBooks
latency, dead letters by code and category, lag by agent, retries waiting, build info; all
clean for ``promtool check metrics``; no tenant or file ids."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.kafka import RecordProducer
from core.contracts import AvroCodec, customer_event
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.pipeline import Running, running_pipeline
from tests.support.promtool import check_metrics
from tests.support.waiting import until

pytestmark = pytest.mark.integration


@pytest.fixture
def run(
    broker: BrokerInfo, settings: Settings, database_url: str, tmp_path: Path
) -> Iterator[Running]:
    with running_pipeline(broker, settings, database_url, tmp_path, tenants=["t-1"]) as running:
        yield running
        assert running.services.worker.stop() == 0
        running.services.gateway.stop()


def worker_page(run: Running, path: str) -> tuple[int, bytes]:
    url = f"http://127.0.0.1:{run.settings.worker.web_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def sample(text: str, name: str, labels: str = "") -> float | None:
    found = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.M)
    return float(found.group(1)) if found else None


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_worker_metrics_answer_the_sre_questions(run: Running) -> None:
    until(lambda: worker_page(run, "/readyz")[0] == 200, timeout=120, what="the worker's /readyz")
    assert json.loads(worker_page(run, "/readyz")[1])["ready"] is True

    codec = AvroCodec()
    event = customer_event("t-1", "c-1", {"last_name": "Lovelace"})
    producer = RecordProducer(run.settings.kafka.client_config())
    producer.send_all(
        [
            (
                run.settings.topics.events,
                b"t-1",
                codec.encode("com.qbsync.events.CustomerEvent", event),
            ),
            (run.settings.topics.events, b"t-1", b"not avro at all"),
        ]
    )
    producer.close()

    def scrape() -> str:
        code, page = worker_page(run, "/metrics")
        return page.decode() if code == 200 else ""

    def settled() -> str | None:
        run.services.check_alive()
        run.connector.run_once()
        text = scrape()
        return text if sample(text, "qbsync_event_to_quickbooks_seconds_count") == 1 else None

    text = until(settled, timeout=120, what="the customer settled in QuickBooks")
    check_metrics(text.encode())
    # The event was published moments ago; it reached QuickBooks within the test's minutes.
    assert 0 < (sample(text, "qbsync_event_to_quickbooks_seconds_sum") or 0) < 300
    dead = [line for line in text.splitlines() if line.startswith("qbsync_dead_letters_total")]
    assert dead == ['qbsync_dead_letters_total{category="rejected",code="undecodable"} 1.0'], dead
    for agent in ("translate", "settle", "reconcile"):
        assert sample(text, "qbsync_worker_consumer_lag_messages", f'{{agent="{agent}"}}') == 0
    assert (sample(text, "qbsync_worker_assigned_partitions") or 0) >= 1
    assert sample(text, "qbsync_worker_retries_waiting") == 0
    assert sample(text, "qbsync_worker_parked", '{kind="waiting"}') == 0
    assert re.search(r'^qbsync_build_info\{.*version="0\.1\.0".*\} 1\.0$', text, re.M)
    assert "t-1" not in text
    assert run.store.profiles()[0].id not in text
