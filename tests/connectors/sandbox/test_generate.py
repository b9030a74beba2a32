"""The committed shapes are what Intuit's XSD says (regenerated and compared)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sandbox._catalog import RET_ELEMENTS
from connectors.sandbox._generate import generate, render


def test_the_shapes_are_up_to_date(qbxml_reference: Path) -> None:
    pytest.importorskip("xmlschema")
    committed = Path(__file__).resolve().parents[3] / "connectors" / "sandbox" / "_shapes.py"
    assert render(generate(qbxml_reference, RET_ELEMENTS)) == committed.read_text(
        encoding="utf-8"
    ), "run: python -m connectors.sandbox._generate ../shared/qbxml"
