"""Avro bodies read by a function generated for each schema, instead of fastavro's reader.

Why it exists (issue #20, the worker's CPU per event): ``fastavro.schemaless_reader`` looks
everything up per value at run time (the type's name, its reader, its logical type, a named
type's definition), so a customer event's decode through the codec cost about 36 µs, 29 of them
in fastavro's reader: 14% of the worker's CPU. :func:`compile_reader` walks the schema once and
generates the source of one function that reads the fields in order, each inline (a table look-up
for the one-byte varints most lengths, counts, indexes and small ints are, a slice for strings and
bytes, nested records as dict displays). Logical types go through fastavro's own converters
(``fastavro.logical_readers``), but for timestamps, whose arithmetic (fastavro's expression,
``epoch + timedelta(microseconds=...)``) is inline: 0.2 µs of each timestamp's 0.5.

Measured with ``bench/avro.py --records 20000 --repeat 5``, three runs on a shared 2-core
machine (CPU µs per record): a customer event's decode through the codec 10.0-10.3 with this
reader, 22.0-23.2 with fastavro's (0.44-0.46 of it); the bare readers 9.4-9.7 against 21.4-22.6.
A Command's: 8.5-8.8 against 12.6-12.9 (0.67-0.70), the bare readers 8.1-8.2 against 12.0-12.3;
what is left of it is mostly its two UUIDs and four timestamps, converted as fastavro converts
them (without their conversion the same reader takes 5.0).

What it returns: exactly what ``fastavro.schemaless_reader(stream, schema, None)`` returns (the
same dict, key order, Python types and values), and the number of bytes it read. Where fastavro
takes bytes no writer makes, so does this reader, with the same value: any non-zero byte is
true; an over-long varint keeps the low 64 bits as fastavro's C reader does (shifting modulo 64
past the tenth byte); an int is not checked against 32 bits; a negative enum symbol or union
branch index counts from the end (Python's indexing, which fastavro uses); an array or map block
count of -2**63 is a block of no items (fastavro negates it in 64 bits).
``tests/core/contracts/test_compiled_read.py`` checks all of it on generated records of every
schema, cut short and corrupted.

What it raises on bytes that do not read, and only that: :class:`EOFError` for a body that ends
inside a value (a string's length, a block's count beyond the bytes left), :class:`ValueError`
for a value that cannot be (a negative length, a union branch or enum symbol the schema does not
have, a logical type's converter refusing the base value, even with an ``OverflowError`` or a
``decimal`` exception), its subclass :class:`UnicodeDecodeError` for a string that is not UTF-8.
The codec reports each as :class:`~core.contracts.DecodeError`. A length or count is checked
against the bytes left before anything is read or allocated for it, so a huge or negative one
costs nothing and never loops.

:func:`compile_reader` returns None for what it does not support, and the codec keeps fastavro
for that schema: a recursive type, an array whose items can take no bytes (of nulls, of empty
records: fastavro reads any count of them, a count the bytes left cannot bound), a type it does
not know (an error type), arrays nested deeper than Python nests blocks. Reading shares nothing
with writing but a few names (the writer's checks, tables and tuple notation are of no use
here), so it is a module of its own beside :mod:`core.contracts._compiled`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, cast

from fastavro.logical_readers import LOGICAL_READERS

from core.contracts._compiled import (
    _PRIMITIVES,
    SourceBuilder,
    _at,
    _Unsupported,
    generated,
)

__all__ = ["Reader", "compile_reader"]

Reader = Callable[[bytes], tuple[Any, int]]
"""Reads the Avro body of one record (no header) from the start of the bytes: the record, as
``fastavro.schemaless_reader`` returns it, and how many bytes it took (the rest is not read)."""

_MASK64 = (1 << 64) - 1
_LONG_MIN = -(2**63)
# What a logical type's converter may raise on a base value it cannot convert (a day count
# past year 9999, a string that is no UUID, a decimal past its context's limits).
_CONVERSION_ERRORS = (ArithmeticError, ValueError, TypeError)


def compile_reader(parsed_schema: Any) -> Reader | None:
    """A reader specialised for ``parsed_schema`` (from ``fastavro.parse_schema``), or None.

    Compiling takes a few milliseconds, so the codec does it once per schema, on first use.
    """
    named = parsed_schema.get("__named_schemas", {}) if isinstance(parsed_schema, dict) else {}
    made = generated(_Generator(named), parsed_schema, "reader", _HELPERS)
    return None if made is None else cast(Reader, made["read"])


# --- what the generated code calls -------------------------------------------------------------


def _zigzag(z: int) -> int:
    return (z >> 1) ^ -(z & 1)


# One-byte varints, indexed by the byte. _ZIGZAG: the int or long (None: more bytes follow).
# _HALF: a length or count, which a one-byte varint holds when even (-1: more bytes follow, or a
# negative one; either way _varint reads it).
_ZIGZAG = tuple(_zigzag(b) if b < 0x80 else None for b in range(256))
_HALF = tuple(b >> 1 if b < 0x80 and not b & 1 else -1 for b in range(256))


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """The zig-zag varint at ``pos`` and the position after it (the generated code reads most
    one-byte ones itself).

    Unrolled up to six bytes (a timestamp in milliseconds is six), then read as fastavro's C
    reader reads it: into 64 bits, each byte's 7 bits shifted modulo 64 (C's shift on x86-64),
    so an over-long varint reads as it does there. ``IndexError`` when the body ends in it.
    """
    z = data[pos]
    if z < 0x80:
        return (z >> 1) ^ -(z & 1), pos + 1
    z &= 0x7F
    b = data[pos + 1]
    if b < 0x80:
        z |= b << 7
        return (z >> 1) ^ -(z & 1), pos + 2
    z |= (b & 0x7F) << 7
    b = data[pos + 2]
    if b < 0x80:
        z |= b << 14
        return (z >> 1) ^ -(z & 1), pos + 3
    z |= (b & 0x7F) << 14
    b = data[pos + 3]
    if b < 0x80:
        z |= b << 21
        return (z >> 1) ^ -(z & 1), pos + 4
    z |= (b & 0x7F) << 21
    b = data[pos + 4]
    if b < 0x80:
        z |= b << 28
        return (z >> 1) ^ -(z & 1), pos + 5
    z |= (b & 0x7F) << 28
    b = data[pos + 5]
    if b < 0x80:
        z |= b << 35
        return (z >> 1) ^ -(z & 1), pos + 6
    z |= (b & 0x7F) << 35
    shift = 42
    pos += 6
    while b & 0x80:
        b = data[pos]
        pos += 1
        z |= (b & 0x7F) << (shift & 63)
        shift += 7
    z &= _MASK64
    return (z >> 1) ^ -(z & 1), pos


def _size(data: bytes, pos: int, where: str, kind: str) -> tuple[int, int]:
    """A string's or bytes' length of more than one byte (or a negative one)."""
    size, pos = _varint(data, pos)
    if size < 0:
        raise ValueError(f"{_at(where)}: a {kind} of {size} bytes")
    return size, pos


def _block(data: bytes, pos: int, n: int, least: int, where: str) -> tuple[int, int]:
    """An array's or map's block count of more than one byte (or a negative one, followed by
    the block's size in bytes, which fastavro skips unchecked): how many items to read, -1 for
    none though the block does not end the array. ``least``: the fewest bytes an item takes."""
    items, pos = _varint(data, pos)
    if items < 0:
        _, pos = _varint(data, pos)
        if items == _LONG_MIN:  # fastavro negates it in 64 bits: still negative, no items
            return -1, pos
        items = -items
    if items * least > n - pos:
        raise EOFError(f"{_at(where)}: {items} items in the {n - pos} bytes left")
    return items, pos


def _short(where: str, kind: str, size: int, left: int) -> EOFError:
    return EOFError(f"{_at(where)}: a {kind} of {size} bytes in the {left} bytes left")


@cache
def _branches(size: int) -> tuple[int, ...]:
    """A union's branch by its one-byte index (-1: more bytes follow, or none is that one)."""
    table = []
    for b in range(256):
        index = _zigzag(b) if b < 0x80 else size
        if -size <= index < 0:
            index += size
        table.append(index if 0 <= index < size else -1)
    return tuple(table)


def _branch(data: bytes, pos: int, size: int, where: str) -> tuple[int, int]:
    """A union's branch index of more than one byte, or one the union does not have."""
    index, pos = _varint(data, pos)
    if -size <= index < 0:  # fastavro indexes the list of branches: -1 is the last
        index += size
    if not 0 <= index < size:
        raise ValueError(f"{_at(where)}: branch {index} of a union of {size}")
    return index, pos


def _symbols(symbols: tuple[str, ...]) -> tuple[str | None, ...]:
    """An enum's symbol by its one-byte index, counting from the end as fastavro's list does
    (None: more bytes follow, or no symbol has that index)."""
    table: list[str | None] = []
    for b in range(256):
        index = _zigzag(b) if b < 0x80 else len(symbols)
        table.append(symbols[index] if -len(symbols) <= index < len(symbols) else None)
    return tuple(table)


def _symbol(data: bytes, pos: int, symbols: tuple[str, ...], where: str) -> tuple[str, int]:
    """An enum's symbol whose index takes more than one byte, or that it does not have."""
    index, pos = _varint(data, pos)
    try:
        return symbols[index], pos
    except IndexError:
        raise ValueError(f"{_at(where)}: symbol {index} of an enum of {len(symbols)}") from None


def _unconverted(where: str, label: str, exc: Exception) -> ValueError:
    return ValueError(f"{_at(where)}: cannot convert the {label} ({type(exc).__name__}: {exc})")


def _ended(n: int) -> EOFError:
    return EOFError(f"the body ends inside a value ({n} bytes)")


# fastavro's converters for timestamps, as expressions: the same arithmetic without a call
# (0.2 µs of each timestamp's 0.5).
_INLINE = {
    "long-timestamp-millis": "_EPOCH + _TIMEDELTA(0, 0, {} * 1000)",
    "long-timestamp-micros": "_EPOCH + _TIMEDELTA(0, 0, {})",
    "long-local-timestamp-millis": "_EPOCH_NAIVE + _TIMEDELTA(0, 0, {} * 1000)",
    "long-local-timestamp-micros": "_EPOCH_NAIVE + _TIMEDELTA(0, 0, {})",
}

_HELPERS: dict[str, Any] = {
    "_EPOCH": datetime(1970, 1, 1, tzinfo=UTC),
    "_EPOCH_NAIVE": datetime(1970, 1, 1),  # naive: local-timestamp-*
    "_TIMEDELTA": timedelta,
    "_ZIGZAG": _ZIGZAG,
    "_HALF": _HALF,
    "_UNPACK_FLOAT": struct.Struct("<f").unpack_from,
    "_UNPACK_DOUBLE": struct.Struct("<d").unpack_from,
    "_STRUCT_ERROR": struct.error,
    "_CONVERSION_ERRORS": _CONVERSION_ERRORS,
    **{
        f.__name__: f
        for f in (_varint, _size, _block, _short, _branch, _symbol, _unconverted, _ended)
    },
}


# --- the generator -------------------------------------------------------------------------


class _Generator(SourceBuilder):
    """Source lines of one ``read(data) -> (value, position)`` and the constants they refer to.

    Every value is read inline where its schema sits, into a fresh local (``v1``, ``v2`` ...);
    ``pos`` is the position in ``data`` and ``n`` its length. A read past the end raises
    ``IndexError`` (``data[pos]``) or ``struct.error`` (a float's bytes), which the function
    reports as one ``EOFError``; ``where`` is the field's path, for the other messages.
    """

    def function(self, schema: Any) -> str:
        self.lines = ["def read(data):", "    n = len(data)", "    pos = 0", "    try:"]
        result = self.value(schema, "", 2)
        if self.lines[-1] == "    try:":  # a null reads nothing
            self.emit(2, "pass")
        self.lines += [
            "    except (IndexError, _STRUCT_ERROR):",
            "        raise _ended(n) from None",
            f"    return {result}, pos",
        ]
        return "\n".join(self.lines) + "\n"

    def value(self, schema: Any, where: str, depth: int) -> str:
        """Read a value of ``schema``; return the expression holding it (a local, or None)."""
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return self.primitive(schema, where, depth)
            if schema not in self.named:
                raise _Unsupported(f"unknown type {schema!r}")
            return self.value(self.named[schema], where, depth)
        if isinstance(schema, list):
            return self.union(schema, where, depth)
        if not isinstance(schema, dict) or not isinstance(schema.get("type"), str):
            raise _Unsupported(f"schema shape {schema!r}")
        kind = schema["type"]
        if kind in _PRIMITIVES:
            var = self.primitive(kind, where, depth)
        elif kind == "record":
            var = self.record(schema, where, depth)
        elif kind == "enum":
            var = self.enum(schema, where, depth)
        elif kind == "array":
            var = self.array(schema, where, depth)
        elif kind == "map":
            var = self.map(schema, where, depth)
        elif kind == "fixed":
            var = self.sized("fixed", where, depth, int(schema["size"]))
        elif kind in self.named:  # {"type": "a.Name"}: fastavro reads the named type, as is
            return self.value(self.named[kind], where, depth)
        else:
            raise _Unsupported(f"type {kind!r}")
        logical = schema.get("logicalType")
        key = f"{kind}-{logical}" if logical else ""
        convert = LOGICAL_READERS.get(key)
        if convert is not None:  # fastavro reads an unknown logical type as its base type
            self.emit(depth, "try:")
            inline = _INLINE.get(key)
            if inline is not None:
                self.emit(depth + 1, f"{var} = {inline.format(var)}")
            else:
                call = f"{self.constant(convert)}({var}, {self.constant(schema)})"
                self.emit(depth + 1, f"{var} = {call}")
            self.emit(depth, "except _CONVERSION_ERRORS as exc:")
            label = f"{kind} ({logical})"
            self.emit(depth + 1, f"raise _unconverted({where!r}, {label!r}, exc) from exc")
        return var

    def primitive(self, kind: str, where: str, depth: int) -> str:
        if kind == "null":
            return "None"
        if kind in {"string", "bytes"}:
            return self.sized(kind, where, depth)
        var = self.local()
        if kind == "boolean":  # fastavro: any byte but 0 is true
            self.emit(depth, f"{var} = data[pos] != 0")
            self.emit(depth, "pos += 1")
        elif kind in {"int", "long"}:  # both are fastavro's read_long: no 32-bit check
            self.emit(depth, f"{var} = _ZIGZAG[data[pos]]")
            self.emit(depth, f"if {var} is None: {var}, pos = _varint(data, pos)")
            self.emit(depth, "else: pos += 1")
        elif kind == "float":
            self.emit(depth, f"{var} = _UNPACK_FLOAT(data, pos)[0]")
            self.emit(depth, "pos += 4")
        else:  # double
            self.emit(depth, f"{var} = _UNPACK_DOUBLE(data, pos)[0]")
            self.emit(depth, "pos += 8")
        return var

    def sized(self, kind: str, where: str, depth: int, size: int | None = None) -> str:
        """A string, bytes (their length first) or a fixed (``size``), checked against the
        bytes left before the slice: fastavro raises when fewer are left."""
        var = self.local()
        if size is None:
            self.emit(depth, f"{var} = _HALF[data[pos]]")
            self.emit(depth, f"if {var} < 0: {var}, pos = _size(data, pos, {where!r}, {kind!r})")
            self.emit(depth, "else: pos += 1")
            self.emit(depth, f"end = pos + {var}")
            self.emit(depth, f"if end > n: raise _short({where!r}, {kind!r}, {var}, n - pos)")
        else:
            self.emit(depth, f"end = pos + {size}")
            self.emit(depth, f"if end > n: raise _short({where!r}, {kind!r}, {size}, n - pos)")
        decode = ".decode()" if kind == "string" else ""  # strict: UnicodeDecodeError
        self.emit(depth, f"{var} = data[pos:end]{decode}")
        self.emit(depth, "pos = end")
        return var

    def record(self, schema: dict[str, Any], where: str, depth: int) -> str:
        name = schema["name"]
        if name in self._open:
            raise _Unsupported(f"{name} is recursive")
        self._open.add(name)
        values = []
        for field in schema["fields"]:
            path = f"{where}.{field['name']}" if where else field["name"]
            values.append(f"{field['name']!r}: {self.value(field['type'], path, depth)}")
        self._open.discard(name)
        var = self.local()
        self.emit(depth, f"{var} = {{{', '.join(values)}}}")
        return var

    def enum(self, schema: dict[str, Any], where: str, depth: int) -> str:
        symbols = tuple(schema["symbols"])
        table, listed = self.constant(_symbols(symbols)), self.constant(symbols)
        var = self.local()
        self.emit(depth, f"{var} = {table}[data[pos]]")
        self.emit(depth, f"if {var} is None: {var}, pos = _symbol(data, pos, {listed}, {where!r})")
        self.emit(depth, "else: pos += 1")
        return var

    def blocks(self, least: int, where: str, depth: int) -> int:
        """Open the loop over an array's or map's blocks and the items of each; return the
        depth of the loop's body. ``least``: the fewest bytes an item takes."""
        items = self.local()
        self.emit(depth, "while True:")
        self.emit(depth + 1, f"{items} = _HALF[data[pos]]")
        self.emit(
            depth + 1,
            f"if {items} < 0: {items}, pos = _block(data, pos, n, {least}, {where!r})",
        )
        self.emit(depth + 1, "else: pos += 1")
        self.emit(depth + 1, f"if not {items}: break")
        self.emit(depth + 1, f"for _ in range({items}):")
        return depth + 2

    def array(self, schema: dict[str, Any], where: str, depth: int) -> str:
        least = self.least(schema["items"])
        if least == 0:
            raise _Unsupported("an array of items that take no bytes")
        var = self.local()
        self.emit(depth, f"{var} = []")
        inner = self.blocks(least, where, depth)
        item = self.value(schema["items"], f"{where}[]", inner)
        self.emit(inner, f"{var}.append({item})")
        return var

    def map(self, schema: dict[str, Any], where: str, depth: int) -> str:
        var = self.local()
        self.emit(depth, f"{var} = {{}}")
        inner = self.blocks(1 + self.least(schema["values"]), where, depth)
        key = self.sized("string", f"{where} key", inner)
        item = self.value(schema["values"], f"{where}[{{}}]", inner)
        self.emit(inner, f"{var}[{key}] = {item}")
        return var

    def union(self, branches: list[Any], where: str, depth: int) -> str:
        """Any union; its branch index is read as fastavro indexes the list of branches."""
        if not branches:
            raise _Unsupported("an empty union")
        var, index = self.local(), self.local()
        self.emit(depth, f"{index} = {self.constant(_branches(len(branches)))}[data[pos]]")
        self.emit(
            depth,
            f"if {index} < 0: {index}, pos = _branch(data, pos, {len(branches)}, {where!r})",
        )
        self.emit(depth, "else: pos += 1")
        if len(branches) == 1:
            self.emit(depth, f"{var} = {self.value(branches[0], where, depth)}")
            return var
        for i, branch in enumerate(branches):
            if i == 0:
                self.emit(depth, f"if {index} == 0:")
            elif i < len(branches) - 1:
                self.emit(depth, f"elif {index} == {i}:")
            else:
                self.emit(depth, "else:")
            self.emit(depth + 1, f"{var} = {self.value(branch, where, depth + 1)}")
        return var

    def least(self, schema: Any) -> int:
        """The fewest bytes a value of ``schema`` takes (its items' bound on a block count)."""
        if isinstance(schema, list):
            return 1 + min((self.least(b) for b in schema), default=0)
        if isinstance(schema, dict):
            kind = schema.get("type")
            if kind == "record":
                if schema["name"] in self._open:
                    raise _Unsupported(f"{schema['name']} is recursive")
                self._open.add(schema["name"])
                fewest = sum(self.least(f["type"]) for f in schema["fields"])
                self._open.discard(schema["name"])
                return fewest
            if kind == "fixed":
                return int(schema["size"])
            if kind in {"enum", "array", "map"}:
                return 1
            return self.least(kind)
        if schema in self.named:
            return self.least(self.named[schema])
        return {"null": 0, "float": 4, "double": 8}.get(schema, 1)
