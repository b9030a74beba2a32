"""Build one request element (``CustomerAddRq`` ...) from values keyed by element name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from lxml import etree

from connectors.qbxml._entities import ENTITIES, FieldSpec
from connectors.qbxml._errors import FieldError

__all__ = ["build_request", "clean_text"]

# XML 1.0 cannot carry most C0 control characters and QuickBooks cannot store them: they are
# removed on purpose (a tab or a newline in a memo is kept).
_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

Action = Literal["Add", "Mod"]


def clean_text(value: str) -> str:
    return _UNSTORABLE.sub("", value)


def build_request(
    entity: str,
    action: Action,
    values: Mapping[str, Any],
    *,
    qb_id: str | None = None,
    edit_sequence: str | None = None,
) -> str:
    """Return e.g. ``<CustomerAddRq><CustomerAdd>...</CustomerAdd></CustomerAddRq>``.

    Unknown keys in ``values`` are an error (a typo must not silently drop data); ``None``
    values are omitted. A Mod needs the record's id and its current EditSequence.
    """
    try:
        spec = ENTITIES[entity]
    except KeyError:
        raise FieldError(f"no qbXML mapping for entity {entity!r}") from None
    body_name = f"{spec.name}{action}"
    request = etree.Element(f"{body_name}Rq")
    body = etree.SubElement(request, body_name)
    if action == "Mod":
        if not qb_id or not edit_sequence:
            raise FieldError(f"{body_name}: a Mod needs {spec.id_element} and EditSequence")
        _text(body, FieldSpec(spec.id_element, 36), qb_id, body_name)
        _text(body, FieldSpec("EditSequence", 16), edit_sequence, body_name)
    _fill(body, spec.fields, values, body_name)
    return str(etree.tostring(request, encoding="unicode"))


def _fill(
    parent: etree._Element, fields: tuple[FieldSpec, ...], values: Mapping[str, Any], path: str
) -> None:
    known = {f.element for f in fields}
    unknown = sorted(set(values) - known)
    if unknown:
        raise FieldError(f"{path}: unknown element(s) {', '.join(unknown)}")
    for field in fields:
        value = values.get(field.element)
        if value is None:
            continue
        where = f"{path}/{field.element}"
        if field.kind == "group":
            if not isinstance(value, Mapping):
                raise FieldError(f"{where}: expected a group of fields, got {value!r}")
            if any(v is not None for v in value.values()):
                _fill(etree.SubElement(parent, field.element), field.children, value, where)
        elif field.kind == "bool":
            if not isinstance(value, bool):
                raise FieldError(f"{where}: expected true or false, got {value!r}")
            etree.SubElement(parent, field.element).text = "true" if value else "false"
        else:
            _text(parent, field, value, path)


def _text(parent: etree._Element, field: FieldSpec, value: Any, path: str) -> None:
    where = f"{path}/{field.element}"
    if not isinstance(value, str):
        raise FieldError(f"{where}: expected text, got {value!r}")
    text = clean_text(value)
    if field.max_length is not None and len(text) > field.max_length:
        raise FieldError(
            f"{where}: {text!r} is {len(text)} characters; QuickBooks allows {field.max_length}"
        )
    etree.SubElement(parent, field.element).text = text
