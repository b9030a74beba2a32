"""Regenerate ``_generated.py``, the request table, from Intuit's own files.

    python -m connectors.qbxml._generate [REFERENCE_DIR]     (default: ../shared/qbxml)

Why generated: qbXML has hundreds of elements per transaction, each with an exact position,
a maximum length, a type and sometimes a list of allowed values; typing them by hand is how
requests end up out of order. The element order, types, enumerations, repetition and choices
come from the 16.0 XSD (a superset of 13.0); the QuickBooks Desktop maximum lengths, "not in
QBD" and the version each element appeared in come from the annotated reference
(``qbxmlops130.xml``; ``qbxmlops140.xml`` for 14.0). Elements the 13.0 XSD does not have are
tagged 14.0 (if the 14.0 reference has them) or 16.0.

``tests/connectors/qbxml/test_generated.py`` runs :func:`generate` again and fails when the
committed table differs, and every builder's output is validated against the XSDs.

This is a developer tool: it imports ``xmlschema`` (a dev dependency), never at run time.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from lxml import etree

from connectors.qbxml._spec import ChoiceRule, FieldSpec, RequestSpec, version_key

__all__ = ["EXCLUDED", "SELECTION", "generate", "load_reference", "render"]

# Object → the requests qbsync builds for it. Accounts, classes, sales tax codes, terms and
# payment methods are only queried: qbsync matches them by exact name, never creates them.
SELECTION: dict[str, tuple[str, ...]] = {
    "Customer": ("Add", "Mod", "Query"),
    "Employee": ("Add", "Mod", "Query"),
    "SalesRep": ("Add", "Mod", "Query"),
    "Vendor": ("Add", "Mod", "Query"),
    "ItemService": ("Add", "Mod", "Query"),
    "ItemNonInventory": ("Add", "Mod", "Query"),
    "ItemInventory": ("Add", "Mod", "Query"),
    "ItemOtherCharge": ("Add", "Mod", "Query"),
    "Item": ("Query",),
    "Account": ("Query",),
    "Class": ("Query",),
    "SalesTaxCode": ("Query",),
    "Terms": ("Query",),
    "PaymentMethod": ("Query",),
    "Invoice": ("Add", "Mod", "Query"),
    "CreditMemo": ("Add", "Mod", "Query"),
    "Estimate": ("Add", "Mod", "Query"),
    "ReceivePayment": ("Add", "Mod", "Query"),
    "Bill": ("Add", "Mod", "Query"),
    "VendorCredit": ("Add", "Mod", "Query"),
    "PurchaseOrder": ("Add", "Mod", "Query"),
    "TimeTracking": ("Add", "Mod", "Query"),
    # Expenses paid at once: a check (also a cash purchase) or a credit-card charge.
    "Check": ("Add", "Mod", "Query"),
    "CreditCardCharge": ("Add", "Mod", "Query"),
}

# Left out entirely: card numbers never travel through qbsync (PCI scope), and payroll and
# direct-deposit bank details are outside what it syncs.
EXCLUDED = frozenset(
    {"CreditCardInfo", "CreditCardTxnInfo", "EmployeePayrollInfo", "EmployeePayrollInfoMod"}
)

_KINDS = {
    "STRTYPE": "str",
    "UUIDTYPE": "str",
    "MACROTYPE": "str",
    "IDTYPE": "id",
    "BOOLTYPE": "bool",
    "DATETYPE": "date",
    "DATETIMETYPE": "datetime",
    "TIMEINTERVALTYPE": "duration",
    "AMTTYPE": "amount",
    "PRICETYPE": "price",
    "QUANTYPE": "quantity",
    "PERCENTTYPE": "percent",
    "FLOATTYPE": "float",
    "INTTYPE": "int",
    "ENUMTYPE": "enum",
    "GUIDTYPE": "guid",
}

_MAX_LENGTH = re.compile(r"max length = (\d+)(?: for ([A-Z|]+))?")
_NOT_IN = re.compile(r"not in ([A-Z|]+)")
_SINCE = re.compile(r"\bv(\d+\.\d+)\b")


@dataclass(frozen=True)
class Note:
    """What Intuit's reference says about one element, for QuickBooks Desktop."""

    max_length: int | None = None
    desktop: bool = True
    since: str | None = None


