"""Rules every schema follows: named files, docs everywhere, money as decimals, and one event
schema per entity in the catalog."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from core.contracts import ENTITIES, EVENT_TYPES, UnknownEventType, event_type, load_schemas
from core.contracts._schemas import default_schema_dir

SCHEMAS = load_schemas()
FILES = sorted(default_schema_dir().glob("*.avsc"))
MONEY_WORDS = ("amount", "price", "rate", "cost", "retainage_held", "retainage_released")


def walk(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    yield path, node
    if isinstance(node, list):
        for branch in node:
            yield from walk(branch, path)
    elif isinstance(node, dict):
        for field in node.get("fields", ()):
            yield from walk(field["type"], f"{path}.{field['name']}")
        for key in ("items", "values"):
            if key in node:
                yield from walk(node[key], f"{path}[]")
        if isinstance(node.get("type"), dict | list):
            yield from walk(node["type"], path)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_each_file_holds_one_named_type_named_after_it(path: Any) -> None:
    raw = json.loads(path.read_text(encoding="utf-8"))
    assert f"{raw['namespace']}.{raw['name']}" == path.stem
    assert raw["namespace"] in {"com.qbsync.events", "com.qbsync.pipeline"}


@pytest.mark.parametrize("name", sorted(SCHEMAS.definitions))
def test_every_type_and_field_is_documented(name: str) -> None:
    node = SCHEMAS.definitions[name]
    assert node.get("doc", "").strip(), f"{name} has no doc"
    for field in node.get("fields", ()):
        assert field.get("doc", "").strip(), f"{name}.{field['name']} has no doc"


@pytest.mark.parametrize("name", sorted(SCHEMAS.standalone))
def test_no_floats_and_money_is_a_decimal(name: str) -> None:
    for path, node in walk(SCHEMAS.standalone[name], name):
        assert node not in ("float", "double"), f"{path} is a float"
        if isinstance(node, dict) and node.get("logicalType") == "decimal":
            assert node["type"] == "bytes"
            assert node["precision"] <= 18
    for path, node in walk(SCHEMAS.standalone[name], name):
        leaf = path.rsplit(".", 1)[-1]
        if leaf.endswith(MONEY_WORDS) and not isinstance(node, list) and node != "null":
            assert isinstance(node, dict), f"{path} should be a decimal, is {node!r}"
            assert node.get("logicalType") == "decimal", f"{path} is not a decimal"


@pytest.mark.parametrize("name", sorted(SCHEMAS.standalone))
def test_dates_and_timestamps_use_logical_types(name: str) -> None:
    for path, node in walk(SCHEMAS.standalone[name], name):
        leaf = path.rsplit(".", 1)[-1]
        if isinstance(node, dict) and node.get("type") in {"int", "long"}:
            if leaf.endswith(("_at",)):
                assert node.get("logicalType") == "timestamp-millis", path
            if leaf.endswith(("_date", "date", "_start", "_end", "_on")):
                assert node.get("logicalType") == "date", path
        if node in ("int", "long") and leaf.endswith(("_at", "date")):
            pytest.fail(f"{path} is a bare {node}")


def test_every_entity_has_an_event_schema_of_envelope_and_payload() -> None:
    events = {
        n for n in SCHEMAS.parsed if n.startswith("com.qbsync.events.") and n.endswith("Event")
    }
    assert events == {spec.event_schema for spec in ENTITIES}
    for spec in ENTITIES:
        fields = SCHEMAS.definitions[spec.event_schema]["fields"]
        assert [f["name"] for f in fields] == ["envelope", spec.payload_field]
        assert fields[0]["type"] == "com.qbsync.events.Envelope"
        assert fields[1]["type"] == ["null", spec.payload_schema]
        assert fields[1]["default"] is None


def test_the_entities_the_issue_names_are_all_there() -> None:
    assert {spec.entity for spec in ENTITIES} == {
        "customer", "job", "employee", "sales_rep", "vendor", "item", "account", "class",
        "sales_tax_code", "terms", "invoice", "credit_memo", "estimate", "payment", "refund",
        "bill", "vendor_credit", "expense", "time_entry", "commitment", "subcontractor_invoice",
        "cost_code", "budget_line", "import",
    }  # fmt: skip


def test_event_types_map_onto_schema_and_kind() -> None:
    assert event_type("customer.upserted").kind == "UPSERTED"
    assert event_type("customer.deactivated").kind == "DEACTIVATED"
    assert event_type("job.sync_requested").kind == "SYNC_REQUESTED"
    invoice = event_type("invoice.upserted")
    assert (invoice.schema, invoice.payload_field) == ("com.qbsync.events.InvoiceEvent", "invoice")
    assert "invoice.deactivated" not in EVENT_TYPES  # transactions are not deactivated
    with pytest.raises(UnknownEventType, match=r"did you mean invoice\.upserted"):
        event_type("invoice.upsert")


def test_the_names_the_pipeline_uses_are_kept() -> None:
    """streams/, connectors/qbwc and the demo use these names and shapes."""
    for name in (
        "com.qbsync.events.CustomerEvent",
        "com.qbsync.pipeline.Command",
        "com.qbsync.pipeline.Result",
        "com.qbsync.pipeline.DeadLetter",
    ):
        assert name in SCHEMAS.parsed
    envelope = SCHEMAS.definitions["com.qbsync.events.Envelope"]
    assert [f["name"] for f in envelope["fields"]] == [
        "event_id", "tenant_id", "source_system", "entity", "entity_id", "kind",
        "occurred_at", "source_updated_at",
    ]  # fmt: skip
    assert SCHEMAS.definitions["com.qbsync.events.EventKind"]["symbols"] == [
        "UPSERTED",
        "DEACTIVATED",
        "SYNC_REQUESTED",
    ]
