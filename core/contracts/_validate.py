"""Turn an event given as JSON (or plain Python values) into an Avro record, or say what is
wrong with it: every problem, each with the path to the value (``invoice.lines[2].amount``).

fastavro stops at the first bad value and names no path; people fixing an event by hand need
the whole list at once. The conventions (also in ``docs/events.md``):

- decimals: a string (``"12.50"``) or a JSON number with at most the schema's scale in places;
- dates: ``"YYYY-MM-DD"``; timestamps: ISO-8601 with a UTC offset (``"2026-03-01T09:30:00Z"``),
  kept to the millisecond;
- uuids: the usual 36-character text; enums: the symbol as written in the schema;
- optional fields may be left out (their default applies); unknown fields are errors, because a
  misspelt field would otherwise be silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from core.contracts._catalog import EventType, event_type
from core.contracts._errors import ContractError
from core.contracts._schemas import SchemaSet, load_schemas, named_types

__all__ = [
    "InvalidEvent",
    "Problem",
    "from_json",
    "parse_json",
    "to_json",
    "validate_event",
]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_ENTITY_REF = "com.qbsync.events.EntityRef"
_ENVELOPE = "com.qbsync.events.Envelope"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one value."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class InvalidEvent(ContractError):
    """An event that does not match its schema; :attr:`problems` lists every problem."""

    def __init__(self, what: str, problems: Sequence[Problem]) -> None:
        self.what = what
        self.problems = tuple(problems)
        count = len(self.problems)
        listed = "; ".join(str(p) for p in self.problems)
        super().__init__(f"{what}: {count} problem{'s' if count != 1 else ''}: {listed}")


def parse_json(text: str, *, source: str = "<input>") -> Any:
    """Parse JSON keeping every number exact (decimals never pass through a float)."""
    try:
        return json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise InvalidEvent(
            source,
            [Problem("", f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}")],
        ) from None


def validate_event(
    kind: str | EventType,
    data: Any,
    *,
    tenant_id: str | None = None,
    schemas: SchemaSet | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The Avro record for an event of type ``kind``, or :class:`InvalidEvent` with every problem.

    The envelope's ``event_id`` and ``occurred_at`` default to a new uuid and ``now``; its
    ``entity`` and ``kind`` default to the event type's, and ``tenant_id`` to the one given.
    Values given for those must agree.
    """
    chosen = event_type(kind) if isinstance(kind, str) else kind
    known = schemas or load_schemas()
    if not isinstance(data, Mapping):
        raise InvalidEvent(
            chosen.name,
            [
                Problem(
                    "",
                    f"expected an object with envelope and {chosen.payload_field},"
                    f" got {_show(data)}",
                )
            ],
        )
    event = dict(data)
    problems: list[Problem] = []
    envelope = event.get("envelope")
    if isinstance(envelope, Mapping):
        envelope = dict(envelope)
        envelope.setdefault("event_id", uuid.uuid4())
        envelope.setdefault("occurred_at", now or datetime.now(UTC))
        wanted = {
            "entity": (chosen.entity, f"the event type {chosen.name}"),
            "kind": (chosen.kind, f"the event type {chosen.name}"),
            "tenant_id": (tenant_id, "the tenant given"),
        }
        for key, (value, source) in wanted.items():
            if value is None:
                continue
            if key not in envelope:
                envelope[key] = value
            elif envelope[key] != value:
                problems.append(
                    Problem(
                        f"envelope.{key}",
                        f"{_show(envelope[key])} does not match {source} ({value!r})",
                    )
                )
        event["envelope"] = envelope
    converter = _Converter(known.standalone[chosen.schema])
    record = converter.convert(known.standalone[chosen.schema], event, "")
    problems.extend(converter.problems)
    payload = chosen.payload_field
    reported = any(p.path == payload or p.path.startswith(payload + ".") for p in problems)
    if chosen.payload_required and event.get(payload) is None and not reported:
        problems.append(Problem(payload, f"required for {chosen.name}"))
    if problems:
        raise InvalidEvent(chosen.name, problems)
    if not isinstance(record, dict):  # pragma: no cover - a record schema gives a dict
        raise InvalidEvent(chosen.name, [Problem("", "not a record")])
    return record


