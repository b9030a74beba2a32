"""``bench/qbxml.py`` keeps working (its timing is reported, not asserted: machines differ)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_benchmark_prints_one_json_object() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "bench" / "qbxml.py"), "--rounds", "3", "--batch", "5"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    report = json.loads(result.stdout)
    assert report["benchmark"] == "qbxml.invoice_add_3_lines"
    assert report["median_us"] > 0
    assert report["best_us"] <= report["median_us"]
    assert report["cpu_count"] >= 1
    assert report["python"].count(".") == 2
    # The answer read both ways, side by side: 25 records of 26 fields each.
    assert report["answer_25_bytes"] > 20_000
    assert report["answer_25_whole_us"] > 0
    assert report["answer_25_ids_us"] > 0
    assert report["answer_ids_to_whole"] > 0
