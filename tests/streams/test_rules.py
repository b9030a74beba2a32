"""Every entity through the one translation path: Add, Mod, references, XSD-valid requests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import ENTITIES as QBXML
from connectors.qbxml import build_message, parse_xml
from core.messages import Command
from streams.rules import ENTITY_RULES, SAME_LIST
from streams.tenant_settings import load_settings
from streams.translate import Context, Held, Rejection, Skip, Waiting, plan, plan_command
from tests.streams._events import NOW, example, knows_everything, mapping_of
from tests.support.xsd import assert_valid_qbxml

SETTINGS = {"retainage_item": "Retainage Payable"}

# entity -> (qbXML object of the request, references the example depends on)
ENTITIES: dict[str, tuple[str, list[str]]] = {
    "customer": ("Customer", []),
    "job": ("Customer", ["customer:cus-1042", "sales_rep:usr-15"]),
    "employee": ("Vendor", []),
    "sales_rep": ("SalesRep", ["employee:usr-15"]),
    "vendor": ("Vendor", []),
    "item": ("ItemService", []),
    "invoice": ("Invoice", ["customer:prj-220", "sales_rep:usr-15", "item:itm-55"]),
    "credit_memo": ("CreditMemo", ["customer:cus-1042"]),
    "estimate": ("Estimate", ["customer:cus-1042"]),
    "payment": ("ReceivePayment", ["customer:cus-1042", "invoice:inv-88121"]),
    "bill": ("Bill", ["vendor:ven-301", "customer:prj-220"]),
    "vendor_credit": ("VendorCredit", ["vendor:ven-301"]),
    "expense": ("CreditCardCharge", ["vendor:ven-301", "customer:prj-220"]),
    "time_entry": ("TimeTracking", ["employee:usr-31", "customer:prj-220", "item:itm-55"]),
    "commitment": (
        "PurchaseOrder",
        ["job:prj-220", "vendor:ven-420", "cost_code:cc-23-3100", "cost_code:cc-23-3700"],
    ),
    "subcontractor_invoice": (
        "Bill",
        ["job:prj-220", "cost_code:cc-23-3100", "cost_code:cc-23-3700", "vendor:ven-420"],
    ),
}


def event_for(entity: str) -> dict[str, Any]:
    event = example(f"{entity}.upserted")
    if entity == "sales_rep":
        event["sales_rep"]["represented_by"] = {"id": "usr-15"}
    return event


def command(outcome: object) -> Command:
    assert isinstance(outcome, Command), outcome
    return outcome


def assert_valid(outcome: dict[str, Any], reference: Path) -> None:
    assert_valid_qbxml(build_message([("1", outcome.request_xml)], version="13.0"), reference)


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_an_unmapped_record_is_an_add_valid_against_the_xsd(
    entity: str, qbxml_reference: Path
) -> None:
    context = Context("p-1", None, SETTINGS, resolve=knows_everything)
    result = command(plan(event_for(entity), context, command_id="c-1", now=NOW))
    qb_object, depends_on = ENTITIES[entity]
    assert parse_xml(result.request_xml).tag == f"{qb_object}AddRq"
    assert (result.action, result.entity, result.command_id) == ("ADD", entity, "c-1")
    assert list(result.depends_on) == depends_on
    assert_valid(result, qbxml_reference)


@pytest.mark.parametrize("entity", sorted(ENTITIES))
def test_a_mapped_record_is_a_mod_with_the_stored_edit_sequence(
    entity: str, qbxml_reference: Path
) -> None:
    mapped = mapping_of(entity, "self")
    context = Context("p-1", mapped, SETTINGS, resolve=knows_everything)
    result = command(plan(event_for(entity), context, command_id="c-1", now=NOW))
    request = parse_xml(result.request_xml)
    qb_object = ENTITIES[entity][0]
    assert request.tag == f"{qb_object}ModRq"
    body = request[0]
    assert body.findtext("EditSequence") == mapped.edit_sequence
    assert mapped.qb_id in {body.findtext("ListID"), body.findtext("TxnID")}
    assert result.action == "MOD"
    assert_valid(result, qbxml_reference)


@pytest.mark.parametrize(
    ("payment_type", "qb_object"),
    [("CHECK", "Check"), ("CASH", "Check"), ("CREDIT_CARD", "CreditCardCharge")],
)
def test_an_expense_is_a_check_or_a_card_charge_from_the_account_it_was_paid_from(
    payment_type: str, qb_object: str, qbxml_reference: Path
) -> None:
    event = example("expense.upserted", payment_type=payment_type)
    context = Context("p-1", None, {}, knows_everything)
    result = command(plan(event, context, command_id="c", now=NOW))
    body = parse_xml(result.request_xml)[0]
    assert body.tag == f"{qb_object}Add"
    assert body.findtext("AccountRef/FullName") == "Company Visa"
    assert body.findtext("PayeeEntityRef/ListID") == "ID-vendor-ven-301"
    assert [line.findtext("Amount") for line in body.findall("ExpenseLineAdd")] == ["42.10"]
    assert [line.findtext("Amount") for line in body.findall("ItemLineAdd")] == ["232.50"]
    assert_valid(result, qbxml_reference)


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"total": "300.00"}, "total is 300.00 but expense_lines and item_lines add up to 274.60"),
        ({"expense_lines": [], "item_lines": []}, "expense_lines and item_lines are both empty"),
    ],
    ids=["total", "no-lines"],
)
@pytest.mark.parametrize("api", ["qbxml", "qbo"])
def test_an_expense_that_would_not_land_as_paid_is_refused_naming_the_fields(
    changes: dict[str, Any], said: str, api: str
) -> None:
    event = example("expense.upserted", **changes)
    outcome = plan(
        event, Context("p-1", None, {}, knows_everything, api=api), command_id="c", now=NOW
    )
    assert isinstance(outcome, Rejection), outcome
    assert (outcome.code, outcome.reason[: len(said)]) == ("invalid-field", said)


def test_a_mod_replaces_lines_with_new_ones() -> None:
    context = Context("p-1", mapping_of("invoice", "x"), {}, resolve=knows_everything)
    request = parse_xml(
        command(plan(event_for("invoice"), context, command_id="c", now=NOW)).request_xml
    )
    lines = request.findall("InvoiceMod/InvoiceLineMod")
    assert len(lines) == 3
    assert {line.findtext("TxnLineID") for line in lines} == {"-1"}


def test_references_resolve_to_quickbooks_ids() -> None:
    context = Context("p-1", None, {}, resolve=knows_everything)
    request = parse_xml(
        command(plan(event_for("payment"), context, command_id="c", now=NOW)).request_xml
    )
    assert request.findtext("ReceivePaymentAdd/CustomerRef/ListID") == "ID-customer-cus-1042"
    assert request.findtext("ReceivePaymentAdd/AppliedToTxnAdd/TxnID") == "ID-invoice-inv-88121"


def test_a_reference_by_name_only_is_sent_by_name_and_waits_for_nothing() -> None:
    event = example("credit_memo.upserted", customer={"id": None, "full_name": "Lakeshore"})
    result = command(plan(event, Context("p-1", None, {}), command_id="c", now=NOW))
    assert result.depends_on == ()
    assert parse_xml(result.request_xml).findtext("CreditMemoAdd/CustomerRef/FullName") == (
        "Lakeshore"
    )


def test_an_invoice_before_its_customer_waits_instead_of_failing() -> None:
    outcome = plan(event_for("invoice"), Context("p-1", None, {}), command_id="c", now=NOW)
    assert isinstance(outcome, Waiting)
    assert outcome.on == ("customer:prj-220|job:prj-220", "sales_rep:usr-15", "item:itm-55")
    assert "customer:prj-220|job:prj-220" in outcome.reason


def test_a_customer_or_job_reference_finds_the_job() -> None:
    def only_jobs(entity: str, external_id: str) -> Any:
        return mapping_of(entity, external_id) if entity in ("job", "item", "sales_rep") else None

    result = command(
        plan(event_for("invoice"), Context("p-1", None, {}, only_jobs), command_id="c", now=NOW)
    )
    assert result.depends_on[0] == "job:prj-220"


@pytest.mark.parametrize(("entity", "qb_object"), [("job", "Customer"), ("vendor", "Vendor")])
def test_list_records_are_deactivated_never_deleted(entity: str, qb_object: str) -> None:
    event = example(f"{entity}.upserted")
    event["envelope"]["kind"] = "DEACTIVATED"
    event[entity] = None
    context = Context("p-1", mapping_of(entity, "x"), {})
    request = parse_xml(command(plan(event, context, command_id="c", now=NOW)).request_xml)
    assert request.tag == f"{qb_object}ModRq"
    assert request.findtext(f"{qb_object}Mod/IsActive") == "false"


def test_a_sales_rep_without_whom_it_represents_is_refused_naming_the_element() -> None:
    outcome = plan(example("sales_rep.upserted"), Context("p", None, {}), command_id="c", now=NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.code == "invalid-field"
    assert "SalesRepEntityRef" in outcome.reason


@pytest.mark.parametrize(
    ("item_type", "qb_object"),
    [
        ("SERVICE", "ItemService"),
        ("NON_INVENTORY", "ItemNonInventory"),
        ("OTHER_CHARGE", "ItemOtherCharge"),
        ("INVENTORY", "ItemInventory"),
    ],
)
def test_items_become_the_quickbooks_item_of_their_type(
    item_type: str, qb_object: str, qbxml_reference: Path
) -> None:
    for mapped in (None, mapping_of("item", "x")):
        event = example("item.upserted", item_type=item_type)
        result = command(plan(event, Context("p", mapped, {}), command_id="c", now=NOW))
        assert parse_xml(result.request_xml).tag.startswith(qb_object)
        assert_valid(result, qbxml_reference)


def test_the_old_api_turns_the_new_outcomes_into_rejections_with_their_own_codes() -> None:
    off = Context("p", None, {"entities": {"items_and_invoices": False}})
    skipped = plan(event_for("invoice"), off, command_id="c", now=NOW)
    assert isinstance(skipped, Skip)
    old = plan_command(event_for("invoice"), off, command_id="c", now=NOW)
    assert old == Rejection("skip:entity-off", skipped.reason)
    waiting = plan_command(event_for("invoice"), Context("p", None, {}), command_id="c", now=NOW)
    assert isinstance(waiting, Rejection)
    assert waiting.code == "waiting"
    paused = Context("p", None, {"enabled": False})
    assert plan_command(event_for("invoice"), paused, command_id="c", now=NOW) == Rejection(
        "paused", "the tenant's integration is switched off"
    )


def test_a_payment_applied_to_an_invoice_known_only_by_name_is_refused() -> None:
    event = example("payment.upserted")
    event["payment"]["applied_to"][0]["transaction"] = {"id": None, "full_name": "88121"}
    outcome = plan(event, Context("p", None, {}, knows_everything), command_id="c", now=NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.code == "invalid-field"
    assert "TxnID" in outcome.reason


def test_a_class_or_tax_code_quickbooks_lacks_holds_the_event_with_the_reason() -> None:
    def company_file(entity: str, name: str) -> bool:
        return (entity, name) != ("class", "Commercial")

    event = example("invoice.upserted")  # class "Commercial", a line's tax code "Tax"
    context = Context("p", None, {}, knows_everything, exists=company_file)
    outcome = plan(event, context, command_id="c", now=NOW)
    assert outcome == Held(("class 'Commercial'",), "class 'Commercial' not found in QuickBooks")
    # Unknown company file (no check given): sent by name.
    assert isinstance(
        plan(event, Context("p", None, {}, knows_everything), command_id="c", now=NOW), Command
    )


def test_a_missing_sales_tax_code_is_named() -> None:
    def no_tax(entity: str, name: str) -> bool:
        return entity != "sales_tax_code"

    context = Context("p", None, {}, knows_everything, exists=no_tax)
    outcome = plan(example("invoice.upserted"), context, command_id="c", now=NOW)
    assert isinstance(outcome, Held)
    assert outcome.reason == "sales tax code 'Tax' not found in QuickBooks"
    assert plan_command(example("invoice.upserted"), context, command_id="c", now=NOW) == (
        Rejection("held", outcome.reason)
    )


def test_same_list_groups_the_entities_that_become_one_quickbooks_object() -> None:
    """``SAME_LIST`` (who may hold another tenant's QuickBooks id, ``Store.holders``) agrees
    with the rules: two entities are kin exactly when they can become the same QuickBooks
    object (QBO: the shape's entity; Desktop: the request's object, a 1099 worker a vendor)."""
    settings = load_settings({})
    payloads = [{}, {"employment_type": "VENDOR_1099"}] + [
        {"item_type": kind} for kind in ("SERVICE", "NON_INVENTORY", "INVENTORY")
    ]
    objects = {
        "qbo": {e: {r.qbo.entity} for e, r in ENTITY_RULES.items() if r.qbo is not None},
        "qbxml": {
            e: {QBXML[r.target(p, settings)].name for p in payloads}
            for e, r in ENTITY_RULES.items()
            if r.desktop
        },
    }
    for api, found in objects.items():
        for a, made in found.items():
            for b, other in found.items():
                kin = SAME_LIST[api].get(a, frozenset({a}))
                assert (b in kin) == bool(made & other), (api, a, b)
