"""The request table against Intuit's own files: the honesty check.

``_generated.py`` must be exactly what ``_generate`` derives from the XSD and the annotated
reference today; the spot checks below pin facts read by hand from those files, so a
generator bug that changed them would not go unnoticed either.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.qbxml import REQUESTS, FieldSpec, RequestSpec
from connectors.qbxml._generate import EXCLUDED, SELECTION, generate, load_reference, render


@pytest.fixture(scope="module")
def fresh(qbxml_reference: Path) -> dict[str, RequestSpec]:
    """The table as the generator derives it from Intuit's files now (takes a few seconds)."""
    return generate(qbxml_reference)


def _field(path: str) -> FieldSpec:
    request, *names = path.split("/")
    spec = REQUESTS[request].body
    for name in names:
        spec = spec.by_name[name][1]
    return spec


def test_the_committed_table_is_what_intuits_files_say(fresh: dict[str, RequestSpec]) -> None:
    assert list(fresh) == list(REQUESTS)
    stale = [name for name in fresh if fresh[name] != REQUESTS[name]]
    assert not stale, (
        f"_generated.py disagrees with Intuit's files for {stale}:"
        " run python -m connectors.qbxml._generate"
    )


def test_rendering_the_table_gives_importable_python(fresh: dict[str, RequestSpec]) -> None:
    namespace: dict[str, object] = {}
    exec(render(fresh), namespace)
    assert namespace["REQUESTS"] == REQUESTS


def test_every_selected_request_is_in_the_table() -> None:
    expected = {f"{obj}{action}" for obj, actions in SELECTION.items() for action in actions}
    assert set(REQUESTS) == expected


@pytest.mark.parametrize(
    ("path", "max_length"),
    [
        ("CustomerAdd/Name", 41),
        ("CustomerAdd/BillAddress/City", 31),
        ("InvoiceAdd/RefNumber", 11),
        ("BillAdd/RefNumber", 20),
        ("ItemServiceAdd/Name", 31),
        ("InvoiceAdd/InvoiceLineAdd/Desc", 4095),
        ("CustomerMod/ListID", 36),
        ("CustomerMod/EditSequence", 16),
        # From the annotated reference (the XSD gives references' FullName no limit).
        ("InvoiceAdd/CustomerRef/FullName", 209),
        ("InvoiceAdd/SalesRepRef/FullName", 5),
        ("InvoiceAdd/TermsRef/FullName", 31),
        ("InvoiceAdd/InvoiceLineAdd/SalesTaxCodeRef/FullName", 3),
    ],
)
def test_max_lengths(path: str, max_length: int) -> None:
    assert _field(path).max_length == max_length


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("InvoiceAdd/TxnDate", "date"),
        ("InvoiceAdd/InvoiceLineAdd/Amount", "amount"),
        ("InvoiceAdd/InvoiceLineAdd/Quantity", "quantity"),
        ("InvoiceAdd/InvoiceLineAdd/Rate", "price"),
        ("CustomerQuery/FromModifiedDate", "datetime"),
        ("TimeTrackingAdd/Duration", "duration"),
        ("CustomerAdd/IsActive", "bool"),
        ("CustomerAdd/JobStatus", "enum"),
        ("CustomerAdd/ClassRef", "group"),
    ],
)
def test_kinds(path: str, kind: str) -> None:
    assert _field(path).kind == kind


def test_enumerations_come_from_the_schema() -> None:
    assert _field("CustomerAdd/JobStatus").values == (
        "Awarded",
        "Closed",
        "InProgress",
        "None",
        "NotAwarded",
        "Pending",
    )
    assert _field("BillAdd/ExpenseLineAdd/BillableStatus").values == (
        "Billable",
        "NotBillable",
        "HasBeenBilled",
    )


def test_versions_come_from_the_reference_and_the_16_0_schema() -> None:
    assert _field("CustomerAdd/ClassRef").since == "12.0"  # "v12.0" in the reference
    assert _field("CustomerAdd/BillAddress/Addr5").since == "6.0"
    assert _field("CustomerAdd/Name").since is None
    assert _field("BillAdd/ClassRef").since == "16.0"  # only in the 16.0 schema


def test_not_in_quickbooks_desktop_is_marked() -> None:
    assert not _field("CustomerAdd/Mobile").desktop
    assert not _field("CustomerAdd/PrintAs").desktop
    assert _field("CustomerAdd/Phone").desktop


def test_required_and_choices() -> None:
    assert _field("CustomerAdd/Name").required
    assert not _field("CustomerMod/Name").required
    assert _field("InvoiceMod/InvoiceLineMod/TxnLineID").required
    (rule,) = REQUESTS["ReceivePaymentAdd"].body.choices
    assert rule.required
    assert rule.branches == (frozenset({"IsAutoApply"}), frozenset({"AppliedToTxnAdd"}))
    assert _field("InvoiceAdd/InvoiceLineAdd").repeat is None
    assert _field("CustomerAdd/ShipToAddress").repeat == 50


def test_iterators_only_where_the_schema_has_them() -> None:
    assert REQUESTS["CustomerQuery"].iterator
    assert REQUESTS["InvoiceQuery"].iterator
    assert not REQUESTS["ClassQuery"].iterator
    assert not REQUESTS["TermsQuery"].iterator


def test_card_and_payroll_data_are_left_out() -> None:
    def names(spec: FieldSpec) -> set[str]:
        return {spec.element}.union(*(names(child) for child in spec.children))

    everything = set().union(*(names(request.body) for request in REQUESTS.values()))
    assert not everything & EXCLUDED


def test_reference_notes_are_read_per_element(qbxml_reference: Path) -> None:
    notes = load_reference(qbxml_reference / "reference" / "qbxmlops130.xml")
    assert notes["CustomerAddRq/CustomerAdd/Name"].max_length == 41
    assert notes["CustomerAddRq/CustomerAdd/ClassRef"].since == "12.0"
    assert not notes["CustomerAddRq/CustomerAdd/Mobile"].desktop
    assert notes["CustomerAddRq/CustomerAdd/SalesTaxCodeRef/FullName"].max_length == 3
