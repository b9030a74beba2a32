"""The alert rules the chart ships, unit-tested by Prometheus' own ``promtool test rules``:
every alert fires on its condition and stays quiet below it (tests/deploy/prometheus)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.support.promtool import promtool

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/helm/qbsync/files/prometheus-rules.yaml"
UNIT_TESTS = Path(__file__).resolve().parent / "prometheus" / "alerts.test.yaml"
REQUIRED = {
    "QbsyncBacklogTooOld",
    "QbsyncFilesSilent",
    "QbsyncDeadLetterRate",
    "QbsyncWorkerLag",
    "QbsyncGatewaySlow",
    "QbsyncGatewayErrors",
    "QbsyncBrokerUnreachable",
}


def _alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_the_rules_are_valid_and_cover_the_sre_questions() -> None:
    checked = subprocess.run(
        [promtool(), "check", "rules", str(RULES)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    alerts = _alerts()
    assert set(alerts) >= REQUIRED
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
        assert rule["annotations"]["description"], name


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, list[bool]] = {}
    for case in yaml.safe_load(UNIT_TESTS.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            cases.setdefault(check["alertname"], []).append(bool(check["exp_alerts"]))
    for name in _alerts():
        assert True in cases.get(name, []), f"{name}: no case where it fires"
        assert False in cases.get(name, []), f"{name}: no case where it stays quiet"


def test_promtool_unit_tests_pass() -> None:
    result = subprocess.run(
        [promtool(), "test", "rules", UNIT_TESTS.name],
        cwd=UNIT_TESTS.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
