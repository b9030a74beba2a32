"""The fast path gives exactly what the general interpreter gives: same text, same warnings,
same error message, for valid and invalid values alike."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.qbxml import REQUESTS, FieldError, FieldSpec, RequestSpec
from connectors.qbxml._build import _compiled, render
from connectors.qbxml._fast import Slow
from tests.connectors.qbxml.samples import maximal

# Values that are wrong for most elements, to check both paths refuse them the same way.
WRONG: list[Any] = [1.5, "x" * 5000, "", ["a"], {"Nope": 1}, Decimal("1.005"), True, None]


def _outcome(request: RequestSpec, values: dict[str, Any], fast: bool, **options: Any) -> Any:
    try:
        return render(request, values, fast=fast, **options)
    except FieldError as exc:
        return f"FieldError: {exc}"


@st.composite
def requests_and_values(draw: st.DrawFn) -> tuple[RequestSpec, dict[str, Any]]:
    """A request, a subset of its maximal values, perhaps shuffled, perhaps with a wrong
    value, an unknown key or a None somewhere."""
    request = draw(st.sampled_from(list(REQUESTS.values())))
    values = maximal(request.body, draw(st.integers(0, 3)))

    def vary(spec: FieldSpec, given: dict[str, Any], depth: int) -> dict[str, Any]:
        keys = [k for k in given if draw(st.booleans()) or depth > 2]
        if draw(st.booleans()):
            keys = draw(st.permutations(keys))
        out: dict[str, Any] = {}
        for key in keys:
            value = given[key]
            child = spec.by_name[key][1]
            if child.kind == "group" and isinstance(value, dict):
                value = vary(child, value, depth + 1)
            elif child.kind == "group" and isinstance(value, list):
                value = [vary(child, item, depth + 1) for item in value]
            if draw(st.integers(0, 15)) == 0:
                value = draw(st.sampled_from(WRONG))
            out[key] = value
        if draw(st.integers(0, 20)) == 0:
            out["NotAnElement"] = "x"
        return out

    return request, vary(request.body, values, 0)


@settings(max_examples=400, deadline=None)
@given(
    case=requests_and_values(),
    truncate=st.booleans(),
    version=st.sampled_from([None, "11.0", "13.0", "16.0"]),
)
def test_both_paths_agree(
    case: tuple[RequestSpec, dict[str, Any]], truncate: bool, version: str | None
) -> None:
    request, values = case
    options = {"truncate": truncate, "version": version}
    assert _outcome(request, values, True, **options) == _outcome(request, values, False, **options)


def test_the_fast_path_really_handles_the_common_case() -> None:
    """Not just falling back every time: a plain invoice never raises Slow."""
    request = REQUESTS["InvoiceAdd"]
    values = {
        "CustomerRef": {"FullName": "A & B"},
        "Memo": "caf\u00e9",
        "InvoiceLineAdd": [{"ItemRef": {"FullName": "Labor"}, "Amount": Decimal("1.00")}],
    }
    out: list[str] = []
    assert _compiled(request.body).fast(out, values, "InvoiceAdd", _run(), True)
    assert "".join(out).startswith("<CustomerRef><FullName>A &amp; B</FullName></CustomerRef>")


@pytest.mark.parametrize(
    "values",
    [
        {"CustomerRef": {"FullName": "A"}, "Nope": 1},  # unknown key
        {"RefNumber": "1"},  # required element missing
        {
            "CustomerRef": {"FullName": "A"},
            "InvoiceLineAdd": [{"Rate": Decimal("1"), "RatePercent": Decimal("1")}],
        },  # two alternatives
    ],
)
def test_the_fast_path_hands_over_what_it_does_not_handle(values: dict[str, Any]) -> None:
    with pytest.raises(Slow):
        _compiled(REQUESTS["InvoiceAdd"].body).fast([], values, "InvoiceAdd", _run(), True)


def test_the_fast_path_hands_over_elements_newer_than_the_target_version() -> None:
    from connectors.qbxml._build import _Run

    values = {"VendorRef": {"FullName": "V"}, "ClassRef": {"FullName": "Remodel"}}
    fast = _compiled(REQUESTS["BillAdd"].body).fast
    assert fast([], values, "BillAdd", _Run("16.0", False), True)
    with pytest.raises(Slow):
        fast([], values, "BillAdd", _Run("13.0", False), True)


def test_none_values_are_fine_on_the_fast_path() -> None:
    out: list[str] = []
    values = {"CustomerRef": {"FullName": "A"}, "Memo": None, "TxnDate": None}
    assert _compiled(REQUESTS["InvoiceAdd"].body).fast(out, values, "InvoiceAdd", _run(), True)
    assert "".join(out) == "<CustomerRef><FullName>A</FullName></CustomerRef>"


def _run() -> Any:
    from connectors.qbxml._build import _Run

    return _Run(None, False)
