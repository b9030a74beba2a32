"""Encode and decode records in either Avro wire format, whichever arrives.

- **Avro single-object encoding**: ``C3 01`` + CRC-64-AVRO fingerprint (8 bytes, little
  endian) + body. Self-describing without any service; the default.
- **Confluent Schema Registry format**: ``00`` + schema id (4 bytes, big endian) + body. Used
  for writing when a registry is configured, so that tools built for the registry (and
  publishers in other languages using Confluent's serializers) interoperate.

Either way the reader learns the *writer's* schema and resolves the body into the schema this
qbsync knows: data written by an older release (its snapshot is under
``schemas/avro/released/``) or by a newer publisher through the registry reads as the current
record, with defaults for fields the writer did not have. That is what lets a schema change
roll out without stopping a pipeline.
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fastavro
import fastavro.schema

from core.contracts import _registry
from core.contracts._compiled import Writer, compile_writer
from core.contracts._compiled_read import Reader, compile_reader
from core.contracts._errors import ContractError
from core.contracts._registry import (
    RegistryClient,
    RegistryRefused,
    SchemaUnknownToRegistry,
    registry_from_url,
    subject_for,
)
from core.contracts._schemas import SchemaSet, load_released, load_schemas
from core.settings import Settings

__all__ = [
    "SCHEMA_REGISTRY",
    "SINGLE_OBJECT",
    "AvroCodec",
    "DecodeError",
    "EncodeError",
    "codec_from_settings",
]

SINGLE_OBJECT = "single-object"
SCHEMA_REGISTRY = "schema-registry"

_MAGIC = b"\xc3\x01"
_HEADER = len(_MAGIC) + 8
_REGISTRY_MAGIC = b"\x00"
_REGISTRY_HEADER = len(_REGISTRY_MAGIC) + 4
# What reading a body that does not match its schema raises, from fastavro's reader or the
# generated one (core/contracts/_compiled_read.py). OverflowError: fastavro's converters on a
# date or a timestamp past Python's range.
_UNREADABLE = (EOFError, ValueError, TypeError, IndexError, UnicodeDecodeError, OverflowError)


class DecodeError(ContractError):
    """Bytes that are not a record we know; the message says why."""


class EncodeError(ContractError):
    """A record that does not match its schema; the message names the field."""


@dataclass(frozen=True, eq=False)
class _Writer:
    """A schema data may have been written with, and how to read it as the current one.

    Compared by identity: the codec keeps the reader generated for each (a schema from the
    registry with the current fingerprint may still differ from ours in what the fingerprint
    leaves out, such as a logical type, so each is read by a reader of its own schema).
    """

    name: str
    schema: Any
    resolve: bool  # False: the writer schema is the current one, no resolution needed
    origin: str


class AvroCodec:
    """Encode and decode records by schema name; schemas are parsed once.

    ``registry`` (a client) or ``registry_url`` (default ``$QBSYNC_SCHEMA_REGISTRY_URL``)
    switches *encoding* to the registry format; decoding always accepts both. With
    ``auto_register`` False the codec only looks schemas up, for registries where a pipeline
    registers them ahead of deployment.

    Bodies are written by a writer generated for each schema on its first use
    (:mod:`core.contracts._compiled`: the same bytes for under half the CPU), or by fastavro's
    generic writer for a schema it does not support; ``compiled_writers`` False uses
    fastavro's for every schema (``bench/avro.py`` compares the two).

    Likewise bodies written with the current schema are read by a reader generated for the
    writer's schema on its first use (:mod:`core.contracts._compiled_read`: the same records,
    a customer event's for under half the CPU); data that needs resolving into the current
    schema (an older release's, or a registry schema with another fingerprint) and schemas the
    generator does not support are read by fastavro. ``compiled_readers`` False reads
    everything with fastavro.
    """

    def __init__(
        self,
        schemas: SchemaSet | None = None,
        *,
        registry: RegistryClient | None = None,
        registry_url: str | None = None,
        registry_config: Mapping[str, str] | None = None,
        auto_register: bool = True,
        released: Mapping[str, SchemaSet] | None = None,
        compiled_writers: bool = True,
        compiled_readers: bool = True,
    ) -> None:
        self._schemas = schemas or load_schemas()
        self._registry = registry or registry_from_url(registry_url, registry_config)
        self._auto_register = auto_register
        self._writers = self._known_writers(
            load_released(self._schemas.directory) if released is None else released
        )
        self._ids: dict[str, int] = {}
        self._by_id: dict[int, _Writer] = {}
        # Schema name -> its generated writer, None for fastavro's; None: fastavro's for all.
        self._compiled: dict[str, Writer | None] | None = {} if compiled_writers else None
        # Writer -> its generated reader, None for fastavro's; None: fastavro's for all.
        self._readers: dict[_Writer, Reader | None] | None = {} if compiled_readers else None

    @property
    def schemas(self) -> SchemaSet:
        return self._schemas

    @property
    def wire_format(self) -> str:
        """What :meth:`encode` writes: :data:`SCHEMA_REGISTRY` or :data:`SINGLE_OBJECT`."""
        return SCHEMA_REGISTRY if self._registry is not None else SINGLE_OBJECT

    def encode(self, schema_name: str, record: Mapping[str, Any]) -> bytes:
        schema = self._schemas.schema(schema_name)
        if self._registry is not None:
            header = _REGISTRY_MAGIC + struct.pack(">I", self.schema_id(schema_name))
        else:
            header = _MAGIC + self._schemas.fingerprint(schema_name)
        write = self._compiled_writer(schema_name, schema)
        try:
            if write is not None:
                return header + write(record)
            buffer = io.BytesIO()
            buffer.write(header)
            fastavro.schemaless_writer(buffer, schema, record)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise EncodeError(f"{schema_name}: {exc}") from exc
        return buffer.getvalue()

    def _compiled_writer(self, schema_name: str, schema: Any) -> Writer | None:
        """The writer generated for ``schema_name`` (on its first use), None for fastavro's."""
        compiled = self._compiled
        if compiled is None:
            return None
        try:
            return compiled[schema_name]
        except KeyError:
            write = compiled[schema_name] = compile_writer(schema)
            return write

    def _compiled_reader(self, writer: _Writer) -> Reader | None:
        """The reader generated for ``writer`` (on its first use); None for fastavro's, which
        also resolves data written with another schema into the current one."""
        readers = self._readers
        if readers is None or writer.resolve:
            return None
        try:
            return readers[writer]
        except KeyError:
            read = readers[writer] = compile_reader(writer.schema)
            return read

    def decode(self, data: bytes, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(schema name, record)``; ``expected`` refuses any other type.

        Raises :class:`DecodeError` for bytes that will never decode, and
        :class:`~core.contracts.RegistryUnavailable` when the registry does not answer (the
        same bytes may decode later).
        """
        if len(data) >= _HEADER and data.startswith(_MAGIC):
            writer = self._writers.get(data[2:_HEADER])
            if writer is None:
                raise DecodeError(f"no Avro schema with fingerprint {data[2:_HEADER].hex()}")
            body = data[_HEADER:]
        elif len(data) >= _REGISTRY_HEADER and data.startswith(_REGISTRY_MAGIC):
            (schema_id,) = struct.unpack(">I", data[1:_REGISTRY_HEADER])
            writer = self._writer_for_id(schema_id)
            body = data[_REGISTRY_HEADER:]
        else:
            raise DecodeError(
                "not Avro single-object encoding (expected header C3 01) nor the Schema"
                f" Registry format (00 + schema id): got {data[:2].hex(' ')!r} in"
                f" {len(data)} bytes"
            )
        name = writer.name
        if expected is not None and name != expected:
            raise DecodeError(f"expected a {expected} record, got {name}")
        read = self._compiled_reader(writer)
        try:
            if read is not None:
                record, end = read(body)
            else:
                reader = self._schemas.schema(name) if writer.resolve else None
                stream = io.BytesIO(body)
                record = fastavro.schemaless_reader(stream, writer.schema, reader)
                end = stream.tell()
        except _UNREADABLE as exc:
            raise DecodeError(f"{name}: body does not match the schema ({exc})") from exc
        except fastavro.read.SchemaResolutionError as exc:
            raise DecodeError(f"{name} from {writer.origin}: cannot be read ({exc})") from exc
        if end != len(body):
            raise DecodeError(f"{name}: {len(body) - end} bytes after the record")
        if not isinstance(record, dict):
            raise DecodeError(f"{name}: not a record")
        return name, record

    def schema_id(self, schema_name: str) -> int:
        """The registry's id for the current schema (registered on first use, then cached)."""
        cached = self._ids.get(schema_name)
        if cached is not None:
            return cached
        registry = self._registry
        if registry is None:
            raise EncodeError("no schema registry is configured")
        subject = subject_for(schema_name)
        schema = _registry.avro_schema(self._schemas.document(schema_name))
        try:
            if self._auto_register:
                schema_id = int(_registry.call(subject, registry.register_schema, subject, schema))
            else:
                found = _registry.call(subject, registry.lookup_schema, subject, schema)
                schema_id = int(found.schema_id)
        except SchemaUnknownToRegistry as exc:
            raise EncodeError(
                f"{schema_name} is not registered under subject {subject!r}; register it, or"
                " let qbsync do it (auto_register)"
            ) from exc
        except RegistryRefused as exc:
            raise EncodeError(str(exc)) from exc
        self._ids[schema_name] = schema_id
        self._by_id[schema_id] = _Writer(schema_name, self._schemas.schema(schema_name), False, "")
        return schema_id

    def _writer_for_id(self, schema_id: int) -> _Writer:
        cached = self._by_id.get(schema_id)
        if cached is not None:
            return cached
        if self._registry is None:
            raise DecodeError(
                f"Schema Registry format (schema id {schema_id}) but no registry is configured"
                f" (set {_registry.REGISTRY_URL_ENV})"
            )
        try:
            found = _registry.call(f"schema id {schema_id}", self._registry.get_schema, schema_id)
        except SchemaUnknownToRegistry as exc:
            raise DecodeError(str(exc)) from exc
        writer = self._parse_registered(schema_id, found)
        self._by_id[schema_id] = writer
        return writer

    def _parse_registered(self, schema_id: int, found: Any) -> _Writer:
        origin = f"registry schema id {schema_id}"
        if (getattr(found, "schema_type", None) or "AVRO") != "AVRO":
            raise DecodeError(f"{origin} is a {found.schema_type} schema, not Avro")
        if getattr(found, "references", None):
            raise DecodeError(f"{origin} uses schema references, which qbsync does not follow")
        try:
            schema = fastavro.schema.parse_schema(json.loads(found.schema_str))
        except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException) as exc:
            raise DecodeError(f"{origin} is not a valid Avro schema ({exc})") from exc
        name = schema.get("name") if isinstance(schema, dict) else None
        if not isinstance(name, str) or name not in self._schemas.parsed:
            raise DecodeError(f"{origin} is {name!r}, which this qbsync does not know")
        same = _fingerprint(schema) == self._schemas.fingerprints[name]
        return _Writer(name, schema, not same, origin)

    def _known_writers(self, released: Mapping[str, SchemaSet]) -> dict[bytes, _Writer]:
        """Fingerprint -> writer for the current schemas and every released snapshot."""
        writers: dict[bytes, _Writer] = {}
        for version, snapshot in reversed(list(released.items())):  # newest wins a tie
            aliases = {
                **{fp: name for name, fp in snapshot.fingerprints.items()},
                **snapshot.legacy_fingerprints,
            }
            for fingerprint, name in aliases.items():
                if name in self._schemas.parsed and fingerprint not in writers:
                    writers[fingerprint] = _Writer(
                        name, snapshot.schema(name), True, f"release {version}"
                    )
        for name, fingerprint in self._schemas.fingerprints.items():
            writers[fingerprint] = _Writer(name, self._schemas.schema(name), False, "current")
        return writers


def _fingerprint(schema: Any) -> bytes:
    canonical = fastavro.schema.to_parsing_canonical_form(schema)
    return bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))


def codec_from_settings(settings: Settings) -> AvroCodec:
    """The codec a process builds from its settings (registry or single-object encoding)."""
    registry = settings.schema_registry
    return AvroCodec(
        registry_url=registry.url or None,
        registry_config=registry.client_config(),
        auto_register=registry.auto_register,
    )
