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
