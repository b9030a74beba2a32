"""Load every ``.avsc`` once and make each one self-contained.

Files are named by the type's full name (``com.qbsync.events.Customer.avsc``) and may refer to
types defined in other files. Each schema is expanded into a standalone document (every named
type it uses defined inline, at its first use) because three consumers need exactly that: the
Schema Registry takes one document per subject, a reader resolving old data needs the old
writer schema in one piece, and ``docs/events.md`` walks the fields.

In a checkout the schemas are read from ``schemas/avro``; an installed wheel carries them as
package data (``core/contracts/avro``). Snapshots of released versions sit under
``released/<version>/`` next to them and are loaded with :func:`load_released`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro.schema

from core.contracts._errors import ContractError

__all__ = [
    "SchemaNotFound",
    "SchemaSet",
    "default_schema_dir",
    "load_released",
    "load_schemas",
    "named_types",
]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "enum", "fixed"})


class SchemaNotFound(ContractError):
    """No schema of that name or fingerprint, or a schema refers to a type that is nowhere."""


@dataclass(frozen=True)
class SchemaSet:
    """Schemas by full name: parsed (for fastavro), standalone JSON, and fingerprints.

    ``fingerprints`` are the CRC-64-AVRO of the Parsing Canonical Form (8 bytes, little
    endian), as Avro single-object encoding puts them in every message.
    """

    parsed: dict[str, Any]
    fingerprints: dict[str, bytes]
    standalone: dict[str, dict[str, Any]]
    definitions: dict[str, dict[str, Any]]
    directory: Path
    legacy_fingerprints: dict[bytes, str]

    def schema(self, name: str) -> Any:
        try:
            return self.parsed[name]
        except KeyError:
            raise SchemaNotFound(f"no Avro schema named {name!r}") from None

    def fingerprint(self, name: str) -> bytes:
        self.schema(name)
        return self.fingerprints[name]

    def by_fingerprint(self, fingerprint: bytes) -> str:
        for name, known in self.fingerprints.items():
            if known == fingerprint:
                return name
        raise SchemaNotFound(f"no Avro schema with fingerprint {fingerprint.hex()}")

    def document(self, name: str) -> str:
        """The standalone schema as compact JSON (what the Schema Registry stores)."""
        self.schema(name)
        return json.dumps(self.standalone[name], separators=(",", ":"), ensure_ascii=False)


def default_schema_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "schemas" / "avro"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "avro"


@cache
def load_schemas(directory: Path | None = None, *, released: bool = False) -> SchemaSet:
    """Parse every ``*.avsc`` in ``directory``; references may point to any other file in it.

    ``released`` also computes :attr:`SchemaSet.legacy_fingerprints` (see
    :func:`_legacy_fingerprints`), which only data written by a release can carry.
    """
    folder = directory or default_schema_dir()
    files = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.avsc")}
    if not files:
        raise SchemaNotFound(f"no .avsc files in {folder}")
    definitions: dict[str, dict[str, Any]] = {}
    for raw in files.values():
        _collect(raw, "", definitions)
    standalone: dict[str, dict[str, Any]] = {}
    for stem, raw in sorted(files.items()):
        name = _full_name(raw, "")
        if name != stem:
            raise SchemaNotFound(f"{folder / stem}.avsc defines {name!r}; name the file after it")
        expanded = _expand(raw, "", definitions, set())
        if not isinstance(expanded, dict):  # pragma: no cover - _full_name guarantees a dict
            raise SchemaNotFound(f"{name}: not a named type")
        standalone[name] = expanded
    parsed = {name: fastavro.schema.parse_schema(doc) for name, doc in standalone.items()}
    fingerprints = {
        name: bytes.fromhex(
            fastavro.schema.fingerprint(
                fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO"
            )
        )
        for name, schema in parsed.items()
    }
    return SchemaSet(
        parsed=parsed,
        fingerprints=fingerprints,
        standalone=standalone,
        definitions=definitions,
        directory=folder,
        legacy_fingerprints=_legacy_fingerprints(files) if released else {},
    )


def load_released(directory: Path | None = None) -> dict[str, SchemaSet]:
    """Every released snapshot (``released/<version>/``), oldest first by version number."""
    folder = (directory or default_schema_dir()) / "released"
    if not folder.is_dir():
        return {}
    versions = sorted((p for p in folder.iterdir() if p.is_dir()), key=_version_key)
    return {p.name: load_schemas(p, released=True) for p in versions}


def _legacy_fingerprints(files: Mapping[str, Any]) -> dict[bytes, str]:
    """The fingerprints qbsync 0.1.0 stamped on messages, by schema name.

    0.1.0 fingerprinted each file as written, with the types it referred to left as names,
    which is not the Parsing Canonical Form of the schema (that inlines them). The result is
    deterministic (a file could only be parsed after the files it refers to), so readers can
    still recognise those messages; writers now use the standard fingerprint.
    """
    named: dict[str, Any] = {}
    pending = dict(files)
    found: dict[bytes, str] = {}
    while pending:
        progress = False
        for stem, raw in list(pending.items()):
            try:
                parsed = fastavro.schema.parse_schema(raw, named_schemas=named)
            except fastavro.schema.UnknownType:
                continue
            del pending[stem]
            progress = True
            canonical = fastavro.schema.to_parsing_canonical_form(parsed)
            found[bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))] = stem
        if not progress:  # pragma: no cover - load_schemas already resolved every reference
            break
    return found


def named_types(schema: Any) -> dict[str, dict[str, Any]]:
    """Every named type defined in ``schema``, by full name (its ``name`` made full too).

    Walkers need this up front: a standalone schema defines a type at its first use, which may
    sit in a union branch or list the value at hand does not take.
    """
    found: dict[str, dict[str, Any]] = {}
    _collect(schema, "", found)
    return found


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else -1 for part in path.name.split("."))


def _full_name(node: Mapping[str, Any], namespace: str) -> str:
    if node.get("type") not in _NAMED:
        raise SchemaNotFound(f"expected a named type, got {node.get('type')!r}")
    name = str(node["name"])
    if "." in name:
        return name
    space = str(node.get("namespace", namespace))
    return f"{space}.{name}" if space else name


def _reference(name: str, namespace: str) -> str:
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _collect(node: Any, namespace: str, into: dict[str, dict[str, Any]]) -> None:
    """Index every named type defined anywhere (including inline ones such as an enum)."""
    if isinstance(node, list):
        for branch in node:
            _collect(branch, namespace, into)
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in _NAMED:
        full = _full_name(node, namespace)
        into[full] = {key: value for key, value in node.items() if key != "namespace"}
        into[full]["name"] = full
        space = full.rpartition(".")[0]
        for field in node.get("fields", ()):
            _collect(field["type"], space, into)
    elif kind == "array":
        _collect(node["items"], namespace, into)
    elif kind == "map":
        _collect(node["values"], namespace, into)
    elif isinstance(kind, dict | list):
        _collect(kind, namespace, into)


def _expand(
    node: Any, namespace: str, definitions: Mapping[str, dict[str, Any]], defined: set[str]
) -> Any:
    """``node`` with every named type inlined at its first use, by full name after that."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return node
        full = _reference(node, namespace)
        if full in defined:
            return full
        if full not in definitions:
            raise SchemaNotFound(f"unknown type {full!r}")
        return _expand(definitions[full], "", definitions, defined)
    if isinstance(node, list):
        return [_expand(branch, namespace, definitions, defined) for branch in node]
    kind = node.get("type")
    if kind in _NAMED:
        full = _full_name(node, namespace)
        if full in defined:
            return full
        defined.add(full)
        space, _, short = full.rpartition(".")
        expanded = {key: value for key, value in node.items() if key not in {"name", "namespace"}}
        expanded = {"type": kind, "name": short, "namespace": space, **expanded}
        if kind == "record":
            expanded["fields"] = [
                {**field, "type": _expand(field["type"], space, definitions, defined)}
                for field in node["fields"]
            ]
        return expanded
    if kind == "array":
        return {**node, "items": _expand(node["items"], namespace, definitions, defined)}
    if kind == "map":
        return {**node, "values": _expand(node["values"], namespace, definitions, defined)}
    if isinstance(kind, dict | list):
        return _expand(kind, namespace, definitions, defined)
    return node
