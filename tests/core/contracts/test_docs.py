"""docs/events.md is generated from the schemas and must be regenerated when they change."""

from __future__ import annotations

from pathlib import Path

from core.contracts import EVENT_TYPES, load_schemas, render_events_doc

DOC = Path(__file__).resolve().parents[3] / "docs" / "events.md"


def test_docs_events_md_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == render_events_doc(), (
        "docs/events.md is stale: run `qbsync schemas docs` and commit the result"
    )


def test_the_page_covers_every_event_type_field_and_fingerprint() -> None:
    page = render_events_doc()
    schemas = load_schemas()
    for name, kind in EVENT_TYPES.items():
        assert f"| `{name}` | [`{kind.schema}`](#{kind.entity}) |" in page
        assert f"`{schemas.fingerprint(kind.schema).hex()}`" in page
    wrappers = {kind.schema for kind in EVENT_TYPES.values()}  # described per entity instead
    for name, node in schemas.definitions.items():
        if name in wrappers:
            continue
        for field in node.get("fields", ()):
            assert field["doc"].replace("|", "\\|") in page, f"{name}.{field['name']}"
    assert "invoice.lines[2].amount: expected a decimal with 2 places, got 'abc'" in page
