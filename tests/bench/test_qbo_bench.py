"""``bench/qbo.py`` keeps working: a smoke run with a two-second window (the real one is a
minute) on the session's broker; its figures add up. Timings are reported, not asserted."""

from __future__ import annotations

from pathlib import Path

import pytest

from qbsync.brokers import BrokerInfo
from tests.bench.test_scripts import run_bench

pytestmark = pytest.mark.integration


def test_qbo_bench_reports_the_limiter_against_an_unlimited_baseline(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench(
        "qbo.py", broker, tmp_path, "--per-minute", "10", "--window-s", "1", "--windows", "2"
    )
    assert report["bench"] == "qbo"
    for side in ("baseline", "limited"):
        assert report[side]["commands"] == report[side]["written"] == 21
        assert report[side]["commands_per_s"] > 0
    limited = report["limited"]
    assert limited["max_in_any_window"] <= 10
    assert limited["bound_per_s"] == pytest.approx(10 / (61 / 60), abs=0.01)
    assert isinstance(report["limiter_is_the_bound"], bool)


def test_qbo_bench_across_many_realms_keeps_each_realm_within_its_limit(
    broker: BrokerInfo, tmp_path: Path
) -> None:
    report = run_bench(
        "qbo.py",
        broker,
        tmp_path,
        *("--realms", "20", "--per-realm", "3", "--per-minute", "1", "--window-s", "2"),
    )
    assert report["bench"] == "qbo-realms"
    assert (report["realms"], report["commands"], report["written"]) == (20, 60, 60)
    assert report["written_once"] is True
    assert report["max_in_any_window_any_realm"] <= 1  # the limit held in every realm
    assert report["throttled_429"] == 0
    assert report["limiter_bound_aggregate_per_s"] == pytest.approx(20 / (2 * 61 / 60), abs=0.1)
    assert report["bound_by"] in {"limiter", "qbsync"}
