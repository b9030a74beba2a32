"""Validate qbXML documents against Intuit's XSD (loaded once per version)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import xmlschema

__all__ = ["assert_valid_qbxml"]


@cache
def _schema(reference: Path, version: str) -> xmlschema.XMLSchema:
    major = version.split(".")[0]
    return xmlschema.XMLSchema(str(reference / "xsd" / version / f"qbxmlops{major}0.xsd"))


def assert_valid_qbxml(document: str, reference: Path, version: str = "13.0") -> None:
    """``document`` is a whole message (the ``<?qbxml?>`` line included)."""
    assert f'<?qbxml version="{version}"?>' in document, "the qbxml version line is missing"
    body = document[document.index("<QBXML>") :]
    errors = list(_schema(reference, version).iter_errors(body))
    assert not errors, f"invalid against qbXML {version}: {errors[0]}"
