"""The evolution rule: every schema reads data of every release, and releases read ours.

The incompatible changes below are made to a copy of the schemas inside the test; the real
schemas never contain them.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.contracts import check_compatibility, load_released, load_schemas
from core.contracts._schemas import default_schema_dir

RELEASES = load_released()

# Released snapshots are history: editing one would make the check compare against a
# release that never existed. Pinned here, per release.
RELEASED_FINGERPRINTS = {
    "0.1.0": {
        "com.qbsync.events.Address": "77a6cbae2dec62af",
        "com.qbsync.events.Customer": "ac7b50cda15e4d67",
        "com.qbsync.events.CustomerEvent": "b81eaa79eddaf0a1",
        "com.qbsync.events.Envelope": "07556e47f5765018",
        "com.qbsync.pipeline.Command": "10bdb1827167de28",
        "com.qbsync.pipeline.DeadLetter": "e72146d768a67c95",
        "com.qbsync.pipeline.Result": "6449e3004f5e7f96",
    },
}


def test_every_release_snapshot_is_pinned_and_unchanged() -> None:
    assert set(RELEASES) == set(RELEASED_FINGERPRINTS)
    for version, snapshot in RELEASES.items():
        found = {name: fp.hex() for name, fp in snapshot.fingerprints.items()}
        assert found == RELEASED_FINGERPRINTS[version], f"released/{version} was edited"


@pytest.mark.parametrize("version", list(RELEASES))
def test_current_schemas_are_compatible_both_ways_with_every_release(version: str) -> None:
    assert check_compatibility(RELEASES[version], load_schemas(), version=version) == []


def test_the_check_actually_resolved_changed_schemas() -> None:
    """Guard against a vacuous pass: 0.1.0's customer schemas did change since."""
    released, current = RELEASES["0.1.0"], load_schemas()
    changed = [n for n in released.parsed if released.fingerprints[n] != current.fingerprints[n]]
    assert "com.qbsync.events.Customer" in changed
    assert "com.qbsync.events.CustomerEvent" in changed


# --- deliberately incompatible changes ------------------------------------------------------


@pytest.fixture
def edited(tmp_path: Path) -> Callable[[str, Callable[[dict[str, Any]], None]], list[str]]:
    """Edit one schema of a copy; return what the check finds against the real schemas."""

    def edit(name: str, change: Callable[[dict[str, Any]], None]) -> list[str]:
        folder = tmp_path / "avro"
        shutil.copytree(default_schema_dir(), folder, ignore=shutil.ignore_patterns("released"))
        path = folder / f"{name}.avsc"
        schema = json.loads(path.read_text(encoding="utf-8"))
        change(schema)
        path.write_text(json.dumps(schema), encoding="utf-8")
        return check_compatibility(load_schemas(), load_schemas(folder), version="the release")

    return edit


def field(schema: dict[str, Any], name: str) -> dict[str, Any]:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_a_new_field_without_a_default_is_caught(edited: Any) -> None:
    problems = edited(
        "com.qbsync.events.Invoice",
        lambda s: s["fields"].append({"name": "po_number", "type": "string"}),
    )
    assert any(
        p.startswith("com.qbsync.events.Invoice: data written by the release does not read")
        and "po_number" in p
        for p in problems
    ), problems
    # Every event carrying an invoice is broken with it.
    assert any(p.startswith("com.qbsync.events.InvoiceEvent:") for p in problems)


def test_a_changed_field_type_is_caught(edited: Any) -> None:
    def retype(schema: dict[str, Any]) -> None:
        field(schema, "amount")["type"] = "string"  # decimal -> string

    problems = edited("com.qbsync.events.SalesLine", retype)
    # Avro promotes string to bytes and back, so the data resolves; the value does not
    # survive: new text amounts read as raw bytes where the release expects a decimal.
    assert any(
        p.startswith("com.qbsync.events.SalesLine: current data does not read")
        and "amount: '" in p
        and "' reads as b'" in p
        for p in problems
    ), problems
    assert any(p.startswith("com.qbsync.events.InvoiceEvent: current data") for p in problems)


def test_a_field_retyped_to_an_unpromotable_type_is_caught(edited: Any) -> None:
    def retype(schema: dict[str, Any]) -> None:
        field(schema, "ref_number")["type"] = ["null", "int"]

    problems = edited("com.qbsync.events.Invoice", retype)
    assert any("data written by the release" in p for p in problems)
    assert any("current data does not read" in p for p in problems)


def test_a_removed_enum_symbol_is_caught(edited: Any) -> None:
    problems = edited(
        "com.qbsync.events.DocumentStatus", lambda s: s["symbols"].remove("READY_FOR_SYNC")
    )
    assert any("data written by the release" in p and "READY_FOR_SYNC" in p for p in problems)


def test_an_added_enum_symbol_breaks_forward_compatibility_only(edited: Any) -> None:
    problems = edited("com.qbsync.events.DocumentStatus", lambda s: s["symbols"].append("VOID"))
    assert problems
    assert all("current data does not read as the release's schema" in p for p in problems)
    assert any("VOID" in p for p in problems)


def test_a_removed_required_field_breaks_old_readers(edited: Any) -> None:
    def remove(schema: dict[str, Any]) -> None:
        schema["fields"].remove(field(schema, "source_updated_at"))

    problems = edited("com.qbsync.events.Envelope", remove)
    assert any(
        p.startswith("com.qbsync.events.Envelope: current data does not read") for p in problems
    )
    assert any(p.startswith("com.qbsync.events.InvoiceEvent: current data") for p in problems)


def test_a_removed_schema_is_caught(tmp_path: Path) -> None:
    folder = tmp_path / "avro"
    shutil.copytree(default_schema_dir(), folder, ignore=shutil.ignore_patterns("released"))
    (folder / "com.qbsync.events.BillEvent.avsc").unlink()
    problems = check_compatibility(load_schemas(), load_schemas(folder), version="v")
    assert problems == [
        "com.qbsync.events.BillEvent: in v but gone now; data written by it has no reader"
    ]


def test_forward_compatibility_can_be_limited_to_some_schemas(edited: Any, tmp_path: Path) -> None:
    edited("com.qbsync.events.DocumentStatus", lambda s: s["symbols"].append("VOID"))
    problems = check_compatibility(
        load_schemas(), load_schemas(tmp_path / "avro"), forward=["com.qbsync.events.Invoice"]
    )
    assert {p.split(":")[0] for p in problems} == {"com.qbsync.events.Invoice"}


def test_compatible_changes_pass(edited: Any) -> None:
    def evolve(schema: dict[str, Any]) -> None:
        schema["fields"].append(
            {"name": "po_number", "type": ["null", "string"], "default": None, "doc": "New."}
        )
        schema["fields"].remove(field(schema, "memo"))  # it had a default
        field(schema, "customer")["doc"] = "Docs may change freely."

    assert edited("com.qbsync.events.Invoice", evolve) == []
