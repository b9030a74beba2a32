"""Each fault, armed through the Python API or the JSON spec, fails the way production does."""

from __future__ import annotations

import json
from datetime import date

import pytest

from connectors.sandbox import (
    CompanyFile,
    Crash,
    Delay,
    FaultSpec,
    FaultSpecError,
    LockSpec,
    QuickBooksCrashed,
    Unavailable,
    parse_fault_spec,
)
from tests.connectors.sandbox.conftest import Sleeps
from tests.connectors.sandbox.qbxml_text import (
    Sender,
    customer_add,
    document,
    invoice_add,
    item_service_add,
    payment_add,
    rq,
)


def _mod_phone(qb: Sender, name: str, phone: str) -> int:
    ret = qb.ok(rq("CustomerQuery", f"<FullName>{name}</FullName>", wrap=False))
    body = (
        f"<ListID>{ret.findtext('ListID')}</ListID>"
        f"<EditSequence>{ret.findtext('EditSequence')}</EditSequence><Phone>{phone}</Phone>"
    )
    return qb.code(rq("CustomerMod", body))


@pytest.fixture
def ada(qb: Sender) -> str:
    """Ada, a service item and one invoice of 100.00; returns the invoice's TxnID."""
    qb.ok(customer_add("Ada"))
    qb.ok(item_service_add("Labor"))
    return qb.ok(invoice_add("Ada", ("Labor", "1", "100.00"))).findtext("TxnID") or ""


# -- locks -------------------------------------------------------------------------------


@pytest.mark.usefixtures("ada")
def test_a_locked_list_element_refuses_changes_for_n_requests(
    qb: Sender, company: CompanyFile
) -> None:
    company.faults.lock("ada", requests=2)  # by name, case-insensitively
    rs = qb.one(
        rq(
            "CustomerMod",
            "<ListID>x</ListID><EditSequence>1</EditSequence>",
        )
    )
    assert rs.get("statusCode") == "3120"  # other records are not affected
    assert _mod_phone(qb, "Ada", "1") == 3175
    assert _mod_phone(qb, "Ada", "2") == 3175
    assert _mod_phone(qb, "Ada", "3") == 0  # the other user closed it


def test_a_locked_transaction_is_3176(qb: Sender, company: CompanyFile, ada: str) -> None:
    invoice = qb.ok(rq("InvoiceQuery", f"<TxnID>{ada}</TxnID>", wrap=False))
    company.faults.lock(ada)
    body = (
        f"<TxnID>{ada}</TxnID><EditSequence>{invoice.findtext('EditSequence')}</EditSequence>"
        "<Memo>x</Memo>"
    )
    rs = qb.one(rq("InvoiceMod", body))
    assert rs.get("statusCode") == "3176"
    assert "in use" in (rs.get("statusMessage") or "")
    assert qb.code(rq("InvoiceMod", body)) == 0


def test_saving_a_transaction_that_uses_a_locked_record_is_3180(
    qb: Sender, company: CompanyFile, ada: str
) -> None:
    company.faults.lock("Ada")
    rs = qb.one(invoice_add("Ada", ("Labor", "1", "5.00")))
    assert rs.get("statusCode") == "3180"
    assert "in use" in (rs.get("statusMessage") or "")
    company.faults.lock(ada)  # the invoice a payment is for
    assert qb.code(payment_add("Ada", "10.00", (ada, "10.00"))) == 3180
    assert qb.code(payment_add("Ada", "10.00", (ada, "10.00"))) == 0


# -- closing date ------------------------------------------------------------------------


def test_transactions_on_or_before_the_closing_date_are_3171(
    qb: Sender, company: CompanyFile, ada: str
) -> None:
    company.set_closing_date(date(2024, 6, 1))  # the invoice is dated June 1
    rs = qb.one(invoice_add("Ada", ("Labor", "1", "5.00"), txn_date="2024-05-31"))
    assert rs.get("statusCode") == "3171"
    assert "closing date" in (rs.get("statusMessage") or "")
    invoice = qb.ok(rq("InvoiceQuery", f"<TxnID>{ada}</TxnID>", wrap=False))
    mod = rq(
        "InvoiceMod",
        f"<TxnID>{ada}</TxnID><EditSequence>{invoice.findtext('EditSequence')}</EditSequence>"
        "<TxnDate>2024-07-01</TxnDate>",
    )
    assert qb.code(mod) == 3171  # moving it out of the closed period is changing it too
    delete = rq("TxnDel", f"<TxnDelType>Invoice</TxnDelType><TxnID>{ada}</TxnID>", wrap=False)
    assert qb.code(delete) == 3171
    assert qb.code(invoice_add("Ada", ("Labor", "1", "5.00"), txn_date="2024-06-02")) == 0
    assert company.closing_date == date(2024, 6, 1)
    closing = qb.ok(rq("PreferencesQuery", "", wrap=False))
    assert closing.findtext("AccountingPreferences/ClosingDate") == "2024-06-01"


# -- permissions -------------------------------------------------------------------------


@pytest.mark.usefixtures("ada")
def test_a_revoked_permission_is_3260(qb: Sender, company: CompanyFile) -> None:
    company.faults.revoke("InvoiceAdd", "ReceivePayment")
    rs = qb.one(invoice_add("Ada", ("Labor", "1", "5.00")))
    assert (rs.get("statusCode"), rs.get("statusMessage")) == (
        "3260",
        "Insufficient permission level to perform this action.",
    )
    assert qb.code(rq("ReceivePaymentQuery", "", wrap=False)) == 3260  # the whole object
    assert qb.code(rq("InvoiceQuery", "", wrap=False)) == 0  # other requests are allowed
    company.faults.grant("InvoiceAdd")
    assert qb.code(invoice_add("Ada", ("Labor", "1", "5.00"))) == 0


