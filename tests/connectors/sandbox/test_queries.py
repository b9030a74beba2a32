"""Queries: filters, the statuses QuickBooks answers them with, iterators and their expiry."""

from __future__ import annotations

import pytest

from connectors.sandbox import CompanyFile
from tests.connectors.sandbox.conftest import Clock
from tests.connectors.sandbox.qbxml_text import (
    Sender,
    customer_add,
    invoice_add,
    item_service_add,
    rq,
)


def names(rs: object) -> list[str]:
    return [ret.findtext("FullName") or "" for ret in rs]  # type: ignore[attr-defined]


@pytest.fixture
def people(qb: Sender, clock: Clock) -> dict[str, str]:
    """Five customers created a minute apart, one of them inactive; name → ListID."""
    ids: dict[str, str] = {}
    for name in ("Ada", "Bob", "Cy", "Dee", "Eve"):
        extra = "<IsActive>false</IsActive>" if name == "Dee" else ""
        ids[name] = qb.ok(customer_add(name, extra=extra)).findtext("ListID") or ""
        clock.advance(60)
    return ids


def query(body: str = "", **attributes: str) -> str:
    return rq("CustomerQuery", body, wrap=False, **attributes)


@pytest.mark.usefixtures("people")
def test_a_filter_that_matches_nothing_is_status_1(qb: Sender) -> None:
    rs = qb.one(
        query(
            "<NameFilter><MatchCriterion>StartsWith</MatchCriterion><Name>Zed</Name></NameFilter>"
        )
    )
    assert (rs.get("statusCode"), rs.get("statusSeverity"), len(rs)) == ("1", "Info", 0)
    assert rs.get("statusMessage") == "A query request did not find a matching object in QuickBooks"


@pytest.mark.usefixtures("people")
def test_names_partly_found_is_500_with_the_ones_found(qb: Sender) -> None:
    rs = qb.one(query("<FullName>Ada</FullName><FullName>Nobody</FullName>"))
    assert (rs.get("statusCode"), rs.get("statusSeverity")) == ("500", "Warn")
    assert '("Nobody")' in (rs.get("statusMessage") or "")
    assert names(rs) == ["Ada"]
    assert qb.one(query("<FullName>Nobody</FullName>")).get("statusCode") == "500"


def test_ids_not_found_are_3120_or_500(qb: Sender, people: dict[str, str]) -> None:
    missing = "80000999-1700000000"
    rs = qb.one(query(f"<ListID>{missing}</ListID>"))
    assert rs.get("statusCode") == "3120"
    assert rs.get("statusMessage", "").startswith(f'Object "{missing}" specified in the request')
    rs = qb.one(query(f"<ListID>{people['Bob']}</ListID><ListID>{missing}</ListID>"))
    assert (rs.get("statusCode"), names(rs)) == ("500", ["Bob"])


def test_explicit_ids_return_inactive_records_in_the_order_asked(
    qb: Sender, people: dict[str, str]
) -> None:
    rs = qb.one(query(f"<ListID>{people['Dee']}</ListID><ListID>{people['Ada']}</ListID>"))
    assert names(rs) == ["Dee", "Ada"]


@pytest.mark.usefixtures("people")
def test_active_status(qb: Sender) -> None:
    assert names(qb.one(query())) == ["Ada", "Bob", "Cy", "Eve"]
    assert names(qb.one(query("<ActiveStatus>InactiveOnly</ActiveStatus>"))) == ["Dee"]
    assert len(qb.one(query("<ActiveStatus>All</ActiveStatus>"))) == 5


@pytest.mark.usefixtures("people")
def test_modified_date_range_and_max_returned(qb: Sender) -> None:
    # Ada 00:00, Bob 00:01, Cy 00:02, Dee 00:03 (inactive), Eve 00:04 on 2024-06-01 (UTC)
    window = (
        "<MaxReturned>2</MaxReturned><ActiveStatus>All</ActiveStatus>"
        "<FromModifiedDate>2024-06-01T00:01:00</FromModifiedDate>"
        "<ToModifiedDate>2024-06-01T02:03:00+02:00</ToModifiedDate>"
    )
    assert names(qb.one(query(window))) == ["Bob", "Cy"]
    everything = window.replace("<MaxReturned>2</MaxReturned>", "")
    assert names(qb.one(query(everything))) == ["Bob", "Cy", "Dee"]


