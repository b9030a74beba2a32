"""Small element helpers: schema order, QuickBooks' number formats, qbXML dates.

Kept apart from the request processor so the rules about *form* (order, two decimal places,
``2024-01-31T09:00:00+00:00``) live in one place and the processor only decides *content*.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache

from lxml import etree

from connectors.sandbox._shapes import DECIMALS, SHAPES

__all__ = [
    "cents",
    "child_text",
    "format_cents",
    "format_time",
    "money",
    "multiply",
    "order",
    "parse_date",
    "parse_datetime",
    "ret_name",
    "set_child",
]

_TWO = Decimal("0.01")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{1,2})-(\d{1,2})"
    r"(?:T(\d{1,2})(?::(\d{1,2})(?::(\d{1,2}))?)?)?(Z|[+-]\d{1,2}:\d{1,2})?$"
)


@cache
def _ranks(tag: str) -> dict[str, int] | None:
    shape = SHAPES.get(tag)
    if shape is None:
        return None
    return {name: rank for rank, names in enumerate(shape.split()) for name in names.split("|")}


def order(element: etree._Element) -> etree._Element:
    """Sort ``element``'s children (recursively) into schema order; drop what the schema
    does not allow there (request-only elements such as ``IsAutoApply``) and write amounts
    with two decimal places, as QuickBooks does."""
    ranks = _ranks(str(element.tag))
    children = [c for c in element if isinstance(c.tag, str)]
    if ranks is None:
        if not children and element.tag in DECIMALS and element.text:
            element.text = money(element.text)
        return element
    kept = [c for c in children if c.tag in ranks]
    for child in children:
        element.remove(child)
    for child in sorted(kept, key=lambda c: ranks[str(c.tag)]):  # stable: keeps line order
        element.append(order(child))
    return element


def ret_name(parent: str, tag: str) -> str | None:
    """Where a request element goes in the answer: ``InvoiceLineAdd`` → ``InvoiceLineRet``,
    ``SalesOrPurchaseMod`` → ``SalesOrPurchase``; ``None`` if the answer has no place for it."""
    ranks = _ranks(parent)
    if ranks is None:
        return None
    candidates = [tag]
    for suffix in ("Add", "Mod"):
        if tag.endswith(suffix):
            stem = tag.removesuffix(suffix)
            candidates += [f"{stem}Ret", stem]
    return next((c for c in candidates if c in ranks), None)


def child_text(element: etree._Element, path: str) -> str | None:
    found = element.find(path)
    if found is None:
        return None
    return (found.text or "").strip()


def set_child(element: etree._Element, tag: str, text: str) -> etree._Element:
    """Replace (or add) the single child ``tag``; the caller orders the element afterwards."""
    found = element.find(tag)
    if found is None:
        found = etree.SubElement(element, tag)
    found.text = text
    return found


def money(text: str) -> str:
    """``"295"`` → ``"295.00"``; more precise prices keep their places (``"12.34567"``)."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return text
    if value.as_tuple().exponent in (0, -1) or value == value.quantize(_TWO):
        return str(value.quantize(_TWO))
    return str(value)


def multiply(price: str, quantity: str) -> str:
    """A line's amount: price times quantity, rounded to the cent as QuickBooks rounds."""
    try:
        value = Decimal(price) * Decimal(quantity)
    except InvalidOperation:
        return "0.00"
    return str(value.quantize(_TWO, rounding=ROUND_HALF_UP))


def cents(text: str | None) -> int:
    if not text:
        return 0
    try:
        return int((Decimal(text.strip()) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    except InvalidOperation:
        return 0


def format_cents(value: int) -> str:
    return str((Decimal(value) / 100).quantize(_TWO))


def format_time(epoch: float) -> str:
    """QuickBooks writes times with the workstation's offset; the sandbox's workstation is
    on UTC so runs are reproducible anywhere."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def parse_datetime(text: str) -> float | None:
    """A qbXML DATETIMETYPE (``2024-01-31``, ``2024-01-31T09:00:00``, with or without an
    offset) as epoch seconds; a time without an offset is the company's local time (UTC)."""
    match = _DATETIME.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), tzinfo=UTC)
    except ValueError:
        return None
    moment += timedelta(hours=int(hour or 0), minutes=int(minute or 0), seconds=int(second or 0))
    if zone and zone != "Z":
        hours, minutes = zone[1:].split(":")
        sign = 1 if zone[0] == "+" else -1
        moment -= sign * timedelta(hours=int(hours), minutes=int(minutes))
    return moment.timestamp()


def parse_date(text: str | None) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        return None