def from_json(schema: Mapping[str, Any], value: Any, *, what: str = "record") -> Any:
    """Convert ``value`` for any standalone schema (see :meth:`SchemaSet.standalone`)."""
    converter = _Converter(schema)
    converted = converter.convert(schema, value, "")
    if converter.problems:
        raise InvalidEvent(what, converter.problems)
    return converted


def to_json(value: Any) -> Any:
    """A decoded record as JSON values, in the conventions :func:`validate_event` accepts."""
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        stamp = value.astimezone(UTC).isoformat(timespec="milliseconds")
        return stamp.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def _show(value: Any) -> str:
    """A value the way the user wrote it in JSON, short."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | Decimal):
        return str(value)
    text = str(value)
    return repr(text if len(text) <= 60 else text[:57] + "...")


class _Converter:
    """One pass over a value and its schema; problems accumulate instead of raising."""

    def __init__(self, schema: Any) -> None:
        self.problems: list[Problem] = []
        self._named: dict[str, Any] = named_types(schema)

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))

    def convert(self, schema: Any, value: Any, path: str) -> Any:
        if isinstance(schema, list):
            return self._union(schema, value, path)
        if isinstance(schema, str):
            if schema in self._named:
                return self.convert(self._named[schema], value, path)
            return self._primitive(schema, {}, value, path)
        kind = schema["type"]
        if kind == "record":
            return self._record(schema, value, path)
        if kind == "enum":
            return self._enum(schema, value, path)
        if kind == "array":
            return self._array(schema, value, path)
        if kind == "map":
            return self._map(schema, value, path)
        if kind == "fixed":
            return self._bytes(value, path, size=int(schema["size"]))
        if isinstance(kind, dict | list):
            return self.convert(kind, value, path)
        return self._primitive(kind, schema, value, path)

    def _union(self, branches: list[Any], value: Any, path: str) -> Any:
        if value is None:
            if "null" in branches:
                return None
            self.fail(path, "required (null is not allowed)")
            return None
        others = [b for b in branches if b != "null"]
        if len(others) == 1:
            return self.convert(others[0], value, path)
        for branch in others:
            trial = _Converter(None)
            trial._named = self._named
            converted = trial.convert(branch, value, path)
            if not trial.problems:
                return converted
        self.fail(path, f"matches none of the allowed types, got {_show(value)}")
        return None

    def _record(self, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected an object, got {_show(value)}")
            return None
        fields = schema["fields"]
        names = [f["name"] for f in fields]
        for key in value:
            if key not in names:
                close = difflib.get_close_matches(str(key), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                self.fail(_join(path, str(key)), f"unknown field{hint}")
        record: dict[str, Any] = {}
        for field in fields:
            name = field["name"]
            here = _join(path, name)
            if name in value:
                record[name] = self.convert(field["type"], value[name], here)
            elif "default" in field:
                record[name] = _default(field["default"])
            else:
                self.fail(here, "required field is missing")
        self._record_rules(_full_name(schema), record, path)
        return record

    def _record_rules(self, name: str, record: Mapping[str, Any], path: str) -> None:
        """What Avro cannot say: a reference needs something to resolve by; ids are not blank."""
        if name == _ENTITY_REF and not (record.get("id") or record.get("full_name")):
            self.fail(path, "give id or full_name (or both)")
        if name == _ENVELOPE:
            for key in ("tenant_id", "source_system", "entity_id"):
                if isinstance(record.get(key), str) and not record[key].strip():
                    self.fail(_join(path, key), "must not be empty")

    def _enum(self, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        symbols: list[str] = schema["symbols"]
        if isinstance(value, str) and value in symbols:
            return value
        hint = ""
        if isinstance(value, str):
            close = difflib.get_close_matches(value.upper(), symbols, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
        self.fail(path, f"expected one of {', '.join(symbols)}, got {_show(value)}{hint}")
        return None

    def _array(self, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, list | tuple):
            self.fail(path, f"expected a list, got {_show(value)}")
            return None
        return [self.convert(schema["items"], item, f"{path}[{i}]") for i, item in enumerate(value)]

    def _map(self, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        if not isinstance(value, Mapping):
            self.fail(path, f"expected an object, got {_show(value)}")
            return None
        return {
            str(key): self.convert(schema["values"], item, _join(path, str(key)))
            for key, item in value.items()
        }

    def _primitive(self, kind: str, schema: Mapping[str, Any], value: Any, path: str) -> Any:
        logical = schema.get("logicalType")
        if kind == "bytes" and logical == "decimal":
            return self._decimal(schema, value, path)
        if kind == "int" and logical == "date":
            return self._date(value, path)
        if kind == "long" and logical == "timestamp-millis":
            return self._timestamp(value, path)
        if kind == "string" and logical == "uuid":
            return self._uuid(value, path)
        if kind == "null":
            if value is not None:
                self.fail(path, f"expected null, got {_show(value)}")
            return None
        if kind == "boolean":
            if not isinstance(value, bool):
                self.fail(path, f"expected true or false, got {_show(value)}")
            return value
        if kind in _INT_RANGE:
            low, high = _INT_RANGE[kind]
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(path, f"expected a whole number, got {_show(value)}")
            elif not low <= value <= high:
                self.fail(path, f"expected a whole number from {low} to {high}, got {value}")
            return value
        if kind in {"float", "double"}:
            if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
                self.fail(path, f"expected a number, got {_show(value)}")
                return None
            return float(value)
        if kind == "string":
            if not isinstance(value, str):
                self.fail(path, f"expected text, got {_show(value)}")
            return value
        if kind == "bytes":
            return self._bytes(value, path)
        self.fail(path, f"unsupported schema type {kind!r}")  # pragma: no cover
        return None

    def _decimal(self, schema: Mapping[str, Any], value: Any, path: str) -> Decimal | None:
        scale = int(schema.get("scale", 0))
        precision = int(schema["precision"])
        expected = f"expected a decimal with {scale} places"
        number: Decimal | None = None
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, float):
            number = Decimal(repr(value))
        elif isinstance(value, str) and value.strip():
            try:
                number = Decimal(value.strip())
            except InvalidOperation:
                number = None
        if number is None or not number.is_finite():
            self.fail(path, f"{expected}, got {_show(value)}")
            return None
        if number != 0 and number.adjusted() >= precision - scale:
            self.fail(
                path,
                f"expected a decimal with at most {precision - scale} digits before the point,"
                f" got {_show(value)}",
            )
            return None
        exact = number.quantize(Decimal(1).scaleb(-scale))
        if exact != number:
            self.fail(path, f"{expected}, got {_show(value)}")
            return None
        return exact

    def _date(self, value: Any, path: str) -> date | None:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and _DATE.match(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(path, f"expected a date as YYYY-MM-DD, got {_show(value)}")
        return None

    def _timestamp(self, value: Any, path: str) -> datetime | None:
        stamp: datetime | None = value if isinstance(value, datetime) else None
        if isinstance(value, str) and "T" in value:
            try:
                stamp = datetime.fromisoformat(value)
            except ValueError:
                stamp = None
        if stamp is None:
            self.fail(
                path,
                f"expected an ISO-8601 timestamp such as 2026-03-01T09:30:00Z, got {_show(value)}",
            )
            return None
        if stamp.tzinfo is None or stamp.utcoffset() is None:
            self.fail(
                path, f"the timestamp needs a UTC offset (e.g. Z or -05:00), got {_show(value)}"
            )
            return None
        stamp = stamp.astimezone(UTC)
        return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)

    def _uuid(self, value: Any, path: str) -> uuid.UUID | None:
        if isinstance(value, uuid.UUID):
            return value
        if isinstance(value, str):
            try:
                return uuid.UUID(value)
            except ValueError:
                pass
        self.fail(
            path,
            f"expected a UUID such as 4b0c6b0e-1a2b-4c3d-9e8f-0a1b2c3d4e5f, got {_show(value)}",
        )
        return None

    def _bytes(self, value: Any, path: str, *, size: int | None = None) -> bytes | None:
        data: bytes | None = value if isinstance(value, bytes) else None
        if isinstance(value, str):
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                data = None
        if data is None:
            self.fail(path, f"expected base64 text, got {_show(value)}")
        elif size is not None and len(data) != size:
            self.fail(path, f"expected exactly {size} bytes, got {len(data)}")
        return data


def _full_name(schema: Mapping[str, Any]) -> str:
    name = str(schema["name"])
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _default(default: Any) -> Any:
    """A field's Avro default as a value (ours are null, [], {} and booleans)."""
    if isinstance(default, list):
        return list(default)
    if isinstance(default, dict):
        return dict(default)
    return default