@pytest.mark.usefixtures("people")
def test_name_filters(qb: Sender) -> None:
    contains = "<NameFilter><MatchCriterion>Contains</MatchCriterion><Name>e</Name></NameFilter>"
    assert names(qb.one(query(f"<ActiveStatus>All</ActiveStatus>{contains}"))) == ["Dee", "Eve"]
    name_range = "<NameRangeFilter><FromName>b</FromName><ToName>Cz</ToName></NameRangeFilter>"
    assert names(qb.one(query(name_range))) == ["Bob", "Cy"]


@pytest.mark.usefixtures("people")
def test_include_ret_element_returns_only_those_elements(qb: Sender) -> None:
    rs = qb.one(
        query(
            "<FullName>Ada</FullName><IncludeRetElement>ListID</IncludeRetElement>"
            "<IncludeRetElement>EditSequence</IncludeRetElement>"
        )
    )
    assert [child.tag for child in rs[0]] == ["ListID", "EditSequence"]


@pytest.mark.usefixtures("people")
def test_an_iterator_pages_through_everything(qb: Sender, company: CompanyFile) -> None:
    first = qb.one(query("<MaxReturned>2</MaxReturned>", iterator="Start"))
    assert (names(first), first.get("iteratorRemainingCount")) == (["Ada", "Bob"], "2")
    iterator_id = first.get("iteratorID") or ""
    assert iterator_id.startswith("{")
    assert company.open_iterators == 1
    second = qb.one(
        query("<MaxReturned>2</MaxReturned>", iterator="Continue", iteratorID=iterator_id)
    )
    assert (names(second), second.get("iteratorRemainingCount")) == (["Cy", "Eve"], "0")
    assert second.get("iteratorID") == iterator_id
    assert company.open_iterators == 0


@pytest.mark.usefixtures("people")
def test_an_iterator_ends_with_the_session(qb: Sender, company: CompanyFile) -> None:
    company.begin_session()
    first = qb.one(query("<MaxReturned>1</MaxReturned>", iterator="Start"))
    company.end_session()
    rs = qb.one(
        query(
            "<MaxReturned>1</MaxReturned>",
            iterator="Continue",
            iteratorID=first.get("iteratorID", ""),
        )
    )
    assert rs.get("statusCode") == "3000"
    assert "iteratorID" in (rs.get("statusMessage") or "")


@pytest.mark.usefixtures("people")
def test_an_iterator_belongs_to_its_query(qb: Sender) -> None:
    first = qb.one(query("<MaxReturned>1</MaxReturned>", iterator="Start"))
    other = rq(
        "VendorQuery",
        "<MaxReturned>1</MaxReturned>",
        wrap=False,
        iterator="Continue",
        iteratorID=first.get("iteratorID", ""),
    )
    assert qb.code(other) == 3000


def test_an_iterator_skips_records_deleted_since_it_started(
    qb: Sender, people: dict[str, str]
) -> None:
    first = qb.one(query("<MaxReturned>1</MaxReturned>", iterator="Start"))
    delete = rq(
        "ListDel",
        f"<ListDelType>Customer</ListDelType><ListID>{people['Bob']}</ListID>",
        wrap=False,
    )
    assert qb.one(delete).get("statusCode") == "0"
    rest = qb.one(
        query(
            "<MaxReturned>10</MaxReturned>",
            iterator="Continue",
            iteratorID=first.get("iteratorID", ""),
        )
    )
    assert names(rest) == ["Cy", "Eve"]


