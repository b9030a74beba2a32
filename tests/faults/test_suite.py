"""``make faults`` as the user runs it, on a few cases: real processes, one JSON object, the
exit code says whether every case held."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from qbsync.brokers import BrokerInfo

pytestmark = pytest.mark.integration

SUBSET = ["dtd", "malformed-charset-bogus", "log-no-request-body", "garbled-answer"]


def run_suite(broker: BrokerInfo, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QBSYNC_")}
    env.update(
        QBSYNC_TEST_BROKER="external",
        QBSYNC_KAFKA_BOOTSTRAP_SERVERS=broker.bootstrap_servers,
        QBSYNC_KAFKA_EXACT_WATERMARKS=str(broker.kind != "tansu").lower(),
    )
    return subprocess.run(
        [sys.executable, "-m", "faults", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_a_subset_of_the_fault_suite_holds_and_reports_one_json_object(
    broker: BrokerInfo,
) -> None:
    done = run_suite(broker, "--only", ",".join(SUBSET))
    assert done.stdout.count("\n") == 1, done.stdout + done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert done.returncode == 0, json.dumps(report, indent=1) + done.stderr[-3000:]
    assert report["cases_tried"] == len(SUBSET)
    assert report["held"] == len(SUBSET)
    assert report["failed"] == []
    assert (report["lost"], report["duplicated"]) == (0, 0)
    assert report["cases"]["garbled-answer"]["lost"] == 0
    assert set(report["cases"]) == set(SUBSET)


def test_an_unknown_case_is_refused_by_name(broker: BrokerInfo) -> None:
    done = run_suite(broker, "--only", "no-such-case")
    assert done.returncode != 0
    assert "no-such-case" in done.stderr
