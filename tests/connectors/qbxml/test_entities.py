from __future__ import annotations

from pathlib import Path

import pytest

from connectors.qbxml import ENTITIES, REQUESTS


@pytest.mark.parametrize("name", sorted(ENTITIES))
def test_every_entity_has_its_requests(name: str) -> None:
    spec = ENTITIES[name]
    for action in spec.actions:
        request = spec.request(action)
        assert request is REQUESTS[f"{spec.name}{action}"]
    id_request = spec.request("Mod" if "Mod" in spec.actions else "Query").body
    assert spec.id_element in id_request.by_name
    assert spec.fields


def test_the_entities_the_issue_lists() -> None:
    assert {
        "customer",
        "job",
        "employee",
        "sales_rep",
        "vendor",
        "item_service",
        "item_non_inventory",
        "item_inventory",
        "item_other_charge",
        "account",
        "class",
        "sales_tax_code",
        "terms",
        "invoice",
        "credit_memo",
        "estimate",
        "receive_payment",
        "bill",
        "vendor_credit",
        "time_tracking",
        "commitment",
        "subcontractor_invoice",
    } <= set(ENTITIES)


def test_names_matched_by_exact_name_are_query_only() -> None:
    for name in ("account", "class", "sales_tax_code", "terms", "payment_method", "item"):
        assert ENTITIES[name].actions == ("Query",)


def test_procore_mapping() -> None:
    assert ENTITIES["commitment"].name == "PurchaseOrder"
    assert ENTITIES["subcontractor_invoice"].name == "Bill"
    assert ENTITIES["job"].name == "Customer"
    assert ENTITIES["job"].add_requires == ("ParentRef",)


def test_the_old_fields_attribute_still_lists_the_add_elements_in_order() -> None:
    names = [field.element for field in ENTITIES["customer"].fields]
    assert names[:4] == ["Name", "IsActive", "ClassRef", "ParentRef"]
    assert [f.element for f in ENTITIES["class"].fields][:2] == ["ListID", "FullName"]


def test_the_docs_list_every_entity() -> None:
    docs = (Path(__file__).resolve().parents[3] / "docs" / "qbxml.md").read_text()
    missing = [name for name in ENTITIES if f"| `{name}` |" not in docs]
    assert not missing, f"docs/qbxml.md does not list {missing}"
