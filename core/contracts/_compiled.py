"""Avro bodies written by a function generated for each schema, instead of fastavro's writer.

Why it exists (issue #20, the worker's CPU per event): ``fastavro.schemaless_writer`` decides
everything per value at run time (which type, which logical type, which union branch, by
validating the value against each branch). Encoding a ``com.qbsync.pipeline.Command`` through
the codec cost 20-24 µs, about 16 of them in fastavro's writer; a writer specialised by hand for
that one schema wrote the same bytes about 35% faster. :func:`compile_writer` makes such a
writer for any parsed schema the pipeline uses: it walks the schema once and generates the
source of one function that writes the fields in order, each inline (zig-zag varints,
length-prefixed UTF-8, union branch indexes, nested records).

Measured with ``bench/avro.py --records 20000 --repeat 5``, three runs on a shared 2-core
machine busier than the one the numbers above came from (CPU µs per record): a Command's
encode through the codec 28.5-32.1 with fastavro's writer, 12.3-14.6 with this one (0.43-0.45
of it); the bare writers 27.3-32.8 against 11.8-12.8. A customer event, whose optional
records fastavro validates before writing each: 91-106 against 16-17.

What it accepts and writes: exactly what :func:`fastavro.validation.validate` accepts, written
byte for byte as ``fastavro.schemaless_writer`` writes it, union branches included
(``tests/core/contracts/test_compiled.py`` checks both on generated records of every schema).
Anything else raises ``TypeError`` or ``ValueError`` naming the field, which the codec reports as
:class:`~core.contracts.EncodeError`. Outside unions fastavro's writer takes a few values its
own validation refuses, and this writer refuses them too: a float or a bool for an int or a
long (fastavro writes 1.5 as 1), an int out of the int's or long's range (fastavro writes an
over-long varint, or raises an ``OverflowError`` the codec did not catch), anything but a bool
for a boolean (fastavro writes None as false and "no" as true), a string for a float or a
double, a memoryview for bytes, an iterable that is not a sequence for an array.

Logical types go through fastavro's own converters (``fastavro.logical_writers``), so dates,
decimals, UUIDs and naive datetimes convert exactly as before; an aware datetime for a
timestamp takes a shorter path with the same result. :func:`compile_writer` returns None for
what it does not support (a union other than null and one other branch, a recursive type, a
schema shape it does not know), and the codec keeps fastavro for that schema.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import count
from numbers import Integral, Real
from typing import Any, NoReturn, cast

from fastavro.logical_writers import LOGICAL_WRITERS

__all__ = ["SourceBuilder", "Writer", "compile_writer", "generated"]

Writer = Callable[[Mapping[str, Any]], bytes]
"""Writes the Avro body of one record (no header), as ``fastavro.schemaless_writer`` would."""

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# The Python class a logical type's base value has: such a value skips the converter, which
# would hand it back unchanged anyway.
_BASE_CLASS = {"int": "int", "long": "int", "string": "str", "bytes": "bytes", "fixed": "bytes"}
# What a timestamp counts, as a timedelta: (aware datetime - epoch) // unit is fastavro's value.
_TIMESTAMP_UNITS = {
    "long-timestamp-millis": timedelta(milliseconds=1),
    "long-timestamp-micros": timedelta(microseconds=1),
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Unsupported(Exception):
    """A schema construct the generator does not handle; the codec keeps fastavro for it."""


def compile_writer(parsed_schema: Any) -> Writer | None:
    """A writer specialised for ``parsed_schema`` (from ``fastavro.parse_schema``), or None.

    Compiling takes a few milliseconds (4 for a Command, 9 for an invoice event), so the codec
    does it once per schema, on first use.
    """
    named = parsed_schema.get("__named_schemas", {}) if isinstance(parsed_schema, dict) else {}
    # Generated source rather than composed closures: with every field inline, a Command is
    # written in one Python call instead of one or more per field. Measured on the bench's
    # Command: 12.5 µs against 15.0 for closures (a prototype with fewer checks than this
    # writer makes) and 29.3 for fastavro.
    made = generated(_Generator(named), parsed_schema, "writer", _HELPERS)
    return None if made is None else cast(Writer, made["write"])


def generated(
    generator: SourceBuilder, parsed_schema: Any, what: str, helpers: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The namespace the generator's function for ``parsed_schema`` was defined in (beside
    ``helpers`` and the generator's constants, the only names its source refers to), or None
    when the generator does not support the schema."""
    try:
        source = generator.function(parsed_schema)
        code = compile(source, f"<avro {what} for {_name_of(parsed_schema)}>", "exec")
    except (_Unsupported, SyntaxError, RecursionError):
        # SyntaxError: Python's limit of 20 nested blocks (arrays nested that deep)
        return None
    namespace = {**helpers, **generator.constants}
    exec(code, namespace)  # noqa: S102 - source generated here from a schema, no data in it
    return namespace