@pytest.fixture
def sales(qb: Sender, clock: Clock) -> list[str]:
    qb.ok(customer_add("Acme"))
    qb.ok(customer_add("Roof", parent="Acme"))
    qb.ok(customer_add("Other"))
    qb.ok(item_service_add("Labor"))
    ids = []
    for customer, number, day in (
        ("Acme", "A-1", "01"),
        ("Acme:Roof", "A-2", "02"),
        ("Other", "B-1", "03"),
    ):
        invoice = invoice_add(
            customer, ("Labor", "1", "10.00"), ref_number=number, txn_date=f"2024-05-{day}"
        )
        ids.append(qb.ok(invoice).findtext("TxnID") or "")
        clock.advance(60)
    return ids


def invoices(body: str = "", **attributes: str) -> str:
    return rq("InvoiceQuery", body, wrap=False, **attributes)


def refs(rs: object) -> list[str]:
    return [ret.findtext("RefNumber") or "" for ret in rs]  # type: ignore[attr-defined]


@pytest.mark.usefixtures("sales")
def test_transaction_queries_by_ref_number_and_entity(qb: Sender) -> None:
    assert refs(qb.one(invoices("<RefNumber>a-2</RefNumber>"))) == ["A-2"]
    assert qb.code(invoices("<RefNumberCaseSensitive>a-2</RefNumberCaseSensitive>")) == 1
    assert qb.code(invoices("<RefNumber>Z-9</RefNumber>")) == 1
    entity = "<EntityFilter><FullName>Acme</FullName></EntityFilter>"
    assert refs(qb.one(invoices(entity))) == ["A-1"]
    with_jobs = "<EntityFilter><FullNameWithChildren>Acme</FullNameWithChildren></EntityFilter>"
    assert refs(qb.one(invoices(with_jobs))) == ["A-1", "A-2"]


@pytest.mark.usefixtures("sales")
def test_transaction_date_and_ref_number_filters(qb: Sender) -> None:
    dates = "<TxnDateRangeFilter><FromTxnDate>2024-05-02</FromTxnDate></TxnDateRangeFilter>"
    assert refs(qb.one(invoices(dates))) == ["A-2", "B-1"]
    starts = (
        "<RefNumberFilter><MatchCriterion>StartsWith</MatchCriterion>"
        "<RefNumber>A</RefNumber></RefNumberFilter>"
    )
    assert refs(qb.one(invoices(starts))) == ["A-1", "A-2"]
    ranged = (
        "<RefNumberRangeFilter><FromRefNumber>A-2</FromRefNumber>"
        "<ToRefNumber>B-1</ToRefNumber></RefNumberRangeFilter>"
    )
    assert refs(qb.one(invoices(ranged))) == ["A-2", "B-1"]
    modified = (
        "<ModifiedDateRangeFilter><FromModifiedDate>2024-06-01T00:01:00+00:00"
        "</FromModifiedDate></ModifiedDateRangeFilter>"
    )
    assert refs(qb.one(invoices(modified))) == ["A-2", "B-1"]


def test_lines_and_links_only_when_asked(qb: Sender, sales: list[str]) -> None:
    plain = qb.one(invoices(f"<TxnID>{sales[0]}</TxnID>"))[0]
    assert plain.find("InvoiceLineRet") is None
    full = qb.one(invoices(f"<TxnID>{sales[0]}</TxnID><IncludeLineItems>true</IncludeLineItems>"))[
        0
    ]
    assert full.findtext("InvoiceLineRet/Amount") == "10.00"


@pytest.mark.usefixtures("sales")
def test_item_query_returns_every_item_type(qb: Sender) -> None:
    qb.ok(rq("ItemSubtotalAdd", "<Name>Sub</Name>"))
    rs = qb.one(rq("ItemQuery", "", wrap=False))
    assert sorted(ret.tag for ret in rs) == ["ItemServiceRet", "ItemSubtotalRet"]


def test_the_seeded_chart_of_accounts_and_terms_can_be_queried(qb: Sender) -> None:
    accounts = qb.one(rq("AccountQuery", "<AccountType>Bank</AccountType>", wrap=False))
    assert names(accounts) == ["Checking"]
    terms = qb.one(rq("TermsQuery", "", wrap=False))
    assert sorted(ret.findtext("Name") or "" for ret in terms) == [
        "Due on receipt",
        "Net 15",
        "Net 30",
    ]