def _parse_note(text: str) -> Note:
    length = None
    for match in _MAX_LENGTH.finditer(text):
        editions = match.group(2)
        if editions is None or "QBD" in editions.split("|"):
            length = int(match.group(1))
            break
    not_in = _NOT_IN.search(text)
    desktop = not (not_in and "QBD" in not_in.group(1).split("|"))
    since = _SINCE.search(text)
    return Note(length, desktop, since.group(1) if since else None)


def load_reference(path: Path) -> dict[str, Note]:
    """Map ``CustomerAddRq/CustomerAdd/Name`` → its annotation.

    The note on a leaf is the comment right after it; on an element with children, the
    comment that opens it.
    """
    parser = etree.XMLParser(
        remove_comments=False, resolve_entities=False, no_network=True, huge_tree=True
    )
    root = etree.parse(str(path), parser).getroot()
    messages = root.find("QBXMLMsgsRq")
    notes: dict[str, Note] = {}
    if messages is None:
        return notes
    for rq in messages:
        if not isinstance(rq.tag, str):
            continue
        for element in rq.iter():
            if not isinstance(element.tag, str):
                continue
            ancestors = [a.tag for a in element.iterancestors()][::-1][2:]
            key = "/".join([*ancestors, element.tag])
            if key in notes:
                continue
            has_children = any(isinstance(c.tag, str) for c in element)
            candidate = element[0] if has_children and len(element) else element.getnext()
            text = ""
            if candidate is not None and not isinstance(candidate.tag, str):
                text = candidate.text or ""
            notes[key] = _parse_note(text)
    return notes


@dataclass(frozen=True)
class _Context:
    """What the generator knows besides the 16.0 schema it walks."""

    xsd13_paths: frozenset[str]  # element paths the 13.0 schema has
    ref130: dict[str, Note]
    ref140: dict[str, Note]


def _named_base(simple: Any) -> Any:
    t = simple
    while t is not None and (t.name is None or t.local_name not in _KINDS):
        t = getattr(t, "base_type", None)
    return t


def _must_have(particle: Any) -> bool:
    """Whether ``particle`` always produces at least one element."""
    from xmlschema.validators import XsdGroup

    if particle.min_occurs == 0:
        return False
    if isinstance(particle, XsdGroup):
        results = [_must_have(p) for p in particle]
        return all(results) if particle.model == "choice" else any(results)
    return True


def _element(
    xsd: Any,
    path: str,
    ctx: _Context,
    *,
    required: bool,
    repeat: int | None,
    alternatives: tuple[tuple[int, int], ...],
) -> FieldSpec:
    name = xsd.local_name
    where = f"{path}/{name}"
    note = ctx.ref130.get(where) or ctx.ref140.get(where) or Note()
    if where in ctx.xsd13_paths:
        since = note.since
    elif where in ctx.ref140:
        since = "14.0"
    else:
        since = "16.0"
    if since is not None and version_key(since) <= (1, 0):
        since = None
    common: dict[str, Any] = {
        "required": required,
        "repeat": repeat,
        "since": since,
        "desktop": note.desktop,
        "alternatives": alternatives,
    }
    xsd_type = xsd.type
    if xsd_type.is_complex() and not xsd_type.has_simple_content():
        if not note.desktop:
            return FieldSpec(name, kind="group", **common)
        children, choices = _content(xsd_type.content, where, ctx)
        return FieldSpec(name, kind="group", children=children, choices=choices, **common)
    simple = xsd_type.content if xsd_type.is_complex() else xsd_type
    base = _named_base(simple)
    if base is None:
        raise ValueError(f"{where}: no qbXML base type")
    kind = _KINDS[base.local_name]
    lengths = [n for n in (getattr(simple, "max_length", None), note.max_length) if n]
    max_length = min(lengths) if lengths and kind in {"str", "id"} else None
    values = tuple(getattr(simple, "enumeration", None) or ())
    if kind == "enum" and not values:
        kind = "str"
    return FieldSpec(name, max_length=max_length, kind=kind, values=values, **common)  # type: ignore[arg-type]


