"""The catalog and the generated shapes agree: every kind can be answered, every reference
points at a kind the company file keeps."""

from __future__ import annotations

from connectors.sandbox._catalog import KINDS, QUERY_GROUPS, REF_TARGETS, SEED
from connectors.sandbox._shapes import REQUESTS, SHAPES


def test_every_kind_has_a_ret_shape_and_its_requests_exist() -> None:
    for kind in KINDS.values():
        shape = SHAPES[kind.ret].split()
        assert kind.id_element in shape, kind.name
        assert f"{kind.name}AddRq" in REQUESTS, kind.name
        assert f"{kind.name}QueryRq" in REQUESTS, kind.name
        for element in (*kind.totals, *kind.zeros, kind.open_element, kind.paid_element):
            assert not element or element in shape, (kind.name, element)
        for base in kind.lines:
            assert f"{base}Ret" in " ".join(shape).replace("|", " ").split(), (kind.name, base)


def test_every_reference_points_at_kinds_the_file_keeps() -> None:
    for tag, targets in REF_TARGETS.items():
        assert all(t in KINDS for t in targets), tag
    for name, kinds in QUERY_GROUPS.items():
        assert f"{name}Rq" in REQUESTS
        assert all(k in KINDS for k in kinds)


def test_the_seed_uses_known_kinds() -> None:
    assert {kind for kind, _ in SEED} <= set(KINDS)
