"""Load every ``.avsc`` once, resolving named types across files.

Files are named by the record's full name (``com.qbsync.events.Customer.avsc``) so a reader can
find a type from a reference. In a checkout the schemas are read from ``schemas/avro``; an
installed wheel carries them as package data (``qbsync/contracts/avro``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro.schema

from qbsync.contracts._errors import ContractError

__all__ = ["SchemaNotFound", "SchemaSet", "default_schema_dir", "load_schemas"]


class SchemaNotFound(ContractError):
    """No schema of that name or fingerprint."""


@dataclass(frozen=True)
class SchemaSet:
    """Parsed schemas by full name, with their single-object fingerprints."""

    parsed: dict[str, Any]
    fingerprints: dict[str, bytes]

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


def default_schema_dir() -> Path:
    checkout = Path(__file__).resolve().parents[2] / "schemas" / "avro"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent / "avro"


@cache
def load_schemas(directory: Path | None = None) -> SchemaSet:
    """Parse every schema in ``directory``; references may point to any other file in it."""
    folder = directory or default_schema_dir()
    pending = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in folder.glob("*.avsc")}
    if not pending:
        raise SchemaNotFound(f"no .avsc files in {folder}")
    named: dict[str, Any] = {}
    parsed: dict[str, Any] = {}
    # Parse in dependency order by retrying what still references unknown names.
    while pending:
        progress = False
        for name, raw in list(pending.items()):
            try:
                parsed[name] = fastavro.schema.parse_schema(raw, named_schemas=named)
            except fastavro.schema.UnknownType:
                continue
            del pending[name]
            progress = True
        if not progress:
            raise SchemaNotFound(f"unresolvable references in {sorted(pending)} under {folder}")
    fingerprints = {
        name: bytes.fromhex(
            fastavro.schema.fingerprint(
                fastavro.schema.to_parsing_canonical_form(schema), "CRC-64-AVRO"
            )
        )
        for name, schema in parsed.items()
    }
    return SchemaSet(parsed=parsed, fingerprints=fingerprints)