# --- what the generated code calls -------------------------------------------------------------


def _zigzag_varint(z: int) -> bytes:
    """The varint of an unsigned ``z``, 7 bits a byte, low first (for building the tables)."""
    out = bytearray()
    while z > 0x7F:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


# Zig-zag varints of -64..63, indexed by the value itself: a negative index counts from the end,
# so -1 is the last entry. Lengths, counts, enum and union indexes and most ints are here.
_SMALL = [_zigzag_varint(i << 1) for i in range(64)] + [
    _zigzag_varint(~(i << 1)) for i in range(-64, 0)
]
# 14 bits at a time: _LAST is the varint of 0..16383, _MIDDLE the two bytes of 14 bits that
# more follow. A timestamp in milliseconds (six bytes) is three look-ups instead of a loop of
# six, which was 0.5 µs of each timestamp; the two tables take about 1.5 MB.
_LAST = [_zigzag_varint(i) for i in range(1 << 14)]
_MIDDLE = [bytes(((i & 0x7F) | 0x80, (i >> 7) | 0x80)) for i in range(1 << 14)]


def _unsigned(z: int) -> bytes:
    if z < 0x4000:
        return _LAST[z]
    if z < 0x10000000:
        return _MIDDLE[z & 0x3FFF] + _LAST[z >> 14]
    if z < 0x40000000000:
        return _MIDDLE[z & 0x3FFF] + _MIDDLE[z >> 14 & 0x3FFF] + _LAST[z >> 28]
    out = bytearray()
    while z > 0x3FFF:
        out += _MIDDLE[z & 0x3FFF]
        z >>= 14
    out += _LAST[z]
    return bytes(out)


def _length(n: int) -> bytes:
    """A length or count from 64 up (below that the generated code uses ``_SMALL``)."""
    return _unsigned(n << 1)


def _long(value: int, where: str) -> bytes:
    """A long outside -64..63 (inside, the generated code uses ``_SMALL``)."""
    # Zig-zag by sign, and _unsigned's first cases repeated: a timestamp is most of the
    # longs written, and each call and big-int operation saved here is 5% of its cost.
    if value >= 0:
        if value > _LONG_MAX:
            raise ValueError(f"{_at(where)}: {value} is out of range for a long")
        z = value << 1
    elif value >= _LONG_MIN:
        z = ~(value << 1)
    else:
        raise ValueError(f"{_at(where)}: {value} is out of range for a long")
    if z < 0x4000:
        return _LAST[z]
    if z < 0x40000000000 and z >= 0x10000000:
        return _MIDDLE[z & 0x3FFF] + _MIDDLE[z >> 14 & 0x3FFF] + _LAST[z >> 28]
    return _unsigned(z)


def _int(value: int, where: str) -> bytes:
    """An int outside -64..63 (inside, the generated code uses ``_SMALL``)."""
    if not _INT_MIN <= value <= _INT_MAX:
        raise ValueError(f"{_at(where)}: {value} is out of range for an int")
    return _unsigned(value << 1 if value >= 0 else ~(value << 1))


def _integer(value: Any, where: str, expected: str) -> int:
    """An int that is not exactly ``int`` (an IntEnum, numpy's ints); never a bool."""
    if not isinstance(value, Integral) or isinstance(value, bool):
        _wrong(where, expected, value)
    return int(value)


def _real(value: Any, where: str, expected: str) -> float:
    """A number for a float or double that is not exactly ``float``; never a bool."""
    if not isinstance(value, Real) or isinstance(value, bool):
        _wrong(where, expected, value)
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{_at(where)}: {value} is too large for a {expected}") from None


_PACK_FLOAT = struct.Struct("<f").pack
_PACK_DOUBLE = struct.Struct("<d").pack


def _float(value: float) -> bytes:
    try:
        return _PACK_FLOAT(value)
    except OverflowError:  # C's cast, which fastavro uses, makes it an infinity
        return _PACK_FLOAT(math.copysign(math.inf, value))


def _string(value: Any, where: str, expected: str) -> None:
    """Accept a str subclass (a StrEnum); refuse anything else."""
    if not isinstance(value, str):
        _wrong(where, expected, value)


def _bytes(value: Any, where: str, expected: str) -> None:
    if not isinstance(value, bytes | bytearray):
        _wrong(where, expected, value)


