"""docs/architecture.md's code map is the tree's: regenerate it with ``make codemap``."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _codemap() -> Any:
    spec = importlib.util.spec_from_file_location("codemap", REPO / "docs" / "codemap.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_code_map_in_architecture_md_is_the_trees() -> None:
    codemap = _codemap()
    doc = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    assert codemap.current(doc) == codemap.render(), "run `make codemap` and commit the result"


def test_every_module_of_every_layer_has_a_line() -> None:
    rendered = _codemap().render()
    for package in ("core", "connectors", "streams", "qbsync"):
        for path in (REPO / package).rglob("*.py"):
            relative = path.relative_to(REPO / package)
            if {"migrations", "templates"} & set(relative.parts):
                continue
            assert f"  {relative} " in rendered or f"  {relative}\n" in rendered, relative
