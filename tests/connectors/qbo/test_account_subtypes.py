"""Account subtypes (issue 19): the table follows Intuit's published Account reference, so a
valid subtype (minorversion 13's ``CashAndCashEquivalents`` for a bank) is sent, not
dead-lettered; the worker refuses only a subtype Intuit files under another account type
and lets QBO judge one the table does not know (the sandbox, as QBO, answers 2170).
Planner and sandbox company, no I/O."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from connectors.qbo import ACCOUNT_SUB_TYPES, QboEntityRequest, account_problem
from connectors.qbo_sandbox import Company
from core.messages import Command
from streams.translate import Context, Rejection, plan
from tests.streams._events import NOW, example, knows_everything


def planned(event: dict[str, Any]) -> Any:
    context = Context("p-1", None, {}, resolve=knows_everything, api="qbo")
    return plan(event, context, command_id=str(uuid.uuid4()), now=NOW)


@pytest.mark.parametrize(
    ("app_type", "sub_type"),
    [
        ("BANK", "CashAndCashEquivalents"),
        ("BANK", "OtherEarMarkedBankAccounts"),
        ("OTHER_CURRENT_ASSET", "TradeAndOtherReceivables"),
        ("LONG_TERM_LIABILITY", "AccruedLongLermLiabilities"),  # Intuit's spelling
        ("EXPENSE", "Utilities"),
        ("OTHER_EXPENSE", "Utilities"),  # the one subtype two types take
        ("COST_OF_GOODS_SOLD", "CostOfSales"),
    ],
)
def test_subtypes_of_intuits_reference_are_sent(app_type: str, sub_type: str) -> None:
    assert account_problem(app_type, sub_type) is None
    command = planned(example("account.upserted", account_type=app_type, sub_type=sub_type))
    assert isinstance(command, Command), command
    body = QboEntityRequest.from_avro(command.qbo.to_avro()).body
    assert body["AccountSubType"] == sub_type
    # ... and QBO (the sandbox) takes them.
    status, answer = Company("r-1").create(
        "Account", {"Name": "A", "AccountType": body["AccountType"], "AccountSubType": sub_type}
    )
    assert status == 200, answer


def test_a_subtype_of_another_type_is_refused_naming_its_type_and_the_valid_ones() -> None:
    outcome = planned(
        example("account.upserted", account_type="EXPENSE", sub_type="CashAndCashEquivalents")
    )
    assert isinstance(outcome, Rejection)
    assert "sub_type 'CashAndCashEquivalents'" in outcome.reason
    assert "subtype of Bank" in outcome.reason
    assert "EXPENSE (Expense)" in outcome.reason
    assert "StaffCosts" in outcome.reason  # a minorversion-13 Expense subtype among the valid


def test_a_subtype_the_table_does_not_know_goes_to_qbo_which_judges_it() -> None:
    # In Intuit's AccountSubTypeEnum, on no type's list of the reference page.
    assert account_problem("EXPENSE", "Communications") is None
    command = planned(
        example("account.upserted", account_type="EXPENSE", sub_type="Communications")
    )
    assert isinstance(command, Command), command
    status, answer = Company("r-1").create(
        "Account", {"Name": "Phones", "AccountType": "Expense", "AccountSubType": "Communications"}
    )
    assert status == 400
    (error,) = answer["Fault"]["Error"]
    assert (error["code"], error["element"]) == ("2170", "AccountSubType")


def test_the_table_has_each_subtype_once_per_type() -> None:
    for kind, subs in ACCOUNT_SUB_TYPES.items():
        assert len(subs) == len(set(subs)), kind
