"""Valid records made from a schema, for round-trip tests and the compatibility check.

Values come back exactly as fastavro reads them (UUIDs, decimals at the schema's scale, UTC
datetimes to the millisecond), so ``decode(encode(x)) == x`` can be asserted as it stands.
``variant`` steers the shape: variant 0 leaves every optional field null and every list empty;
variant 1 fills them all; later variants walk through enum symbols and union branches, so
:func:`variants_for` samples together use every symbol and branch at least once.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from core.contracts._schemas import named_types

__all__ = ["sample", "variants_for"]

_TEXT = ("Ünïcode & <Sons>", 'O\'Brien "Bob"', "line\nbreak", "plain", "名前", "a" * 41)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def variants_for(schema: Any) -> int:
    """How many variants it takes to use every enum symbol and union branch."""
    widest = 2
    for node in _walk(schema, set()):
        if isinstance(node, list):
            widest = max(widest, len(node))
        elif isinstance(node, Mapping) and node.get("type") == "enum":
            widest = max(widest, len(node["symbols"]))
    return widest


def sample(schema: Any, *, variant: int = 1, seed: int = 0) -> Any:
    """One valid value for a standalone ``schema``."""
    sampler = _Sampler(variant, random.Random(f"{seed}-{variant}"))  # noqa: S311
    sampler.named = named_types(schema)
    return sampler.value(schema)


class _Sampler:
    def __init__(self, variant: int, rng: random.Random) -> None:
        self.variant = variant
        self.rng = rng
        self.named: dict[str, Any] = {}

    def value(self, schema: Any) -> Any:
        if isinstance(schema, list):
            return self.value(schema[self.variant % len(schema)])
        if isinstance(schema, str):
            if schema in self.named:
                return self.value(self.named[schema])
            return self.primitive(schema, {})
        kind = schema["type"]
        if kind == "record":
            return {field["name"]: self.value(field["type"]) for field in schema["fields"]}
        if kind == "enum":
            return schema["symbols"][self.variant % len(schema["symbols"])]
        if kind == "array":
            return [self.value(schema["items"]) for _ in range(self.length())]
        if kind == "map":
            return {f"k{i}": self.value(schema["values"]) for i in range(self.length())}
        if kind == "fixed":
            return self.rng.randbytes(int(schema["size"]))
        if isinstance(kind, dict | list):
            return self.value(kind)
        return self.primitive(kind, schema)

    def length(self) -> int:
        return 0 if self.variant == 0 else 1 + (self.variant + self.rng.randrange(3)) % 3

    def primitive(self, kind: str, schema: Mapping[str, Any]) -> Any:
        logical = schema.get("logicalType")
        rng = self.rng
        if logical == "decimal":
            scale = int(schema.get("scale", 0))
            digits = rng.randint(1, int(schema["precision"]))
            unscaled = rng.randrange(10 ** (digits - 1), 10**digits) * rng.choice((1, -1))
            return Decimal(unscaled).scaleb(-scale)
        if logical == "date":
            return date(1970, 1, 1) + timedelta(days=rng.randint(-25_000, 50_000))
        if logical == "timestamp-millis":
            return _EPOCH + timedelta(milliseconds=rng.randint(0, 4_102_444_800_000))
        if logical == "uuid":
            return uuid.UUID(int=rng.getrandbits(128), version=4)
        if kind == "null":
            return None
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "int":
            return rng.choice((0, -1, 2**31 - 1, -(2**31), rng.randint(-1000, 1000)))
        if kind == "long":
            return rng.choice((0, 2**63 - 1, -(2**63), rng.randint(-(10**12), 10**12)))
        if kind in {"float", "double"}:
            return 0.5 * rng.randint(-100, 100)
        if kind == "string":
            return rng.choice(_TEXT)
        if kind == "bytes":
            return rng.randbytes(rng.randint(0, 16))
        raise ValueError(f"unsupported schema type {kind!r}")


def _walk(schema: Any, seen: set[str]) -> list[Any]:
    """Every node of a standalone schema (named types once)."""
    found: list[Any] = [schema]
    if isinstance(schema, list):
        for branch in schema:
            found += _walk(branch, seen)
    elif isinstance(schema, Mapping):
        kind = schema.get("type")
        if kind in {"record", "enum", "fixed"}:
            name = _full_name(schema)
            if name in seen:
                return found
            seen.add(name)
        for field in schema.get("fields", ()):
            found += _walk(field["type"], seen)
        for key in ("items", "values"):
            if key in schema:
                found += _walk(schema[key], seen)
        if isinstance(kind, dict | list):
            found += _walk(kind, seen)
    return found


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name
