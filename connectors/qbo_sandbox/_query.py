"""The subset of QBO's query language the sandbox answers, as Intuit documents it:

``select * | count(*) from <Entity> [where <cond> [and <cond>]...] [orderby <field> [asc|desc]]
[startposition <n>] [maxresults <n>]`` with ``<cond>`` one of ``field = | != | < | > | <= | >=
'value'``, ``field in ('a', 'b')``, ``field like '%text%'``; fields may be dotted
(``MetaData.LastUpdatedTime``); keywords are case-insensitive; at most 1,000 rows a page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["MAX_RESULTS", "Condition", "Query", "QueryError", "parse_query"]

MAX_RESULTS = 1000

_QUERY = re.compile(
    r"^\s*select\s+(?P<what>\*|count\(\*\))\s+from\s+(?P<entity>\w+)"
    r"(?:\s+where\s+(?P<where>.+?))?"
    r"(?:\s+orderby\s+(?P<order>[\w.]+)(?:\s+(?P<dir>asc|desc))?)?"
    r"(?:\s+startposition\s+(?P<start>\d+))?"
    r"(?:\s+maxresults\s+(?P<max>\d+))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_CONDITION = re.compile(
    r"^\s*(?P<field>[\w.]+)\s*(?P<op><=|>=|!=|=|<|>|\bin\b|\blike\b)\s*(?P<value>.+?)\s*$",
    re.IGNORECASE | re.DOTALL,
)
_AND = re.compile(r"\s+and\s+(?=(?:[^']*'[^']*')*[^']*$)", re.IGNORECASE)


class QueryError(ValueError):
    """The query is outside the language (Intuit answers 4000 QueryParserError)."""


@dataclass(frozen=True)
class Condition:
    field: str
    op: str
    value: Any  # str, float, bool, or tuple for "in"

    def matches(self, record: Mapping[str, Any]) -> bool:
        found = _field(record, self.field)
        if found is None:
            return self.op == "!="
        if self.op == "in":
            return any(_compare(found, v) == 0 for v in self.value)
        if self.op == "like":
            pattern = "^" + ".*".join(re.escape(p) for p in str(self.value).split("%")) + "$"
            return re.match(pattern, str(found), re.IGNORECASE) is not None
        order = _compare(found, self.value)
        return {
            "=": order == 0,
            "!=": order != 0,
            "<": order < 0,
            ">": order > 0,
            "<=": order <= 0,
            ">=": order >= 0,
        }[self.op]


@dataclass(frozen=True)
class Query:
    count: bool
    entity: str
    conditions: tuple[Condition, ...]
    order_by: str | None
    descending: bool
    start: int
    max_results: int

    def run(self, records: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        found = [r for r in records if all(c.matches(r) for c in self.conditions)]
        if self.order_by:
            key = self.order_by
            found.sort(key=lambda r: _sort_key(_field(r, key)), reverse=self.descending)
        else:
            found.sort(key=_by_id)
        return found[self.start - 1 : self.start - 1 + self.max_results]


def _by_id(record: Mapping[str, Any]) -> tuple[int, str]:
    """Ids in number order; a US company's TaxCode Ids ``TAX``/``NON`` are words: first."""
    text = str(record.get("Id", "0"))
    return (int(text), "") if text.isdigit() else (-1, text)


def _field(record: Mapping[str, Any], dotted: str) -> Any:
    value: Any = record
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = next((v for k, v in value.items() if k.lower() == part.lower()), None)
    if isinstance(value, Mapping) and "value" in value:  # CustomerRef = '12'
        return value["value"]
    return value


def _as_time(value: Any) -> datetime | None:
    if isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else None
    return None


def _compare(left: Any, right: Any) -> int:
    a, b = _as_time(left), _as_time(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if isinstance(left, bool) or isinstance(right, bool):
        return 0 if str(left).lower() == str(right).lower() else 1
    try:
        x, y = float(left), float(right)
        return (x > y) - (x < y)
    except (TypeError, ValueError):
        s, t = str(left).lower(), str(right).lower()
        return (s > t) - (s < t)


def _sort_key(value: Any) -> tuple[int, Any]:
    moment = _as_time(value)
    if moment is not None:
        return (0, moment.timestamp())
    try:
        return (1, float(value))
    except (TypeError, ValueError):
        return (2, str(value or "").lower())


def _value(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return re.sub(r"\\(.)", r"\1", text[1:-1])  # \' and \\ are escapes
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return float(text)
    except ValueError as exc:
        raise QueryError(f"cannot read the value {text!r}: quote text with '") from exc


def parse_query(text: str) -> Query:
    match = _QUERY.match(text)
    if match is None:
        raise QueryError("Error parsing query: expected select * from <Entity> [where ...]")
    conditions: list[Condition] = []
    if match["where"]:
        for part in _AND.split(match["where"]):
            found = _CONDITION.match(part)
            if found is None:
                raise QueryError(f"Error parsing query near {part.strip()[:40]!r}")
            op = found["op"].lower()
            raw = found["value"]
            if op == "in":
                inner = raw.strip()
                if not (inner.startswith("(") and inner.endswith(")")):
                    raise QueryError("Error parsing query: in needs a list in parentheses")
                value: Any = tuple(_value(v) for v in inner[1:-1].split(",") if v.strip())
            else:
                value = _value(raw)
            conditions.append(Condition(found["field"], op, value))
    start = int(match["start"] or 1)
    return Query(
        count=match["what"] != "*",
        entity=match["entity"],
        conditions=tuple(conditions),
        order_by=match["order"],
        descending=(match["dir"] or "").lower() == "desc",
        start=max(1, start),
        max_results=min(MAX_RESULTS, int(match["max"] or 100)),
    )