# -- slow answers and crashes -----------------------------------------------------------


def test_slow_answers_wait_before_answering(company: CompanyFile, sleeps: Sleeps) -> None:
    company.faults.slow(0.25, batches=2)
    for _ in range(3):
        assert company.process(document(rq("CustomerQuery", "", wrap=False)))[1] == ""
    assert sleeps.calls == [0.25, 0.25]


def test_a_crash_after_applying_applies_but_does_not_answer(company: CompanyFile) -> None:
    company.faults.crash_after_apply()
    with pytest.raises(QuickBooksCrashed, match="after applying 2 request"):
        company.process(document(customer_add("Ada"), customer_add("Bob")))
    assert [c["FullName"] for c in company.customers()] == ["Ada", "Bob"]
    response, hresult, _ = company.process(document(customer_add("Ada")))
    assert hresult == ""
    assert 'statusCode="3100"' in response  # the retry meets the work already done


def test_a_crash_keeps_the_saved_message_set(company: CompanyFile) -> None:
    company.faults.crash_after_apply()
    with pytest.raises(QuickBooksCrashed):
        company.process(document(customer_add("Ada"), newMessageSetID="lost"))
    replay, _, _ = company.process(
        document(customer_add("Ada"), oldMessageSetID="lost", newMessageSetID="lost")
    )
    assert 'statusCode="0"' in replay
    assert len(company.customers()) == 1


def test_unavailable_counts_down_per_attempt(company: CompanyFile) -> None:
    company.faults.make_unavailable(sessions=2)
    first = company.faults.take_unavailable()
    assert first is not None
    assert first.hresult == "0x80040408"
    assert company.faults.take_unavailable() is not None
    assert company.faults.take_unavailable() is None


# -- the spec ----------------------------------------------------------------------------

SPEC = {
    "closing_date": "2024-12-31",
    "locks": [{"record": "Ada Lovelace", "requests": 2}, {"record": "80000001-1700000000"}],
    "revoke": ["InvoiceAdd", "ReceivePaymentRq"],
    "unavailable": {"sessions": 1},
    "delay": {"seconds": 0.5, "batches": 3},
    "crash": {"batches": 1},
}


def test_the_spec_reads_every_fault() -> None:
    assert parse_fault_spec(json.dumps(SPEC)) == FaultSpec(
        closing_date=date(2024, 12, 31),
        locks=(LockSpec("Ada Lovelace", 2), LockSpec("80000001-1700000000", 1)),
        revoke=("InvoiceAdd", "ReceivePaymentRq"),
        unavailable=Unavailable(sessions=1),
        delay=Delay(0.5, 3),
        crash=Crash(1),
    )
    short = parse_fault_spec('{"unavailable": true, "crash": true, "delay": 2}')
    assert (short.unavailable, short.crash, short.delay) == (Unavailable(), Crash(), Delay(2.0))


def test_applying_a_spec_arms_the_company_file(company: CompanyFile, sleeps: Sleeps) -> None:
    company.apply_faults(json.dumps(SPEC))
    assert company.closing_date == date(2024, 12, 31)
    assert company.faults.is_revoked("ReceivePaymentQuery", "ReceivePayment")
    assert company.faults.take_unavailable() is not None
    assert company.faults.take_lock("ada lovelace")
    with pytest.raises(QuickBooksCrashed):
        company.process(document(customer_add("Ada")))
    assert sleeps.calls == [0.5]


BAD_SPECS = {
    "not json": ("{", "not valid JSON"),
    "not an object": ("[]", "expected an object"),
    "unknown field": ('{"lcoks": []}', "faults.lcoks: unknown field"),
    "bad date": ('{"closing_date": "31/12/2024"}', "faults.closing_date: expected a date"),
    "locks not a list": ('{"locks": {}}', "faults.locks: expected a list"),
    "lock without record": ('{"locks": [{"requests": 1}]}', "faults.locks[0].record: missing"),
    "lock count": ('{"locks": [{"record": "A", "requests": 0}]}', "faults.locks[0].requests"),
    "lock field": ('{"locks": [{"record": "A", "minutes": 1}]}', "faults.locks[0].minutes"),
    "revoke item": ('{"revoke": ["", 3]}', "faults.revoke[0]"),
    "unavailable sessions": ('{"unavailable": {"sessions": "x"}}', "faults.unavailable.sessions"),
    "delay seconds": ('{"delay": {"seconds": -1}}', "faults.delay.seconds"),
    "crash batches": ('{"crash": {"batches": true}}', "faults.crash.batches"),
}


@pytest.mark.parametrize(("text", "names"), BAD_SPECS.values(), ids=BAD_SPECS.keys())
def test_a_bad_spec_names_the_bad_field(text: str, names: str) -> None:
    with pytest.raises(FaultSpecError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_fault_spec(text)


def test_the_python_api_checks_its_arguments(company: CompanyFile) -> None:
    with pytest.raises(FaultSpecError, match="requests"):
        company.faults.lock("Ada", requests=0)
    with pytest.raises(FaultSpecError, match="seconds"):
        company.faults.slow(-1)


def test_clear_disarms_everything(company: CompanyFile) -> None:
    company.apply_faults(json.dumps(SPEC))
    company.faults.clear()
    assert company.faults.take_unavailable() is None
    assert not company.faults.take_lock("Ada Lovelace")
    assert not company.faults.take_crash()
    assert company.faults.take_delay() == 0.0
