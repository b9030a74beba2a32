"""The QBO column of the entity rules: the same plan, Intuit's JSON instead of qbXML."""

from __future__ import annotations

import json
import uuid
from typing import Any

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.store import Mapping
from core.messages import Command
from streams.translate import Context, Rejection, Waiting, nothing_known, plan
from tests.streams._events import NOW, example, knows_everything


def planned(event: dict[str, Any], context: Context) -> Any:
    return plan(event, context, command_id=str(uuid.uuid4()), now=NOW)


def qbo_of(command: Any) -> QboEntityRequest:
    assert isinstance(command, Command), command
    assert command.request_xml == ""
    request = QboEntityRequest.from_avro(command.qbo.to_avro())
    json.dumps(request.body)  # what the sender posts must be JSON
    return request


def test_a_new_customer_is_a_create_with_its_display_name() -> None:
    event = example(
        "customer.upserted",
        first_name="Jane",
        last_name="Doe",
        company_name=None,
        email="jane@example.com",
    )
    command = planned(event, Context("p-1", None, {}, api="qbo"))
    request = qbo_of(command)
    assert command.action == "ADD"
    assert (request.operation, request.entity) == (QboOperation.CREATE, "Customer")
    assert request.body["DisplayName"] == "Doe, Jane"
    assert request.body["PrimaryEmailAddr"] == {"Address": "jane@example.com"}
    assert "Id" not in request.body


def test_a_mapped_customer_is_a_sparse_update_with_its_sync_token() -> None:
    event = example("customer.upserted", company_name="Acme")
    mapping = Mapping("acme-hvac", "customer", event["envelope"]["entity_id"], "58", "3", "Acme")
    command = planned(event, Context("p-1", mapping, {}, api="qbo"))
    request = qbo_of(command)
    assert command.action == "MOD"
    assert request.operation is QboOperation.SPARSE
    assert (request.body["Id"], request.body["SyncToken"]) == ("58", "3")


def test_an_invoice_references_mapped_ids_and_waits_for_unmapped_ones() -> None:
    event = example("invoice.upserted")
    waiting = planned(event, Context("p-1", None, {}, resolve=nothing_known, api="qbo"))
    assert isinstance(waiting, Waiting)
    assert "customer:prj-220|job:prj-220" in waiting.on

    command = planned(event, Context("p-1", None, {}, resolve=knows_everything, api="qbo"))
    request = qbo_of(command)
    assert request.entity == "Invoice"
    assert request.body["CustomerRef"] == {"value": "ID-customer-prj-220"}
    assert request.body["TxnDate"] == "2026-03-02"
    assert request.body["DocNumber"] == "88121"
    first = request.body["Line"][0]
    assert first["Amount"] == 185.0
    assert first["SalesItemLineDetail"]["ItemRef"] == {"value": "ID-item-itm-55"}
    assert command.depends_on[0] == "customer:prj-220"


def test_an_entity_without_a_qbo_column_is_refused_clearly() -> None:
    outcome = planned(example("estimate.upserted"), Context("p-1", None, {}, api="qbo"))
    assert isinstance(outcome, Rejection)
    assert outcome.code == "unsupported-entity"
    assert "QuickBooks Online" in outcome.reason


def test_desktop_commands_carry_no_qbo_request() -> None:
    command = planned(example("customer.upserted"), Context("p-1", None, {}))
    assert isinstance(command, Command)
    assert command.qbo is None
    assert command.request_xml.startswith("<CustomerAddRq")


def test_deactivation_makes_a_customer_inactive_and_voids_an_invoice() -> None:
    customer = example("customer.upserted")
    customer["envelope"]["kind"] = "DEACTIVATED"
    mapped = Mapping("acme-hvac", "customer", "x", "58", "3", "Acme")
    request = qbo_of(planned(customer, Context("p-1", mapped, {}, api="qbo")))
    assert request.operation is QboOperation.SPARSE
    assert request.body == {"Active": False, "Id": "58", "SyncToken": "3"}

    invoice = example("invoice.upserted")
    invoice["envelope"]["kind"] = "DEACTIVATED"
    billed = Mapping("acme-hvac", "invoice", "x", "77", "5", None)
    request = qbo_of(planned(invoice, Context("p-1", billed, {}, api="qbo")))
    assert (request.operation, request.body) == (QboOperation.VOID, {"Id": "77", "SyncToken": "5"})
