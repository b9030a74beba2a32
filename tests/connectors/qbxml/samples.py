"""Values for every element of a request spec, to put the whole table in front of the XSD.

``maximal(spec, branch)`` fills every element QuickBooks Desktop supports, taking branch
``branch`` of every choice (or its last branch when it has fewer), repeating repeated
elements twice, and making every text as long as it may be, with characters that need
escaping. Built and validated for each branch, it shows that the table's order, lengths,
types, enumerations and choices agree with Intuit's schema.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from connectors.qbxml import FieldSpec

__all__ = ["TEXT", "leaf_sample", "max_branches", "maximal"]

# Characters that must be escaped, a non-ASCII one, and a carriage return.
TEXT = 'Ab & <c> "d" \u00e9\r\n'
OFFSET = timezone(timedelta(hours=-5))


def leaf_sample(field: FieldSpec, branch: int = 0) -> Any:
    kind = field.kind
    if kind == "str":
        length = field.max_length or 24
        return (TEXT * (length // len(TEXT) + 1))[:length]
    if kind == "id":
        return "80000001-1700000000" if field.element != "TxnLineID" else "-1"
    if kind == "bool":
        return branch % 2 == 0
    if kind == "date":
        return date(2024, 5, 1)
    if kind == "datetime":
        return datetime(2024, 5, 1, 13, 45, 30, tzinfo=OFFSET if branch % 2 else UTC)
    if kind == "duration":
        return timedelta(hours=7, minutes=30)
    if kind == "amount":
        return Decimal("-1234.56") if branch % 2 else Decimal("1234567890123.45")
    if kind in ("price", "quantity", "percent"):
        return Decimal("1234567890.12345")
    if kind == "float":
        return Decimal("1.2345")
    if kind == "int":
        return 7
    if kind == "enum":
        return field.values[branch % len(field.values)]
    if kind == "guid":
        return UUID("0b9e8c7a-1234-4d5e-8f90-abcdef012345")
    raise AssertionError(f"no sample for {kind}")


def maximal(spec: FieldSpec, branch: int = 0) -> dict[str, Any]:
    chosen = {index: min(branch, len(rule.branches) - 1) for index, rule in enumerate(spec.choices)}
    values: dict[str, Any] = {}
    for child in spec.children:
        if not child.desktop:
            continue
        if any(chosen[choice] != taken for choice, taken in child.alternatives):
            continue
        value = maximal(child, branch) if child.kind == "group" else leaf_sample(child, branch)
        if child.repeated:
            count = 2 if child.repeat is None else min(2, child.repeat)
            values[child.element] = [value] * count
        else:
            values[child.element] = value
    return values


def max_branches(spec: FieldSpec) -> int:
    """How many branch numbers cover every branch of every choice in ``spec``."""
    own = max((len(rule.branches) for rule in spec.choices), default=1)
    return max([own, *(max_branches(child) for child in spec.children if child.children)])
