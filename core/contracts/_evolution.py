"""The evolution rule, checked by resolving real data rather than by comparing schema text.

Every schema must stay readable both ways across releases:

- *backward*: data written with a released schema (still on a topic, or from a publisher that
  has not upgraded) reads with the current schema;
- *forward*: data written with the current schema reads with a released one, so a consumer
  that has not upgraded yet keeps working (through the Schema Registry, which hands it the
  writer's schema; with single-object encoding, upgrade consumers first).

Each direction writes samples covering every enum symbol and union branch (see
:mod:`._samples`) with one schema and reads them with the other, exactly as a consumer would.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import fastavro

from core.contracts._samples import sample, variants_for
from core.contracts._schemas import SchemaSet

__all__ = ["check_compatibility"]


def check_compatibility(
    released: SchemaSet,
    current: SchemaSet,
    *,
    version: str = "the last release",
    forward: bool | Iterable[str] = True,
) -> list[str]:
    """Every way ``current`` breaks data of ``released`` (empty: compatible).

    ``forward`` is True (promised for every schema), False, or the schema names it is
    promised for.
    """
    promised = (
        set(current.parsed) if forward is True else set() if forward is False else set(forward)
    )
    problems: list[str] = []
    for name in sorted(released.parsed):
        if name not in current.parsed:
            problems.append(f"{name}: in {version} but gone now; data written by it has no reader")
            continue
        if released.fingerprints[name] == current.fingerprints[name]:
            continue
        failure = _first_failure(released, current, name)
        if failure:
            problems.append(
                f"{name}: data written by {version} does not read as the current schema: {failure}"
            )
        if name in promised:
            failure = _first_failure(current, released, name)
            if failure:
                problems.append(
                    f"{name}: current data does not read as {version}'s schema: {failure}"
                )
    return problems


def _first_failure(writer: SchemaSet, reader: SchemaSet, name: str) -> str | None:
    schema = writer.standalone[name]
    for variant in range(variants_for(schema) + 1):
        written = sample(schema, variant=variant)
        buffer = io.BytesIO()
        try:
            fastavro.schemaless_writer(buffer, writer.parsed[name], written)
            buffer.seek(0)
            read = fastavro.schemaless_reader(buffer, writer.parsed[name], reader.parsed[name])
        except Exception as exc:  # any failure to resolve is the finding itself
            return f"{type(exc).__name__}: {exc}"
        changed = _changed(written, read, "")
        if changed is not None:
            return changed
    return None


def _changed(written: Any, read: Any, path: str) -> str | None:
    """Where a value that both schemas have came out different.

    Avro's resolution rules allow promotions that keep the bytes readable but not the
    meaning (``bytes`` to ``string`` turns a decimal into text), so resolving is not enough.
    Fields only one side has are skipped: defaults fill new ones, dropped ones are gone.
    """
    if isinstance(written, dict) and isinstance(read, dict):
        for key in written.keys() & read.keys():
            found = _changed(written[key], read[key], f"{path}.{key}" if path else key)
            if found is not None:
                return found
        return None
    if isinstance(written, list) and isinstance(read, list) and len(written) == len(read):
        for index, (old, new) in enumerate(zip(written, read, strict=True)):
            found = _changed(old, new, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    promoted = isinstance(written, int | float) and isinstance(read, int | float)
    if (type(written) is not type(read) and not promoted) or written != read:
        return f"{path or 'the record'}: {written!r} reads as {read!r}"
    return None
