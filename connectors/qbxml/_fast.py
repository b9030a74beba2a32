"""The fast path: each group of the request table compiled into straight-line Python.

Why: building an InvoiceAdd walks a few dozen elements, and a general interpreter pays for
every one of them in look-ups, tuple unpacking and branches (see ``bench/qbxml.py``). The
compiled function for a group instead visits its children in schema order as plain code:
``v = values.get("Desc")``, a type check, an append. It handles only the common, certainly
valid values inline; anything else goes to that element's general writer (which raises the
precise :class:`FieldError`), and whatever concerns the group as a whole and is not plainly
fine (an unknown or ``None`` key, a missing required element, two alternatives of a choice,
an element newer than the target version) raises :class:`Slow`: ``_build.render`` then
builds the whole request again with the general interpreter, which is the reference for
what is valid and says exactly what is wrong.

The source is generated from the request table only (element names are checked to be XML
names before they are written into it); the tests check that both paths give the same
output.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from connectors.qbxml._spec import FieldSpec, version_key
from connectors.qbxml._values import PLAIN_SEARCH, prepared, quick_formatter

__all__ = ["FastFill", "Slow", "compile_fill"]

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")


class Slow(Exception):
    """The fast path gives up on this request; the general path takes over."""


# fill(out, values, path, run, top) -> whether anything was appended
FastFill = Callable[[list[str], Mapping[str, Any], Any, Any, bool], bool]


def _is_ref(field: FieldSpec) -> bool:
    names = [child.element for child in field.children]
    if field.kind != "group" or names != ["ListID", "FullName"] or field.choices:
        return False
    full_name = field.children[1]
    return full_name.kind == "str" and full_name.desktop and full_name.since is None


def compile_fill(
    spec: FieldSpec,
    writer: Callable[[FieldSpec], Any],
    child_fill: Callable[[FieldSpec], FastFill],
) -> FastFill:
    """Compile the group ``spec``; ``writer`` gives a child's general writer and
    ``child_fill`` a child group's compiled function."""
    namespace: dict[str, Any] = {
        "Slow": Slow,
        "search": PLAIN_SEARCH,
        "get_full_name": get_full_name,
        "prepared": prepared,
    }
    code = [
        "def fill(out, values, path, run, top):",
        "    found = 0",
        "    mark = len(out)",
        "    missing = False",
        "    alternatives = 0",
        "    version = run.version",
    ]
    for index, child in enumerate(spec.children):
        name = child.element
        if not _NAME.fullmatch(name):
            raise ValueError(f"not an XML element name: {name!r}")
        namespace[f"w{index}"] = writer(child)
        # "in" first: most children are absent, and a membership test is cheaper than get().
        block = [
            f"    if {name!r} in values:",
            "        found += 1",
            f"        v = values[{name!r}]",
        ]
        block.append("        if v is not None:")
        inner: list[str] = []
        if child.since is not None:
            namespace[f"s{index}"] = version_key(child.since)
            inner.append(f"        if version is not None and version < s{index}: raise Slow")
        if child.alternatives:
            inner.append("        alternatives += 1")
        if child.required:
            inner.append("        m = len(out)")
        inner += _element(index, child, namespace, child_fill)
        if child.required:
            inner.append("        if len(out) == m: missing = True")
        block += ["    " + line for line in inner]
        if child.required:
            block += [
                "        else:",
                "            missing = True",
                "    else:",
                "        missing = True",
            ]
        code += block
    code.append("    if found != len(values): raise Slow  # an unknown element")
    code.append("    if alternatives > 1: raise Slow")
    for number, rule in enumerate(spec.choices):
        if rule.required:
            namespace[f"r{number}"] = tuple(sorted(n for branch in rule.branches for n in branch))
            code.append(f"    if all(values.get(n) is None for n in r{number}): raise Slow")
    code += [
        "    if missing and (top or len(out) > mark): raise Slow",
        "    return len(out) > mark",
    ]
    exec("\n".join(code), namespace)  # noqa: S102 - source generated from the table, see above
    fill: FastFill = namespace["fill"]
    return fill


def _element(
    index: int,
    child: FieldSpec,
    namespace: dict[str, Any],
    child_fill: Callable[[FieldSpec], FastFill],
) -> list[str]:
    """The lines (indented for the ``if v is not None:`` block) writing one child."""
    name = child.element
    start, end = f"<{name}>", f"</{name}>"
    general = f"w{index}(out, v, path, {name!r}, run)"
    if not child.desktop:
        return [f"        {general}"]
    if child.repeated:
        if child.kind != "group":
            return [f"        {general}"]
        namespace[f"f{index}"] = child_fill(child)
        limit = "" if child.repeat is None else f" and len(v) <= {child.repeat}"
        return [
            f"        if (type(v) is list or type(v) is tuple){limit}:",
            "            for number, item in enumerate(v):",
            "                if type(item) is not dict: raise Slow",
            "                m2 = len(out)",
            f"                out.append({start!r})",
            f"                if f{index}(out, item, (path, f'{name}[{{number}}]'), run, False):",
            f"                    out.append({end!r})",
            "                else:",
            "                    del out[m2:]",
            "        else:",
            f"            {general}",
        ]
    if child.kind in ("str", "id"):
        return _text(child.max_length, "v", start, end, general)
    if _is_ref(child):
        full_name = child.children[1]
        return [
            "        t = get_full_name(v)",
            *_text(full_name.max_length, "t", start + "<FullName>", "</FullName>" + end, general),
        ]
    if child.kind == "group":
        namespace[f"f{index}"] = child_fill(child)
        return [
            "        if type(v) is dict:",
            "            m2 = len(out)",
            f"            out.append({start!r})",
            f"            if f{index}(out, v, (path, {name!r}), run, False):",
            f"                out.append({end!r})",
            "            else:",
            "                del out[m2:]",
            "        else:",
            f"            {general}",
        ]
    quick = quick_formatter(child)
    if quick is None:
        return [f"        {general}"]
    namespace[f"q{index}"] = quick
    return [
        f"        t = q{index}(v)",
        "        if t is not None:",
        f"            out.append({start!r} + t + {end!r})",
        "        else:",
        f"            {general}",
    ]


def _text(limit: int | None, name: str, start: str, end: str, general: str) -> list[str]:
    """Plain text within its limit inline; other text cleaned and escaped by ``prepared``;
    anything else (not text, empty, too long) by the general writer."""
    within = "" if limit is None else f" and len({name}) <= {limit}"
    return [
        f"        if type({name}) is str and {name}{within} and search({name}) is None:",
        f"            out.append({start!r} + {name} + {end!r})",
        f"        elif (p := prepared({name}, {limit})) is not None:",
        f"            out.append({start!r} + p + {end!r})",
        "        else:",
        f"            {general}",
    ]


def get_full_name(value: Any) -> Any:
    """``value["FullName"]`` when that is all a reference holds, else None."""
    if type(value) is dict and len(value) == 1:
        return value.get("FullName")
    return None
