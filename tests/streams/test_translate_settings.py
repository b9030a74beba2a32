"""One test (at least) per tenant setting, through the translation path."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import build_message, parse_xml
from core.messages import Command
from streams.translate import Context, Paused, Rejection, Skip, plan
from tests.streams._events import NOW, example, knows_everything, mapping_of
from tests.support.xsd import assert_valid_qbxml


def run(event: dict[str, Any], settings: dict[str, Any], mapped: bool = False) -> Any:
    mapping = mapping_of(event["envelope"]["entity"], "x") if mapped else None
    return plan(event, Context("p-1", mapping, settings, knows_everything), command_id="c", now=NOW)


def request(event: dict[str, Any], settings: dict[str, Any], reference: Path | None = None) -> Any:
    outcome = run(event, settings)
    assert isinstance(outcome, Command), outcome
    if reference is not None:
        assert_valid_qbxml(build_message([("1", outcome.request_xml)], version="13.0"), reference)
    return parse_xml(outcome.request_xml)


def skipped(outcome: Any, code: str) -> Skip:
    assert isinstance(outcome, Skip), outcome
    assert outcome.code == code
    return outcome


def test_integration_off_pauses_rather_than_drops() -> None:
    for event_type in ("customer.upserted", "invoice.upserted"):
        outcome = run(example(event_type), {"enabled": False})
        assert outcome == Paused("the tenant's integration is switched off")


@pytest.mark.parametrize(
    ("entity", "group"),
    [
        ("customer", "customers"),
        ("employee", "employees"),
        ("job", "customer_jobs"),
        ("item", "items_and_invoices"),
        ("invoice", "items_and_invoices"),
        ("estimate", "estimates"),
        ("credit_memo", "credit_memos"),
        ("payment", "payments"),
        ("vendor", "vendors_and_bills"),
        ("bill", "vendors_and_bills"),
        ("vendor_credit", "vendors_and_bills"),
        ("time_entry", "time_entries"),
        ("commitment", "commitments"),
        ("subcontractor_invoice", "commitments"),
    ],
)
def test_an_entity_switched_off_is_skipped(entity: str, group: str) -> None:
    outcome = skipped(
        run(example(f"{entity}.upserted"), {"entities": {group: False}}), "entity-off"
    )
    assert group.replace("_", " ") in outcome.reason


def test_records_dated_before_sync_from_are_skipped() -> None:
    event = example("invoice.upserted")  # dated 2026-03-02
    outcome = skipped(run(event, {"sync_from": "2026-03-03"}), "before-sync-from")
    assert "2026-03-02" in outcome.reason
    assert isinstance(run(event, {"sync_from": "2026-03-02"}), Command)
    # Lists have no date: never filtered by it.
    assert isinstance(run(example("customer.upserted"), {"sync_from": "2030-01-01"}), Command)


def test_manual_sync_sends_only_on_request() -> None:
    event = example("customer.upserted")
    skipped(run(event, {"sync_type": "manual"}), "manual-sync")
    event["envelope"]["kind"] = "SYNC_REQUESTED"
    assert isinstance(run(event, {"sync_type": "manual"}), Command)


def test_upper_case_applies_to_names(qbxml_reference: Path) -> None:
    customer = request(example("customer.upserted"), {"upper_case": True}, qbxml_reference)
    assert customer.findtext("CustomerAdd/Name") == "LAKESHORE PROPERTY GROUP"
    job = request(example("job.upserted"), {"upper_case": True})
    assert job.findtext("CustomerAdd/Name") == "2026-017 - 1200 LAKESHORE DR"


def test_customer_name_format_and_company_name() -> None:
    event = example("customer.upserted")
    assert request(event, {}).findtext("CustomerAdd/Name") == "Lakeshore Property Group"
    person = {"use_company_name": False}
    assert request(event, person).findtext("CustomerAdd/Name") == "Whitfield, Dana"
    custom = {"use_company_name": False, "customer_name_format": "{first_name} {last_name}"}
    assert request(event, custom).findtext("CustomerAdd/Name") == "Dana Whitfield"


def test_job_name_format(qbxml_reference: Path) -> None:
    event = example("job.upserted")
    job = request(event, {}, qbxml_reference)
    assert job.findtext("CustomerAdd/Name") == "2026-017 - 1200 Lakeshore Dr"
    assert job.findtext("CustomerAdd/ParentRef/ListID") == "ID-customer-cus-1042"
    named = request(event, {"job_name_format": "{name}"})
    assert named.findtext("CustomerAdd/Name") == "Tower A rooftop units"
    bare = example("job.upserted", project_number=None, job_address=None)
    assert request(bare, {}).findtext("CustomerAdd/Name") == "Tower A rooftop units"


def test_default_ar_account_on_invoices_and_payments(qbxml_reference: Path) -> None:
    settings = {"ar_account": "Accounts Receivable:Service"}
    invoice = request(example("invoice.upserted"), settings, qbxml_reference)
    assert invoice.findtext("InvoiceAdd/ARAccountRef/FullName") == settings["ar_account"]
    payment = request(example("payment.upserted"), settings, qbxml_reference)
    assert payment.findtext("ReceivePaymentAdd/ARAccountRef/FullName") == settings["ar_account"]
    assert request(example("invoice.upserted"), {}).find("InvoiceAdd/ARAccountRef") is None


def test_payments_go_to_undeposited_funds_or_the_deposit_account(qbxml_reference: Path) -> None:
    event = example("payment.upserted", deposit_to=None)
    default = request(event, {}, qbxml_reference)
    deposit = "ReceivePaymentAdd/DepositToAccountRef/FullName"
    assert default.findtext(deposit) == "Undeposited Funds"
    bank = request(event, {"deposit_to": "account", "deposit_account": "Operating Checking"})
    assert bank.findtext(deposit) == "Operating Checking"
    # The event's own deposit account wins over the tenant's default.
    assert request(example("payment.upserted"), {}).findtext(deposit) == "Operating Checking"


def test_expense_export_status() -> None:
    approved = example("bill.upserted")  # APPROVED
    assert isinstance(run(approved, {}), Command)
    skipped(run(approved, {"expense_export_status": "paid"}), "not-sendable")
    paid = example("bill.upserted", status="PAID")
    assert isinstance(run(paid, {"expense_export_status": "paid"}), Command)


def test_invoices_to_be_printed(qbxml_reference: Path) -> None:
    on = request(example("invoice.upserted"), {"invoices_to_be_printed": True}, qbxml_reference)
    assert on.findtext("InvoiceAdd/IsToBePrinted") == "true"
    off = request(example("invoice.upserted"), {})
    assert off.findtext("InvoiceAdd/IsToBePrinted") == "false"
    memo = request(example("credit_memo.upserted"), {"invoices_to_be_printed": True})
    assert memo.findtext("CreditMemoAdd/IsToBePrinted") == "true"


def test_1099_workers_become_vendors_unless_routed_to_employees(qbxml_reference: Path) -> None:
    event = example("employee.upserted")  # VENDOR_1099
    vendor = request(event, {}, qbxml_reference)
    assert vendor.tag == "VendorAddRq"
    assert vendor.findtext("VendorAdd/IsVendorEligibleFor1099") == "true"
    assert vendor.findtext("VendorAdd/Name") == "Ortega, Luis"
    employee = request(event, {"route_1099_to_vendor": False}, qbxml_reference)
    assert employee.tag == "EmployeeAddRq"
    staff = request(example("employee.upserted", employment_type="EMPLOYEE"), {})
    assert staff.tag == "EmployeeAddRq"


def test_contract_number_as_quickbooks_id(qbxml_reference: Path) -> None:
    event = example("commitment.upserted")
    assert request(event, {}).find("PurchaseOrderAdd/RefNumber") is None
    numbered = request(event, {"contract_number_as_id": True}, qbxml_reference)
    assert numbered.findtext("PurchaseOrderAdd/RefNumber") == "SC-017-04"


def test_a_contract_number_too_long_for_quickbooks_is_refused_not_cut() -> None:
    event = example("commitment.upserted", contract_number="SC-2026-000017")
    outcome = run(event, {"contract_number_as_id": True})
    assert isinstance(outcome, Rejection)
    assert outcome.code == "invalid-field"
    assert "RefNumber" in outcome.reason


def test_subcontractor_invoices_need_the_retainage_item() -> None:
    outcome = run(example("subcontractor_invoice.upserted"), {})
    assert isinstance(outcome, Rejection)
    assert outcome.code == "missing-setting"
    assert "retainage_item" in outcome.reason


def test_retainage_is_held_on_a_negative_line_and_released_on_a_positive_one(
    qbxml_reference: Path,
) -> None:
    settings = {"retainage_item": "Retainage Payable"}
    bill = request(example("subcontractor_invoice.upserted"), settings, qbxml_reference)
    retainage = [
        (line.findtext("Desc"), Decimal(line.findtext("Amount") or "0"))
        for line in bill.findall("BillAdd/ItemLineAdd")
        if line.findtext("ItemRef/FullName") == "Retainage Payable"
    ]
    assert retainage == [
        ("Retainage held", Decimal("-3380.00")),
        ("Retainage released", Decimal("612.50")),
    ]


def test_direction_from_quickbooks_skips_outbound_events() -> None:
    settings = {"direction": {"customer": "from_quickbooks"}}
    skipped(run(example("customer.upserted"), settings), "direction")
    assert isinstance(
        run(example("customer.upserted"), {"direction": {"customer": "two_way"}}), Command
    )


def two_way(
    settings: dict[str, Any], qb_changed_at: datetime | None, app_changed_at: datetime
) -> Any:
    event = example("customer.upserted")
    event["envelope"]["source_updated_at"] = app_changed_at
    context = Context(
        "p-1",
        mapping_of("customer", "x"),
        {"direction": {"customer": "two_way"}, **settings},
        knows_everything,
        qb_changed_at=lambda entity, qb_id: qb_changed_at,
    )
    return plan(event, context, command_id="c", now=NOW)


def test_a_two_way_mod_carries_what_the_gateway_needs_to_decide_a_3200() -> None:
    sent = two_way({"conflict": {"customer": "always"}}, None, NOW)
    assert sent.action == "MOD"
    assert (sent.conflict_policy, sent.source_updated_at) == ("always", NOW)
    one_way = run(example("customer.upserted"), {}, mapped=True)
    assert (one_way.conflict_policy, one_way.source_updated_at) == (None, None)
    added = run(example("customer.upserted"), {"direction": {"customer": "two_way"}})
    assert added.conflict_policy is None  # an Add has nothing to conflict with


@pytest.mark.parametrize(
    ("policy", "app_offset", "sent"),
    [
        # The app's change was made before a QuickBooks change it was sent since.
        ("always", timedelta(minutes=-5), False),
        ("most_recent", timedelta(minutes=-5), False),
        ("never", timedelta(minutes=-5), True),  # the app wins, whatever the times
        # The app changed it again after receiving QuickBooks' change: no conflict.
        ("always", timedelta(minutes=5), True),
        ("most_recent", timedelta(minutes=5), True),
    ],
)
def test_conflict_policy_when_quickbooks_changed_the_record_after_the_app(
    policy: str, app_offset: timedelta, sent: bool
) -> None:
    qb_changed = NOW - timedelta(hours=1)
    outcome = two_way({"conflict_policy": policy}, qb_changed, qb_changed + app_offset)
    if sent:
        assert isinstance(outcome, Command), outcome
        return
    skip = skipped(outcome, "conflict")
    assert policy in skip.reason
    assert qb_changed.isoformat() in skip.reason


@pytest.mark.parametrize(
    ("event_type", "changes", "words"),
    [
        ("invoice.upserted", {"status": "DRAFT"}, "drafts"),
        ("invoice.upserted", {"lines": []}, "$0"),
        ("credit_memo.upserted", {"status": "DRAFT"}, "drafts"),
        ("estimate.upserted", {"status": "DRAFT"}, "drafts"),
        ("commitment.upserted", {"status": "DRAFT"}, "approved"),
        ("subcontractor_invoice.upserted", {"status": "UNDER_REVIEW"}, "approved"),
    ],
)
def test_drafts_and_zero_invoices_are_skipped_not_dead_lettered(
    event_type: str, changes: dict[str, Any], words: str
) -> None:
    settings = {"retainage_item": "Retainage Payable"}
    outcome = skipped(run(example(event_type, **changes), settings), "not-sendable")
    assert words in outcome.reason


def test_a_zero_invoice_with_lines_is_skipped() -> None:
    event = example("invoice.upserted")
    for line in event["invoice"]["lines"]:
        line["amount"] = Decimal("0.00")
    skipped(run(event, {}), "not-sendable")


def test_invalid_stored_settings_reject_naming_the_field() -> None:
    outcome = run(example("customer.upserted"), {"sync_type": "sometimes"})
    assert isinstance(outcome, Rejection)
    assert outcome.code == "invalid-settings"
    assert "sync_type" in outcome.reason


def test_conflict_policy_is_stored_for_the_two_way_sync() -> None:
    # It does not change app -> QuickBooks requests; it is validated like every setting.
    assert isinstance(run(example("customer.upserted"), {"conflict_policy": "always"}), Command)
    outcome = run(example("customer.upserted"), {"conflict_policy": "sometimes"})
    assert isinstance(outcome, Rejection)
    assert "conflict_policy" in outcome.reason


@pytest.mark.parametrize(
    ("policy", "connected_on", "expected"),
    [
        ("before_connected", "2026-03-03", True),  # the invoice (2026-03-02) predates it
        ("before_connected", "2026-03-02", False),  # made in the app after connecting
        ("before_connected", None, False),
        ("always", "2026-01-01", True),
        ("never", "2030-01-01", False),
    ],
)
def test_match_existing_decides_which_adds_are_looked_up_first(
    policy: str, connected_on: str | None, expected: bool
) -> None:
    context = Context(
        "p-1",
        None,
        {"match_existing": policy},
        knows_everything,
        connected_on=date.fromisoformat(connected_on) if connected_on else None,
    )
    outcome = plan(example("invoice.upserted"), context, command_id="c", now=NOW)
    assert isinstance(outcome, Command), outcome
    assert outcome.match_existing is expected
    customer = plan(example("customer.upserted"), context, command_id="c", now=NOW)
    assert isinstance(customer, Command)
    assert customer.match_existing is (policy != "never")  # names are unique anyway
    modified = plan(
        example("invoice.upserted"),
        Context("p-1", mapping_of("invoice", "x"), {"match_existing": "always"}, knows_everything),
        command_id="c",
        now=NOW,
    )
    assert isinstance(modified, Command)
    assert modified.match_existing is False  # a Mod has its TxnID: nothing to look for


# -- issue 15, item 5 ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "status", "sent"),
    [
        (None, "APPROVED", True),  # default: everything but drafts
        (None, "DRAFT", False),
        (["READY_FOR_SYNC"], "APPROVED", False),  # only what is marked ready for sync
        (["READY_FOR_SYNC"], "READY_FOR_SYNC", True),
        (["DRAFT", "APPROVED", "READY_FOR_SYNC"], "DRAFT", True),
    ],
)
def test_invoices_sync_only_in_the_statuses_the_tenant_chose(
    statuses: list[str] | None, status: str, sent: bool
) -> None:
    settings = {} if statuses is None else {"invoice_sync_statuses": statuses}
    for event_type in ("invoice.upserted", "credit_memo.upserted", "estimate.upserted"):
        outcome = run(example(event_type, status=status), settings)
        if sent:
            assert isinstance(outcome, Command), outcome
        else:
            assert status in skipped(outcome, "not-sendable").reason or "drafts" in outcome.reason


def test_an_unknown_invoice_status_setting_is_refused_naming_it() -> None:
    outcome = run(example("invoice.upserted"), {"invoice_sync_statuses": ["READY"]})
    assert isinstance(outcome, Rejection)
    assert "invoice_sync_statuses" in outcome.reason


def test_an_explicit_commitment_id_is_required_until_given(qbxml_reference: Path) -> None:
    settings = {"commitment_id": "explicit"}
    refused = run(example("commitment.upserted"), settings)
    assert isinstance(refused, Rejection)
    assert refused.code == "missing-field"
    assert "quickbooks_ref_number" in refused.reason
    given = example("commitment.upserted", quickbooks_ref_number="PO-4471")
    order = request(given, settings, qbxml_reference)
    assert order.findtext("PurchaseOrderAdd/RefNumber") == "PO-4471"
    numbered = request(example("commitment.upserted"), {"commitment_id": "contract_number"})
    assert numbered.findtext("PurchaseOrderAdd/RefNumber") == "SC-017-04"
    # Not approved yet: skipped, not refused (nothing to fix before it is approved).
    skipped(run(example("commitment.upserted", status="DRAFT"), settings), "not-sendable")
