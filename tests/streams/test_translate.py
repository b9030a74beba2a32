"""The pure translation rules, with no broker and no database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connectors.qbxml import build_message, parse_xml
from connectors.store import Mapping
from core.contracts import customer_event
from core.messages import Command
from streams.translate import Context, Rejection, customer_name, plan_command
from tests.support.xsd import assert_valid_qbxml

NOW = datetime(2026, 11, 21, tzinfo=UTC)
MAPPED = Mapping("t-1", "customer", "c-1", "80000001-1700000000", "1700000123", "Doe, Jane")


def plan(event: dict[str, Any], context: Context) -> Command | Rejection:
    return plan_command(event, context, command_id=str(uuid.uuid4()), now=NOW)


def request_of(command: Command | Rejection) -> Any:
    assert isinstance(command, Command), command
    return parse_xml(command.request_xml)


@pytest.mark.parametrize(
    ("customer", "settings", "expected"),
    [
        ({"first_name": "Jane", "last_name": "Doe"}, {}, "Doe, Jane"),
        ({"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}, {}, "Acme"),
        ({"last_name": "Doe"}, {}, "Doe"),
        ({"first_name": " Jane ", "last_name": "Doe"}, {"upper_case": True}, "DOE, JANE"),
    ],
)
def test_customer_name_format(
    customer: dict[str, str], settings: dict[str, bool], expected: str
) -> None:
    assert customer_name(customer, settings) == expected


def test_unmapped_customer_becomes_an_add(qbxml_reference: Path) -> None:
    event = customer_event("t-1", "c-1", {"first_name": "Jane", "last_name": "Doe", "phone": "1"})
    command = plan(event, Context(profile_id="p-1", mapping=None, settings={}))
    request = request_of(command)
    assert isinstance(command, Command)
    assert (command.action, command.profile_id, command.tenant_id) == ("ADD", "p-1", "t-1")
    assert request.tag == "CustomerAddRq"
    assert request.findtext("CustomerAdd/Name") == "Doe, Jane"
    assert_valid_qbxml(build_message([("1", command.request_xml)], version="13.0"), qbxml_reference)


def test_mapped_customer_becomes_a_mod_with_the_stored_edit_sequence(
    qbxml_reference: Path,
) -> None:
    event = customer_event("t-1", "c-1", {"first_name": "Jane", "last_name": "Doe"})
    command = plan(event, Context(profile_id="p-1", mapping=MAPPED, settings={}))
    request = request_of(command)
    assert request.findtext("CustomerMod/ListID") == MAPPED.qb_id
    assert request.findtext("CustomerMod/EditSequence") == MAPPED.edit_sequence
    assert isinstance(command, Command)
    assert_valid_qbxml(build_message([("1", command.request_xml)], version="13.0"), qbxml_reference)


@pytest.mark.parametrize("mapping", [None, MAPPED], ids=["add", "mod"])
def test_service_locations_are_the_customers_ship_to_addresses(
    qbxml_reference: Path, mapping: Mapping | None
) -> None:
    locations = [
        {"name": "Tower A", "address": {"line1": "1200 Lakeshore Dr", "city": "Chicago"}},
        {"name": "Warehouse", "address": {"line1": "4410 S Halsted St"}, "is_default": True},
    ]
    event = customer_event("t-1", "c-1", {"last_name": "Doe", "ship_to_locations": locations})
    command = plan(event, Context(profile_id="p-1", mapping=mapping, settings={}))
    request = request_of(command)
    sent = request.findall("*/ShipToAddress")
    assert [
        (a.findtext("Name"), a.findtext("Addr1"), a.findtext("DefaultShipTo")) for a in sent
    ] == [
        ("Tower A", "1200 Lakeshore Dr", "false"),
        ("Warehouse", "4410 S Halsted St", "true"),
    ]
    assert sent[0].findtext("City") == "Chicago"
    assert isinstance(command, Command)
    assert_valid_qbxml(build_message([("1", command.request_xml)], version="13.0"), qbxml_reference)


def test_deactivation_is_a_mod_to_inactive_never_a_delete() -> None:
    event = customer_event("t-1", "c-1", {}, kind="DEACTIVATED")
    event["customer"] = None
    request = request_of(plan(event, Context(profile_id="p-1", mapping=MAPPED, settings={})))
    assert request.tag == "CustomerModRq"
    assert request.findtext("CustomerMod/IsActive") == "false"


@pytest.mark.parametrize(
    ("event_changes", "context", "code", "words"),
    [
        ({}, Context(profile_id=None, mapping=None, settings={}), "unknown-tenant", "'t-1'"),
        (
            {"kind": "DEACTIVATED"},
            Context(profile_id="p", mapping=None, settings={}),
            "not-in-quickbooks",
            "never synced",
        ),
        ({"entity": "spaceship"}, Context("p", None, {}), "unsupported-entity", "'spaceship'"),
    ],
)
def test_rejections_say_why(
    event_changes: dict[str, str], context: Context, code: str, words: str
) -> None:
    event = customer_event("t-1", "c-1", {"last_name": "Doe"})
    event["envelope"].update(event_changes)
    outcome = plan(event, context)
    assert isinstance(outcome, Rejection)
    assert outcome.code == code
    assert words in outcome.reason


def test_a_name_quickbooks_would_refuse_is_rejected_naming_the_field() -> None:
    event = customer_event("t-1", "c-1", {"company_name": "A" * 42})
    outcome = plan(event, Context(profile_id="p", mapping=None, settings={}))
    assert isinstance(outcome, Rejection)
    assert outcome.code == "invalid-field"
    assert "CustomerAdd/Name" in outcome.reason
    assert "42 characters" in outcome.reason
