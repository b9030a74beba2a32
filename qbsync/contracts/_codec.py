"""Avro single-object encoding (``C3 01`` + CRC-64-AVRO fingerprint + body) over fastavro.

The fingerprint tells a reader which schema wrote the bytes, so one topic can carry several
record types and a consumer never guesses.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import fastavro

from qbsync.contracts._errors import ContractError
from qbsync.contracts._schemas import SchemaNotFound, SchemaSet, load_schemas

__all__ = ["AvroCodec", "DecodeError", "EncodeError"]

_MAGIC = b"\xc3\x01"
_HEADER = len(_MAGIC) + 8


class DecodeError(ContractError):
    """Bytes that are not a record we know; the message says why."""


class EncodeError(ContractError):
    """A record that does not match its schema; the message names the field."""


class AvroCodec:
    """Encode and decode records by schema name; schemas are parsed once."""

    def __init__(self, schemas: SchemaSet | None = None) -> None:
        self._schemas = schemas or load_schemas()

    def encode(self, schema_name: str, record: Mapping[str, Any]) -> bytes:
        schema = self._schemas.schema(schema_name)
        buffer = io.BytesIO()
        buffer.write(_MAGIC)
        buffer.write(self._schemas.fingerprint(schema_name))
        try:
            fastavro.schemaless_writer(buffer, schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EncodeError(f"{schema_name}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(schema name, record)``; ``expected`` refuses any other type."""
        if len(data) < _HEADER or not data.startswith(_MAGIC):
            raise DecodeError(
                f"not Avro single-object encoding: expected header C3 01, got {data[:2].hex(' ')!r}"
                f" in {len(data)} bytes"
            )
        try:
            name = self._schemas.by_fingerprint(data[2:_HEADER])
        except SchemaNotFound as exc:
            raise DecodeError(str(exc)) from exc
        if expected is not None and name != expected:
            raise DecodeError(f"expected a {expected} record, got {name}")
        try:
            record = fastavro.schemaless_reader(
                io.BytesIO(data[_HEADER:]), self._schemas.schema(name)
            )
        except (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError) as exc:
            raise DecodeError(f"{name}: body does not match the schema ({exc})") from exc
        if not isinstance(record, dict):
            raise DecodeError(f"{name}: not a record")
        return name, record