def _content(
    group: Any, path: str, ctx: _Context
) -> tuple[tuple[FieldSpec, ...], tuple[ChoiceRule, ...]]:
    from xmlschema.validators import XsdGroup

    out: list[FieldSpec] = []
    choices: list[ChoiceRule] = []

    def visit(
        particle: Any, alternatives: tuple[tuple[int, int], ...], optional: bool, repeated: bool
    ) -> None:
        if isinstance(particle, XsdGroup):
            optional = optional or particle.min_occurs == 0
            repeated = repeated or particle.max_occurs != 1
            if particle.model == "choice":
                index = len(choices)
                choices.append(ChoiceRule((), False))  # replaced below, once known
                branches: list[frozenset[str]] = []
                for branch, child in enumerate(particle):
                    start = len(out)
                    visit(child, (*alternatives, (index, branch)), optional, repeated)
                    branches.append(frozenset(f.element for f in out[start:]))
                required = not optional and all(_must_have(c) for c in particle)
                choices[index] = ChoiceRule(tuple(branches), required)
            else:
                for child in particle:
                    visit(child, alternatives, optional, repeated)
            return
        if particle.local_name in EXCLUDED:
            return
        repeat = None if repeated or particle.max_occurs is None else particle.max_occurs
        required = particle.min_occurs >= 1 and not optional and not alternatives
        out.append(
            _element(
                particle, path, ctx, required=required, repeat=repeat, alternatives=alternatives
            )
        )

    visit(group, (), False, False)
    names = [f.element for f in out]
    duplicates = [n for n, count in Counter(names).items() if count > 1]
    if duplicates:
        raise ValueError(f"{path}: elements appear twice: {duplicates}")
    return tuple(out), tuple(choices)


def _paths(group: Any, path: str, into: set[str]) -> None:
    from xmlschema.validators import XsdGroup

    for particle in group:
        if isinstance(particle, XsdGroup):
            _paths(particle, path, into)
            continue
        where = f"{path}/{particle.local_name}"
        into.add(where)
        xsd_type = particle.type
        if xsd_type.is_complex() and not xsd_type.has_simple_content():
            _paths(xsd_type.content, where, into)


def _request_root(schema: Any, obj: str, action: str) -> tuple[str, Any]:
    """(path prefix, content group) of one request."""
    if action == "Query":
        return f"{obj}QueryRq", schema.types[f"{obj}QueryRqType"].content
    return f"{obj}{action}Rq/{obj}{action}", schema.elements[f"{obj}{action}"].type.content


def generate(reference: Path) -> dict[str, RequestSpec]:
    """Build the request table from the files under ``reference`` (``../shared/qbxml``)."""
    import xmlschema

    xsd13 = xmlschema.XMLSchema(str(reference / "xsd" / "13.0" / "qbxmlops130.xsd"))
    xsd16 = xmlschema.XMLSchema(str(reference / "xsd" / "16.0" / "qbxmlops160.xsd"))
    ref130 = load_reference(reference / "reference" / "qbxmlops130.xml")
    ref140 = load_reference(reference / "reference" / "qbxmlops140.xml")
    requests: dict[str, RequestSpec] = {}
    for obj, actions in SELECTION.items():
        for action in actions:
            known13: set[str] = set()
            prefix, group13 = _request_root(xsd13, obj, action)
            _paths(group13, prefix, known13)
            ctx = _Context(frozenset(known13), ref130, ref140)
            prefix, group16 = _request_root(xsd16, obj, action)
            children, choices = _content(group16, prefix, ctx)
            name = f"{obj}{action}"
            body_element = prefix.rsplit("/", 1)[-1]
            body = FieldSpec(
                body_element, kind="group", children=children, choices=choices, required=True
            )
            rq_type: Any = xsd16.types[f"{name}RqType"]
            iterator = action == "Query" and "iterator" in rq_type.attributes
            requests[name] = RequestSpec(name, body, wrapped=action != "Query", iterator=iterator)
    return requests


