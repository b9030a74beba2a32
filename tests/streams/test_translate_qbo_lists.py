"""Projects, accounts and classes in the QBO column of the rules (issue 19): a project is a
sub-customer waiting for its client; an account's type and subtype are checked before
anything is sent, naming the valid values; accounts and classes are QuickBooks Online only.
Pure planner tests: no I/O."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.qbo import ACCOUNT_SUB_TYPES, QboEntityRequest, QboOperation
from core.messages import Command
from streams.translate import Context, Rejection, Waiting, nothing_known, plan
from tests.streams._events import NOW, example, knows_everything


def planned(event: dict[str, Any], context: Context) -> Any:
    return plan(event, context, command_id=str(uuid.uuid4()), now=NOW)


def qbo_of(command: Any) -> QboEntityRequest:
    assert isinstance(command, Command), command
    return QboEntityRequest.from_avro(command.qbo.to_avro())


def online(resolve: Any = knows_everything) -> Context:
    return Context("p-1", None, {}, resolve=resolve, api="qbo")


def test_a_project_is_a_sub_customer_of_its_client() -> None:
    command = planned(example("job.upserted"), online())
    request = qbo_of(command)
    assert (request.operation, request.entity) == (QboOperation.CREATE, "Customer")
    assert request.body["Job"] is True
    assert request.body["ParentRef"] == {"value": "ID-customer-cus-1042"}
    assert request.body["DisplayName"] == "2026-017 - 1200 Lakeshore Dr"
    assert request.body["ShipAddr"]["City"] == "Chicago"
    assert "customer:cus-1042" in command.depends_on


def test_a_project_waits_for_its_client() -> None:
    outcome = planned(example("job.upserted"), online(nothing_known))
    assert isinstance(outcome, Waiting)
    assert outcome.on == ("customer:cus-1042",)


def test_an_account_carries_its_qbo_type_and_subtype() -> None:
    event = example("account.upserted", sub_type="ServiceFeeIncome")
    request = qbo_of(planned(event, online()))
    assert (request.entity, request.body["Name"], request.body["AcctNum"]) == (
        "Account",
        "Service Income",
        "4010",
    )
    assert (request.body["AccountType"], request.body["AccountSubType"]) == (
        "Income",
        "ServiceFeeIncome",
    )


def test_an_account_subtype_its_type_does_not_take_is_refused_naming_the_valid_ones() -> None:
    outcome = planned(example("account.upserted", sub_type="Checking"), online())
    assert isinstance(outcome, Rejection)
    assert outcome.code == "refused-by-rule"
    assert "sub_type 'Checking'" in outcome.reason
    assert "INCOME (Income)" in outcome.reason
    assert all(valid in outcome.reason for valid in ACCOUNT_SUB_TYPES["Income"])


def test_a_non_posting_account_is_refused_naming_the_types() -> None:
    outcome = planned(example("account.upserted", account_type="NON_POSTING"), online())
    assert isinstance(outcome, Rejection)
    assert "account_type is NON_POSTING" in outcome.reason
    assert "BANK" in outcome.reason
    assert "OTHER_EXPENSE" in outcome.reason


def test_a_class_is_created_in_qbo_under_its_parent() -> None:
    event = example("class.upserted", parent={"id": "cls-1"})
    request = qbo_of(planned(event, online()))
    assert (request.entity, request.body["SubClass"]) == ("Class", True)
    assert request.body["ParentRef"] == {"value": "ID-class-cls-1"}


@pytest.mark.parametrize("event_type", ["account.upserted", "class.upserted"])
def test_accounts_and_classes_are_not_created_in_a_desktop_file(event_type: str) -> None:
    outcome = planned(example(event_type), Context("p-1", None, {}, resolve=knows_everything))
    assert isinstance(outcome, Rejection)
    assert outcome.code == "unsupported-entity"
    assert "QuickBooks Online only" in outcome.reason