def _record(value: Any, where: str, expected: str) -> dict[str, Any]:
    """A mapping that is not exactly a dict, as a dict: a defaultdict must not invent fields."""
    if not isinstance(value, Mapping):
        _wrong(where, expected, value)
    return dict(value)


def _map(value: Any, where: str, expected: str) -> None:
    if not isinstance(value, Mapping):
        _wrong(where, expected, value)


def _array(value: Any, where: str, expected: str) -> None:
    if not isinstance(value, Sequence) or isinstance(value, str):
        _wrong(where, expected, value)


def _symbol(value: Any, symbols: list[str], where: str) -> bytes:
    """An enum value the look-up missed: a StrEnum hashes by its name, not its value."""
    try:
        index = symbols.index(value)
    except ValueError:
        shown = ", ".join(symbols[:20]) + (", ..." if len(symbols) > 20 else "")
        raise ValueError(f"{_at(where)}: {value!r} is not one of {shown}") from None
    return _SMALL[index] if index < 64 else _length(index)


def _fixed(value: Any, size: int, where: str) -> None:
    if not isinstance(value, bytes | bytearray):
        _wrong(where, f"fixed ({size} bytes)", value)
    if len(value) != size:
        raise ValueError(f"{_at(where)}: {len(value)} bytes where the schema fixes {size}")


def _tagged(value: tuple[Any, ...], branch: str | None, where: str) -> Any:
    """fastavro's tuple notation for a union, ``(branch name, value)``, read as its validation
    reads it: the value to write (None: the null branch). ``branch`` is the other branch's name
    (None: a type validation gives no name, such as an inline enum or a logical type)."""
    name, inner = value
    if name == "null":
        if inner is not None:
            _wrong(where, "null", inner)
        return None
    if branch is None or name != branch:
        raise ValueError(f"{_at(where)}: the union has no branch named {name!r}")
    if inner is None:
        _wrong(where, branch, inner)
    return inner


def _missing(where: str) -> ValueError:
    return ValueError(f"{_at(where)}: missing, and the schema gives it no default")


def _wrong(where: str, expected: str, value: Any) -> NoReturn:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    raise TypeError(f"{_at(where)}: expected {expected}, got {type(value).__name__} {shown}")


def _at(where: str) -> str:
    return f"field {where}" if where else "the record"


_HELPERS: dict[str, Any] = {
    "_SMALL": _SMALL,
    "_EPOCH": _EPOCH,
    "_PACK_DOUBLE": _PACK_DOUBLE,
    **{
        f.__name__: f
        for f in (
            _length,
            _long,
            _int,
            _integer,
            _real,
            _float,
            _string,
            _bytes,
            _record,
            _map,
            _array,
            _symbol,
            _fixed,
            _tagged,
            _missing,
            _wrong,
        )
    },
}


# --- the generator -------------------------------------------------------------------------


class SourceBuilder:
    """What the writer's and the reader's generators share: the source lines, the constants
    they refer to (passed in the function's namespace, never written into its source), fresh
    local names, and the records being generated (one inside itself is recursive)."""

    def __init__(self, named: Mapping[str, Any]) -> None:
        self.named = named
        self.lines: list[str] = []
        self.constants: dict[str, Any] = {}
        self._ids = count(1)
        self._open: set[str] = set()

    def function(self, schema: Any) -> str:
        raise NotImplementedError

    def emit(self, depth: int, text: str) -> None:
        self.lines.append("    " * depth + text)

    def local(self) -> str:
        return f"v{next(self._ids)}"

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.constants)}"
        self.constants[name] = value
        return name


