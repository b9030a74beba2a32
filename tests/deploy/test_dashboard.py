"""The Grafana dashboard is code (deploy/grafana/dashboard.py): the checked-in JSON the chart
ships is exactly its output, one row per question, and every query names a metric qbsync
exports."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "deploy/grafana/dashboard.py"
CHECKED_IN = ROOT / "deploy/helm/qbsync/files/grafana-dashboard.json"
EXPORTERS = [
    ROOT / "streams/sensor.py",
    ROOT / "core/build_info.py",
    *sorted((ROOT / "connectors/qbwc").glob("_*metrics.py")),
]


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("qbsync_dashboard", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exported() -> set[str]:
    """Every qbsync_* family named in the exporters' source, with the series a histogram or
    an info metric adds."""
    names: set[str] = set()
    for path in EXPORTERS:
        for name in re.findall(r'"(qbsync_[a-z_]+)"', path.read_text()):
            names |= {name, f"{name}_bucket", f"{name}_sum", f"{name}_count", f"{name}_info"}
    return names


def test_the_checked_in_dashboard_is_the_generators_output() -> None:
    assert CHECKED_IN.read_text() == generator().render()


def test_one_row_per_question_each_with_panels() -> None:
    board = json.loads(CHECKED_IN.read_text())
    kinds = [panel["type"] for panel in board["panels"]]
    rows = [panel["title"] for panel in board["panels"] if panel["type"] == "row"]
    assert len(rows) >= 6
    assert all(title.endswith("?") for title in rows), rows
    assert kinds[0] == "row"
    assert "row" not in {kinds[i + 1] for i, kind in enumerate(kinds[:-1]) if kind == "row"}
    assert kinds[-1] != "row"
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource"]


def test_every_query_names_an_exported_metric_and_no_id_label() -> None:
    board = json.loads(CHECKED_IN.read_text())
    known = exported()
    for panel in board["panels"]:
        for target in panel.get("targets") or []:
            for name in re.findall(r"\b(qbsync_[a-z_]+)", target["expr"]):
                assert name in known, f"{panel['title']}: {name} is not exported"
            assert not re.search(r"tenant|profile_id|file_id", target["expr"]), target["expr"]
