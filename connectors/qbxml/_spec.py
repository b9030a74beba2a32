"""The shape of qbXML requests as data: one :class:`FieldSpec` per element, in schema order.

qbXML is a sequence, not a bag: QuickBooks refuses a request whose elements are out of order,
too long, or of the wrong form, often with an unhelpful message. So the builder never decides
order or limits itself; it reads them from these specs, which are generated from Intuit's XSD
and annotated reference (``_generate.py``) and checked against them by the tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

__all__ = ["ChoiceRule", "FieldKind", "FieldSpec", "RequestSpec", "version_key"]

FieldKind = Literal[
    "str",  # STRTYPE: text, checked against ``max_length``
    "id",  # IDTYPE: ListID / TxnID / TxnLineID, at most 36 characters
    "bool",  # BOOLTYPE: ``True`` / ``False``
    "date",  # DATETYPE: a ``datetime.date`` or ``"YYYY-MM-DD"``
    "datetime",  # DATETIMETYPE: a ``datetime`` (no fractions; offset kept) or a date
    "duration",  # TIMEINTERVALTYPE: a ``timedelta`` or ``"PT1H30M"``
    "amount",  # AMTTYPE: a Decimal with at most 2 places, sent with exactly 2
    "price",  # PRICETYPE: a Decimal with at most 5 places
    "quantity",  # QUANTYPE: a Decimal with at most 5 places
    "percent",  # PERCENTTYPE: a Decimal with at most 5 places
    "float",  # FLOATTYPE (ExchangeRate): a Decimal
    "int",  # INTTYPE
    "enum",  # ENUMTYPE: one of ``values``
    "guid",  # GUIDTYPE: a UUID, sent as ``{XXXXXXXX-...}``
    "group",  # an element with child elements (a reference, an address, a line ...)
]


def version_key(version: str) -> tuple[int, ...]:
    """``"13.0"`` → ``(13, 0)``, so versions compare as numbers, not as text."""
    return tuple(int(part) for part in version.split(".") if part.isdigit())


@dataclass(frozen=True)
class ChoiceRule:
    """An ``xsd:choice`` among a parent's children: at most one branch may be used.

    ``branches`` holds the element names of each alternative. ``required`` means the schema
    insists that one branch be present (and no branch can be empty).
    """

    branches: tuple[frozenset[str], ...]
    required: bool


@dataclass(frozen=True)
class FieldSpec:
    """One element.

    ``alternatives`` says which ``xsd:choice`` of the parent (an index into the parent's
    ``choices``) and which branch of it the element belongs to, outermost first (choices
    nest: a query's filters are one branch of "by id, by name, or filtered"). ``since`` is
    the first qbXML version that knows the element (``None``: all of them). ``desktop`` is
    false where Intuit's reference says "not in QBD" (the schema is shared with QuickBooks
    Online and other editions, so it accepts elements QuickBooks Desktop ignores or refuses).
    """

    element: str
    max_length: int | None = None
    kind: FieldKind = "str"
    children: tuple[FieldSpec, ...] = ()
    required: bool = False
    repeat: int | None = 1  # most occurrences allowed; None = unbounded
    values: tuple[str, ...] = ()
    since: str | None = None
    desktop: bool = True
    alternatives: tuple[tuple[int, int], ...] = ()
    choices: tuple[ChoiceRule, ...] = field(default=(), repr=False)

    @property
    def repeated(self) -> bool:
        return self.repeat is None or self.repeat > 1

    @cached_property
    def by_name(self) -> dict[str, tuple[int, FieldSpec]]:
        """Children by element name, with their position (computed once, then reused)."""
        return {child.element: (i, child) for i, child in enumerate(self.children)}

    @cached_property
    def required_children(self) -> frozenset[str]:
        return frozenset(c.element for c in self.children if c.required)


@dataclass(frozen=True)
class RequestSpec:
    """One request type: ``CustomerAdd`` (body element inside ``CustomerAddRq``) or
    ``CustomerQuery`` (whose fields sit directly inside ``CustomerQueryRq``)."""

    name: str
    body: FieldSpec
    wrapped: bool  # True: <XAddRq><XAdd>...</XAdd></XAddRq>; False: <XQueryRq>...</XQueryRq>
    iterator: bool = False  # the XSD gives the Rq element iterator/iteratorID attributes

    @property
    def rq(self) -> str:
        return f"{self.name}Rq"