class _Generator(SourceBuilder):
    """Source lines of one ``write(record) -> bytes`` and the constants they refer to.

    Every value is written inline where its schema sits; ``where`` is the field's path, for
    messages. Values are held in fresh locals (``v1``, ``v2`` ...) so nested code never
    overwrites an outer value.
    """

    def function(self, schema: Any) -> str:
        self.lines = ["def write(v0):", "    buf = bytearray()"]
        self.value(schema, "v0", "", 1)
        self.lines.append("    return bytes(buf)")
        return "\n".join(self.lines) + "\n"

    def literal(self, value: Any) -> str:
        """Source for ``value``: itself when ``repr`` is one, else a constant's name."""
        if value is None or type(value) in {bool, int, str}:
            return repr(value)
        return self.constant(value)

    def value(self, schema: Any, var: str, where: str, depth: int, label: str = "") -> None:
        """Write ``var`` as ``schema``; ``label`` overrides what an error says was expected."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                self.primitive(schema, var, where, depth, label or schema)
                return
            if schema not in self.named:
                raise _Unsupported(f"unknown type {schema!r}")
            self.value(self.named[schema], var, where, depth, label)
            return
        if isinstance(schema, list):
            self.union(schema, var, where, depth)
            return
        if not isinstance(schema, dict) or not isinstance(schema.get("type"), str):
            raise _Unsupported(f"schema shape {schema!r}")
        kind = schema["type"]
        logical = schema.get("logicalType")
        checks = depth  # where the check of the base value goes
        if isinstance(logical, str) and self.logical(schema, f"{kind}-{logical}", var, depth):
            checks = depth + 1  # only a converted value needs checking again
        label = label or (f"{kind} ({logical})" if logical else _name_of(schema))
        if kind in _PRIMITIVES:
            self.primitive(kind, var, where, depth, label, checks)
        elif kind == "record":
            self.record(schema, var, where, depth, label)
        elif kind == "enum":
            self.enum(schema, var, where, depth)
        elif kind == "array":
            self.array(schema, var, where, depth, label)
        elif kind == "map":
            self.map(schema, var, where, depth, label)
        elif kind == "fixed":
            self.emit(depth, f"_fixed({var}, {int(schema['size'])}, {where!r})")
            self.emit(depth, f"buf += {var}")
        else:
            raise _Unsupported(f"type {kind!r}")

    def logical(self, schema: dict[str, Any], key: str, var: str, depth: int) -> bool:
        """Convert ``var`` with fastavro's converter unless it already is the base value; True
        when that left a block open (``if var.__class__ is not <base>:``) at ``depth + 1``."""
        prepare = LOGICAL_WRITERS.get(key)
        if prepare is None:  # fastavro writes an unknown logical type as its base type
            return False
        base = _BASE_CLASS.get(schema["type"])
        if base is None:
            raise _Unsupported(f"logical type {key}")
        call = f"{self.constant(prepare)}({var}, {self.constant(schema)})"
        self.emit(depth, f"if {var}.__class__ is not {base}:")
        unit = _TIMESTAMP_UNITS.get(key)
        if unit is None:
            self.emit(depth + 1, f"{var} = {call}")
            return True
        # An aware datetime: timedelta // timedelta is fastavro's arithmetic in one C call;
        # a naive one (or an int) raises TypeError and takes fastavro's own converter.
        self.emit(depth + 1, "try:")
        self.emit(depth + 2, f"{var} = ({var} - _EPOCH) // {self.constant(unit)}")
        self.emit(depth + 1, "except TypeError:")
        self.emit(depth + 2, f"{var} = {call}")
        return True

    def primitive(
        self, kind: str, var: str, where: str, depth: int, label: str, checks: int | None = None
    ) -> None:
        """Check and write a primitive; ``checks`` is the depth of the type check (default
        ``depth``: deeper when it goes into a logical type's conversion block)."""
        at = repr(where)
        checks = depth if checks is None else checks
        if kind == "null":
            self.emit(depth, f"if {var} is not None: _wrong({at}, {label!r}, {var})")
        elif kind == "boolean":
            self.emit(depth, f"if {var} is True: buf += b'\\x01'")
            self.emit(depth, f"elif {var} is False: buf += b'\\x00'")
            self.emit(depth, f"else: _wrong({at}, {label!r}, {var})")
        elif kind in {"int", "long"}:
            self.emit(
                checks, f"if {var}.__class__ is not int: {var} = _integer({var}, {at}, {label!r})"
            )
            writer = "_int" if kind == "int" else "_long"
            self.emit(
                depth, f"buf += _SMALL[{var}] if -64 <= {var} < 64 else {writer}({var}, {at})"
            )
        elif kind == "float":
            self.emit(
                depth, f"if {var}.__class__ is not float: {var} = _real({var}, {at}, {label!r})"
            )
            self.emit(depth, f"buf += _float({var})")
        elif kind == "double":
            self.emit(
                depth, f"if {var}.__class__ is not float: {var} = _real({var}, {at}, {label!r})"
            )
            self.emit(depth, f"buf += _PACK_DOUBLE({var})")
        elif kind == "string":
            self.emit(checks, f"if {var}.__class__ is not str: _string({var}, {at}, {label!r})")
            self.emit(depth, f"{var} = {var}.encode()")
            self.sized(var, depth)
        else:  # bytes
            self.emit(checks, f"if {var}.__class__ is not bytes: _bytes({var}, {at}, {label!r})")
            self.sized(var, depth)

    def sized(self, var: str, depth: int) -> None:
        """``var`` (bytes) after its length."""
        size = self.local()
        self.emit(depth, f"{size} = len({var})")
        self.emit(depth, f"buf += _SMALL[{size}] if {size} < 64 else _length({size})")
        self.emit(depth, f"buf += {var}")

    def record(self, schema: dict[str, Any], var: str, where: str, depth: int, label: str) -> None:
        name = schema["name"]
        if name in self._open:
            raise _Unsupported(f"{name} is recursive")
        self._open.add(name)
        self.emit(
            depth, f"if {var}.__class__ is not dict: {var} = _record({var}, {where!r}, {label!r})"
        )
        for field in schema["fields"]:
            self.field(field, var, f"{where}.{field['name']}" if where else field["name"], depth)
        self._open.discard(name)

    def field(self, field: dict[str, Any], record: str, where: str, depth: int) -> None:
        """A record's field, filled in as fastavro's writer does when the record lacks it."""
        var = self.local()
        self.emit(depth, "try:")
        self.emit(depth + 1, f"{var} = {record}[{field['name']!r}]")
        self.emit(depth, "except KeyError:")
        kind = field["type"]
        if "default" in field:
            self.emit(depth + 1, f"{var} = {self.literal(field['default'])}")
        elif kind == "null" or (isinstance(kind, list) and "null" in kind):
            self.emit(depth + 1, f"{var} = None")
        else:
            self.emit(depth + 1, f"raise _missing({where!r}) from None")
        self.value(kind, var, where, depth)

    def enum(self, schema: dict[str, Any], var: str, where: str, depth: int) -> None:
        symbols = list(schema["symbols"])
        encoded = {s: _SMALL[i] if i < 64 else _length(i) for i, s in enumerate(symbols)}
        self.emit(depth, "try:")
        self.emit(depth + 1, f"buf += {self.constant(encoded)}[{var}]")
        self.emit(depth, "except (KeyError, TypeError):")
        self.emit(depth + 1, f"buf += _symbol({var}, {self.constant(symbols)}, {where!r})")

    def array(self, schema: dict[str, Any], var: str, where: str, depth: int, label: str) -> None:
        self.emit(depth, f"if {var}.__class__ is not list: _array({var}, {where!r}, {label!r})")
        self.emit(depth, f"if {var}:")
        self.blocks(var, depth + 1)
        item = self.local()
        self.emit(depth + 1, f"for {item} in {var}:")
        self.value(schema["items"], item, f"{where}[]", depth + 2)
        self.emit(depth, "buf += b'\\x00'")

    def map(self, schema: dict[str, Any], var: str, where: str, depth: int, label: str) -> None:
        self.emit(depth, f"if {var}.__class__ is not dict: _map({var}, {where!r}, {label!r})")
        self.emit(depth, f"if {var}:")
        self.blocks(var, depth + 1)
        key, item = self.local(), self.local()
        self.emit(depth + 1, f"for {key}, {item} in {var}.items():")
        self.primitive("string", key, f"{where} key", depth + 2, "string")
        self.value(schema["values"], item, f"{where}[{{}}]", depth + 2)
        self.emit(depth, "buf += b'\\x00'")

    def blocks(self, var: str, depth: int) -> None:
        """One block holding every item: its count (fastavro writes the same)."""
        size = self.local()
        self.emit(depth, f"{size} = len({var})")
        self.emit(depth, f"buf += _SMALL[{size}] if {size} < 64 else _length({size})")

    def union(self, branches: list[Any], var: str, where: str, depth: int) -> None:
        """A union of null and one other type; fastavro picks null for None, else the other."""
        if len(branches) != 2 or "null" not in branches or branches[0] == branches[1]:
            raise _Unsupported(f"union {branches!r}")
        null = branches.index("null")
        other = branches[1 - null]
        if isinstance(other, list):
            raise _Unsupported("a union inside a union")
        label = f"null or {_name_of(other)}"
        tagged = f"_tagged({var}, {_branch_name(other)!r}, {where!r})"
        self.emit(depth, f"if isinstance({var}, tuple): {var} = {tagged}")
        self.emit(depth, f"if {var} is None: buf += {_SMALL[null]!r}")
        self.emit(depth, "else:")
        self.emit(depth + 1, f"buf += {_SMALL[1 - null]!r}")
        self.value(other, var, where, depth + 1, label)


def _name_of(schema: Any) -> str:
    """How messages name a type: a named type by its full name, others by their type."""
    if isinstance(schema, dict):
        return str(schema.get("name") or schema.get("type"))
    return str(schema)


def _branch_name(schema: Any) -> str | None:
    """The name a union branch has in fastavro's tuple notation, as its validation reads it
    (its writer names a few more, but refuses them too inside a branch it validates)."""
    if isinstance(schema, dict):
        return str(schema["name"]) if schema["type"] == "record" else None
    return str(schema)
