"""Build request elements (``CustomerAddRq`` ...) from values keyed by qbXML element names.

One path for every entity and action: the request table says what may appear, where, and
in which form; this module walks the caller's values against it. Values come in any order
and go out in schema order. Text is produced directly, not through a DOM. Two paths share
the table: the general interpreter here (each element compiled once into a small writer
function) is the reference, and says exactly what is wrong with a value; ``_fast`` compiles
each group into straight-line code for the common, valid case and hands anything else back
to the interpreter (see ``bench/qbxml.py``). The escaping rules live in one place
(``_values``); the tests validate the output of both paths against Intuit's XSD.

Anything QuickBooks would refuse is a :class:`FieldError` naming the element path and the
value (``InvoiceAdd/InvoiceLineAdd[2]/Amount: ...``), never a quietly broken request:
unknown elements (a typo must not drop data), missing required elements, too-long text,
floats for money, values outside an enumeration, both branches of a choice, elements that
QuickBooks Desktop does not support. Two things are done instead of refused, and reported
in :attr:`Built.warnings`: text truncated because the caller allowed it (a tenant setting),
and elements left out because the target qbXML version does not know them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any, Literal, NamedTuple

from connectors.qbxml._entities import ENTITIES, EntitySpec
from connectors.qbxml._errors import FieldError
from connectors.qbxml._fast import FastFill, Slow, compile_fill
from connectors.qbxml._spec import ChoiceRule, FieldSpec, RequestSpec, version_key
from connectors.qbxml._values import Path, clean_text, escape, formatter_for, is_plain
from connectors.qbxml._values import spell as _where

__all__ = [
    "Built",
    "build",
    "build_deactivation",
    "build_request",
    "clean_text",
    "entity",
    "render",
]

# Text that identifies something: truncating it would point at another record, not
# shorten a description.
_IDENTITY = frozenset(
    {"ListID", "TxnID", "TxnLineID", "EditSequence", "FullName", "RefNumber", "IncludeRetElement"}
)


class Built(NamedTuple):
    """A request element and what the builder did besides copying values (never silent).

    (A named tuple rather than a dataclass: it is made once per request, and cheaply.)
    """

    xml: str
    warnings: tuple[str, ...] = ()


@lru_cache(maxsize=64)
def _key(version: str) -> tuple[int, ...]:
    return version_key(version)


class _Run:
    """The options and findings of one build."""

    __slots__ = ("truncate", "version", "warnings")

    def __init__(self, version: str | None, truncate: bool) -> None:
        self.version = _key(version) if version else None
        self.truncate = truncate
        self.warnings: list[str] = []


# writer(out, value, path, name, run) appends one element (or, for a repeated element, all
# of them) and says whether it appended anything. ``name`` is the element's name in paths.
Writer = Callable[[list[str], Any, Path, str, _Run], bool]
# (position, spec, writer, version it appeared in or None)
Entry = tuple[int, FieldSpec, Writer, tuple[int, ...] | None]


class _Group:
    """A compiled group: its children by name, with position, spec and writer; and, on
    first use, its fast-path function."""

    __slots__ = ("_fast", "check_choices", "entries", "required", "spec")

    def __init__(self, spec: FieldSpec) -> None:
        self.spec = spec
        self.entries: dict[str, Entry] = {
            child.element: (
                index,
                child,
                _writer(child),
                _key(child.since) if child.since else None,
            )
            for index, child in enumerate(spec.children)
        }
        self.required = spec.required_children
        # Whether a choice must be made (most are optional).
        self.check_choices = any(rule.required for rule in spec.choices)
        self._fast: FastFill | None = None

    @property
    def fast(self) -> FastFill:
        if self._fast is None:
            writers = {name: entry[2] for name, entry in self.entries.items()}
            self._fast = compile_fill(
                self.spec,
                lambda child: writers[child.element],
                lambda child: _compiled(child).fast,
            )
        return self._fast


_GROUPS: dict[int, tuple[FieldSpec, _Group]] = {}


def _compiled(spec: FieldSpec) -> _Group:
    """Compile once per spec (the cache holds the spec, so its id stays unique)."""
    cached = _GROUPS.get(id(spec))
    if cached is None:
        cached = (spec, _Group(spec))
        _GROUPS[id(spec)] = cached
    return cached[1]


def entity(name: str) -> EntitySpec:
    try:
        return ENTITIES[name]
    except KeyError:
        raise FieldError(f"no qbXML mapping for entity {name!r}") from None


def build(
    entity_name: str,
    action: Literal["Add", "Mod"],
    values: Mapping[str, Any],
    *,
    qb_id: str | None = None,
    edit_sequence: str | None = None,
    version: str | None = None,
    truncate: bool = False,
) -> Built:
    """Build an Add or a Mod; see the module docstring for the rules.

    ``values`` are keyed by element name: text as ``str``; references as
    ``{"FullName": ...}`` or ``{"ListID": ...}``; groups as mappings; repeated elements
    (lines, ``AppliedToTxnAdd`` ...) as lists of mappings; money as ``Decimal``; dates as
    ``date``. ``None`` means "not sent". A Mod needs the record's id and current
    EditSequence; a Mod line that is new has ``TxnLineID`` ``"-1"``.

    ``version`` (e.g. ``"12.0"``) leaves out, with a warning, elements that version does
    not know; ``None`` keeps everything (:func:`build_message` prunes for the negotiated
    version later). ``truncate`` cuts over-long free text (never identifiers or reference
    names) instead of refusing it, with a warning per cut.
    """
    spec = entity(entity_name)
    if action not in spec.actions or action not in ("Add", "Mod"):
        raise FieldError(f"{spec.name}: qbsync does not {action} {entity_name} records")
    request = spec.request(action)
    if action == "Mod":
        if not qb_id or not edit_sequence:
            raise FieldError(f"{request.name}: a Mod needs {spec.id_element} and EditSequence")
        if spec.id_element in values or "EditSequence" in values:
            raise FieldError(
                f"{request.name}: pass {spec.id_element} and EditSequence as qb_id= and"
                " edit_sequence=, not as values"
            )
        values = {spec.id_element: qb_id, "EditSequence": edit_sequence, **values}
    else:
        for name in spec.add_requires:
            if values.get(name) is None:
                raise FieldError(f"{request.name}/{name}: a {entity_name} needs {name}")
    return render(request, values, version=version, truncate=truncate)


def build_request(
    entity: str,
    action: Literal["Add", "Mod"],
    values: Mapping[str, Any],
    *,
    qb_id: str | None = None,
    edit_sequence: str | None = None,
    version: str | None = None,
) -> str:
    """Return e.g. ``<CustomerAddRq><CustomerAdd>...</CustomerAdd></CustomerAddRq>``.

    Never truncates; with ``version``, elements that version does not know are left out
    (use :func:`build` to see which).
    """
    return build(
        entity, action, values, qb_id=qb_id, edit_sequence=edit_sequence, version=version
    ).xml


def build_deactivation(
    entity_name: str, *, qb_id: str, edit_sequence: str, version: str | None = None
) -> str:
    """QuickBooks list records are made inactive, never deleted: a Mod with IsActive false."""
    spec = entity(entity_name)
    if "Mod" not in spec.actions or "IsActive" not in spec.request("Mod").body.by_name:
        raise FieldError(f"{spec.name}: {entity_name} records cannot be made inactive")
    return build_request(
        entity_name,
        "Mod",
        {"IsActive": False},
        qb_id=qb_id,
        edit_sequence=edit_sequence,
        version=version,
    )


def render(
    request: RequestSpec,
    values: Mapping[str, Any],
    *,
    version: str | None = None,
    truncate: bool = False,
    attributes: str = "",
    fast: bool = True,
) -> Built:
    """The ``*Rq`` element for ``request``; ``attributes`` is pre-escaped attribute text.

    ``fast=False`` skips the fast path (the tests compare both).
    """
    group = _compiled(request.body)
    body = request.body.element
    if request.wrapped:
        head, tail, path = f"<{request.rq}{attributes}><{body}>", f"</{body}></{request.rq}>", body
    else:
        head, tail, path = f"<{request.rq}{attributes}>", f"</{request.rq}>", request.rq
    if fast:
        run = _Run(version, truncate)
        out = [head]
        try:
            group.fast(out, values, path, run, True)
        except (Slow, FieldError):
            # Not the common case, or a problem: the general path decides, and its message
            # is the one the caller gets.
            pass
        else:
            out.append(tail)
            return Built("".join(out), tuple(run.warnings))
    run = _Run(version, truncate)
    out = [head]
    _fill(out, group, values, path, run, top=True)
    out.append(tail)
    return Built("".join(out), tuple(run.warnings))


def _fill(
    out: list[str],
    group: _Group,
    values: Mapping[str, Any],
    path: Path,
    run: _Run,
    *,
    top: bool = False,
) -> bool:
    """Append ``values`` in schema order; True if anything was appended.

    Problems are found in schema order too, so the first one reported does not depend on
    the order the caller's dict happened to have.
    """
    entries = group.entries
    present: list[tuple[Entry, Any]] = []
    ordered = True
    last = -1
    for key, value in values.items():
        entry = entries.get(key)
        if entry is None:
            unknown = sorted(k for k in values if k not in entries)
            raise FieldError(f"{_where(path)}: unknown element(s) {', '.join(unknown)}")
        if value is not None:
            present.append((entry, value))
            ordered = ordered and entry[0] > last
            last = entry[0]
    if not ordered:
        present.sort(key=_position)
    anything = False
    got: list[str] = []
    chosen: dict[int, tuple[int, str]] | None = None
    version = run.version
    for (_, field, writer, since), value in present:
        if field.alternatives:
            chosen = _choose(chosen, field, path)
        if since is not None and version is not None and since > version:
            run.warnings.append(
                f"{_where((path, field.element))}: left out; qbXML"
                f" {'.'.join(map(str, version))} does not know it (added in {field.since})"
            )
            continue
        if writer(out, value, path, field.element, run):
            anything = True
            if field.required:
                got.append(field.element)
    if group.check_choices:
        _required_choices(group.spec.choices, chosen or {}, path)
    if len(got) != len(group.required) and (anything or top):
        children = group.spec.children
        missing = [c.element for c in children if c.required and c.element not in got]
        raise FieldError(f"{_where((path, missing[0]))}: required, but no value was given")
    return anything


def _position(item: tuple[Entry, Any]) -> int:
    return item[0][0]


def _choose(
    chosen: dict[int, tuple[int, str]] | None, field: FieldSpec, path: Path
) -> dict[int, tuple[int, str]]:
    """Record the branches ``field`` takes; refuse a second branch of the same choice."""
    if chosen is None:
        chosen = {}
    for choice, branch in field.alternatives:
        previous = chosen.setdefault(choice, (branch, field.element))
        if previous[0] != branch:
            raise FieldError(
                f"{_where(path)}: {previous[1]} and {field.element} cannot be used together"
                " (the schema allows one or the other)"
            )
    return chosen


def _required_choices(
    rules: tuple[ChoiceRule, ...], chosen: dict[int, tuple[int, str]], path: Path
) -> None:
    for index, rule in enumerate(rules):
        if rule.required and index not in chosen:
            options = " or ".join(sorted(n for branch in rule.branches for n in branch))
            raise FieldError(f"{_where(path)}: one of {options} is required")


# -- writers: one per element, compiled from its spec ----------------------------------------


def _writer(field: FieldSpec) -> Writer:
    if not field.desktop:

        def unsupported(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
            raise FieldError(
                f"{_where((path, name))}: QuickBooks Desktop does not support this element"
                " (Intuit's reference: not in QBD)"
            )

        return unsupported
    one = _one_writer(field)
    if not field.repeated:

        def single(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
            if type(value) is list or type(value) is tuple:
                raise FieldError(
                    f"{_where((path, name))}: expected one value, got a list of {len(value)}"
                )
            return one(out, value, path, name, run)

        return single
    limit = field.repeat

    def repeated(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
        if not isinstance(value, list | tuple):
            raise FieldError(f"{_where((path, name))}: repeats, so it takes a list, got {value!r}")
        if limit is not None and len(value) > limit:
            raise FieldError(
                f"{_where((path, name))}: {len(value)} given; QuickBooks allows {limit}"
            )
        emitted = False
        for index, item in enumerate(value):
            if item is None:
                raise FieldError(f"{_where((path, f'{name}[{index}]'))}: None in a list")
            if one(out, item, path, f"{name}[{index}]", run):
                emitted = True
        return emitted

    return repeated


def _one_writer(field: FieldSpec) -> Writer:
    tag = field.element
    start, end = f"<{tag}>", f"</{tag}>"
    if field.kind == "group":
        compiled: list[_Group] = []  # compiled on first use: most groups are never used

        def group(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
            if type(value) is not dict and not isinstance(value, Mapping):
                raise FieldError(
                    f"{_where((path, name))}: expected a group of elements, got {value!r}"
                )
            if not compiled:
                compiled.append(_compiled(field))
            mark = len(out)
            out.append(start)
            if _fill(out, compiled[0], value, (path, name), run):
                out.append(end)
                return True
            del out[mark:]
            return False

        return group
    if field.kind in ("str", "id"):
        return _text_writer(field, start, end)
    formatter = formatter_for(field)

    def leaf(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
        out.append(start + formatter(value, path, name) + end)
        return True

    return leaf


def _text_writer(field: FieldSpec, start: str, end: str) -> Writer:
    limit = field.max_length
    no_empty = field.required or field.kind == "id" or field.element in _IDENTITY
    may_truncate = field.kind == "str" and field.element not in _IDENTITY

    def text(out: list[str], value: Any, path: Path, name: str, run: _Run) -> bool:
        if type(value) is not str:
            if not isinstance(value, str):
                raise FieldError(f"{_where((path, name))}: expected text, got {value!r}")
            value = str(value)
        plain = is_plain(value)
        if not plain:
            value = clean_text(value)
        if not value and no_empty:
            raise FieldError(f"{_where((path, name))}: must not be empty")
        if limit is not None and len(value) > limit:
            if not (run.truncate and may_truncate):
                raise FieldError(
                    f"{_where((path, name))}: {_shown(value)} is {len(value)} characters;"
                    f" QuickBooks allows {limit}"
                )
            run.warnings.append(
                f"{_where((path, name))}: truncated from {len(value)} to {limit} characters:"
                f" {_shown(value)} became {_shown(value[:limit])}"
            )
            value = value[:limit]
        out.append(start + (value if plain else escape(value)) + end)
        return True

    return text


def _shown(text: str) -> str:
    """``text`` for a message: whole when short, its start when long (a memo can be 4095)."""
    return repr(text) if len(text) <= 100 else f"{text[:80]!r}..."