# -- rendering ---------------------------------------------------------------------------

_HEADER = '''"""GENERATED by ``python -m connectors.qbxml._generate``: do not edit by hand.

Every request qbsync builds, as data: element order, types, QuickBooks Desktop maximum
lengths, enumerations, choices and the qbXML version each element appeared in, from Intuit's
XSD (13.0 and 16.0) and annotated reference. ``tests/connectors/qbxml/test_generated.py``
fails when this file and Intuit's files disagree.
"""

from connectors.qbxml._spec import ChoiceRule, FieldSpec, RequestSpec

__all__ = ["REQUESTS"]

'''


def _literal(spec: FieldSpec, names: dict[FieldSpec, str]) -> str:
    defaults = {f.name: f.default for f in fields(FieldSpec)}
    parts = [repr(spec.element)]
    for f in fields(FieldSpec):
        if f.name == "element":
            continue
        value = getattr(spec, f.name)
        if f.name == "children":
            if value:
                inner = ", ".join(names.get(c) or _literal(c, names) for c in value)
                parts.append(f"children=({inner},)")
            continue
        if f.name == "choices":
            if value:
                rules = ", ".join(
                    "ChoiceRule(("
                    + ", ".join(
                        "frozenset({" + ", ".join(repr(n) for n in sorted(b)) + "})"
                        if b
                        else "frozenset()"
                        for b in rule.branches
                    )
                    + f",), {rule.required!r})"
                    for rule in value
                )
                parts.append(f"choices=({rules},)")
            continue
        if value != defaults[f.name]:
            parts.append(f"{f.name}={value!r}")
    return f"FieldSpec({', '.join(parts)})"


def render(requests: dict[str, RequestSpec]) -> str:
    """Python source for ``_generated.py``; shared groups (addresses, references) once."""
    counts: Counter[FieldSpec] = Counter()

    def count(spec: FieldSpec) -> None:
        for child in spec.children:
            if child.children:
                counts[child] += 1
                count(child)

    for request in requests.values():
        count(request.body)
    names: dict[FieldSpec, str] = {}
    used: Counter[str] = Counter()
    lines: list[str] = []

    def emit(spec: FieldSpec) -> None:
        for child in spec.children:
            if child.children:
                emit(child)
        if counts[spec] > 1 and spec not in names:
            base = "_" + re.sub(r"(?<!^)(?=[A-Z])", "_", spec.element).upper()
            used[base] += 1
            name = base if used[base] == 1 else f"{base}_{used[base]}"
            lines.append(f"{name} = {_literal(spec, names)}\n")
            names[spec] = name

    for request in requests.values():
        emit(request.body)
    body = ["REQUESTS: dict[str, RequestSpec] = {\n"]
    for name, request in requests.items():
        body.append(
            f"    {name!r}: RequestSpec({name!r}, {_literal(request.body, names)}, "
            f"wrapped={request.wrapped!r}, iterator={request.iterator!r}),\n"
        )
    body.append("}\n")
    return _HEADER + "".join(lines) + "\n" + "".join(body)


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    reference = Path(argv[0]) if argv else here.parents[2] / "shared" / "qbxml"
    target = here / "_generated.py"
    target.write_text(render(generate(reference)), encoding="utf-8")
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if ruff:
        subprocess.run([ruff, "format", "--quiet", str(target)], check=True)  # noqa: S603
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
