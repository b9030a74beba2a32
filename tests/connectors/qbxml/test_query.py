from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from connectors.qbxml import (
    DELETABLE,
    ENTITIES,
    PAGE_SIZE,
    FieldError,
    build_deleted_query,
    build_message,
    build_query,
    parse_xml,
)
from tests.support.xsd import assert_valid_qbxml

QUERYABLE = sorted(name for name, spec in ENTITIES.items() if "Query" in spec.actions)


def _valid(reference: Path, *requests: str, version: str = "13.0") -> None:
    message = build_message([(str(i), r) for i, r in enumerate(requests, 1)], version=version)
    assert_valid_qbxml(message, reference, version)


@pytest.mark.parametrize("entity", QUERYABLE)
def test_every_query_by_id_by_name_and_filtered_is_valid(
    qbxml_reference: Path, entity: str
) -> None:
    spec = ENTITIES[entity]
    requests = [
        build_query(entity, ids=["80000001-1700000000", "80000002-1700000000"]),
        build_query(entity),
        build_query(
            entity,
            modified_from=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
            modified_to=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        ),
    ]
    if spec.is_list:
        requests += [
            build_query(entity, names=["Lovelace & Sons:Kitchen"]),
            build_query(entity, active="All"),
        ]
    elif "RefNumber" in spec.request("Query").body.by_name:
        requests.append(build_query(entity, ref_numbers=["1001", "1002"]))
    if spec.request("Query").iterator:
        requests.append(build_query(entity, iterator="Start", max_returned=50))
        requests.append(
            build_query(
                entity, iterator="Continue", iterator_id="{eb05f701-e727-472f-8ade-6753c4f67a46}"
            )
        )
    _valid(qbxml_reference, *requests)
    _valid(qbxml_reference, *requests, version="16.0")


def test_lookups_by_id_name_and_ref_number() -> None:
    by_id = parse_xml(build_query("customer", ids=["1-2", "3-4"]))
    assert by_id.tag == "CustomerQueryRq"
    assert [e.text for e in by_id] == ["1-2", "3-4"]
    assert by_id.find("MaxReturned") is None  # a lookup is not paged
    by_name = parse_xml(build_query("class", names=["Remodel"]))
    assert by_name.findtext("FullName") == "Remodel"
    by_ref = parse_xml(
        build_query("invoice", ref_numbers=["1001"], values={"IncludeLineItems": True})
    )
    assert [e.tag for e in by_ref] == ["RefNumber", "IncludeLineItems"]


def test_filtered_queries_are_paged_by_150_by_default() -> None:
    query = parse_xml(build_query("customer", active="ActiveOnly"))
    assert PAGE_SIZE == 150
    assert query.findtext("MaxReturned") == "150"
    assert query.findtext("ActiveStatus") == "ActiveOnly"
    assert parse_xml(build_query("customer", max_returned=20)).findtext("MaxReturned") == "20"
    assert parse_xml(build_query("customer", max_returned=None)).find("MaxReturned") is None
    with pytest.raises(FieldError, match="MaxReturned: 0 is not a positive count"):
        build_query("customer", max_returned=0)


def test_modified_dates_go_where_each_query_wants_them() -> None:
    since = datetime(2024, 5, 1, 8, 30, 15, tzinfo=timezone(timedelta(hours=-5)))
    lists = parse_xml(build_query("customer", modified_from=since))
    assert lists.findtext("FromModifiedDate") == "2024-05-01T08:30:15-05:00"
    txns = parse_xml(build_query("invoice", modified_from=since, modified_to=date(2024, 5, 31)))
    assert txns.findtext("ModifiedDateRangeFilter/FromModifiedDate") == "2024-05-01T08:30:15-05:00"
    assert txns.findtext("ModifiedDateRangeFilter/ToModifiedDate") == "2024-05-31"


def test_iterators() -> None:
    start = parse_xml(build_query("customer", iterator="Start", max_returned=5))
    assert start.get("iterator") == "Start"
    assert start.get("iteratorID") is None
    assert start.findtext("MaxReturned") == "5"
    resume = parse_xml(build_query("customer", iterator="Continue", iterator_id='{a&"b}'))
    assert resume.get("iterator") == "Continue"
    assert resume.get("iteratorID") == '{a&"b}'


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"iterator": "Continue"}, "needs the iteratorID QuickBooks returned"),
        ({"iterator": "Stop", "iterator_id": " "}, "needs the iteratorID"),
        ({"iterator": "Start", "iterator_id": "{x}"}, "takes no iteratorID"),
        ({"iterator_id": "{x}"}, "without iterator='Continue'"),
        ({"iterator": "Start", "ids": ["1-2"]}, "an iterator pages a filtered query"),
        ({"iterator": "Again"}, "is not Start, Continue or Stop"),
    ],
)
def test_iterator_rules_the_schema_does_not_check(kwargs: dict[str, object], error: str) -> None:
    with pytest.raises(FieldError, match=error):
        build_query("customer", **kwargs)  # type: ignore[arg-type]


def test_queries_that_cannot_iterate_say_so() -> None:
    with pytest.raises(FieldError, match="cannot page this query with an iterator"):
        build_query("class", iterator="Start")


def test_lookups_that_do_not_exist_are_refused() -> None:
    with pytest.raises(FieldError, match="invoice records cannot be looked up by name"):
        build_query("invoice", names=["x"])
    with pytest.raises(FieldError, match="customer records cannot be looked up by RefNumber"):
        build_query("customer", ref_numbers=["1"])
    with pytest.raises(FieldError, match="pass a list of values, not one string"):
        build_query("customer", ids="1-2")  # type: ignore[arg-type]
    with pytest.raises(FieldError, match="ListID and FullName cannot be used together"):
        build_query("customer", ids=["1-2"], names=["Ada"])


def test_unknown_query_elements_are_refused() -> None:
    with pytest.raises(FieldError, match=r"CustomerQueryRq: unknown element\(s\) Colour"):
        build_query("customer", values={"Colour": "red"})


def test_query_only_entities_and_the_version_option(qbxml_reference: Path) -> None:
    query = build_query("account", values={"AccountType": ["Bank"]}, active="All")
    assert parse_xml(query).findtext("AccountType") == "Bank"
    _valid(qbxml_reference, query)
    # ClassFilter appeared in 12.0: left out when building for 11.0.
    with_filter = build_query("customer", values={"ClassFilter": {"FullName": ["Remodel"]}})
    assert "ClassFilter" in with_filter
    assert "ClassFilter" not in build_query(
        "customer", values={"ClassFilter": {"FullName": ["Remodel"]}}, version="11.0"
    )


@pytest.mark.parametrize("version", ["13.0", "16.0"])
def test_the_deleted_transactions_query_is_valid_with_every_type(
    qbxml_reference: Path, version: str
) -> None:
    since = datetime(2024, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    _valid(
        qbxml_reference,
        build_deleted_query(sorted(DELETABLE), since),
        build_deleted_query(["Invoice"]),
        version=version,
    )
    request = parse_xml(build_deleted_query(["Invoice", "Bill", "Invoice"], since))
    assert [t.text for t in request.iter("TxnDelType")] == ["Invoice", "Bill"]
    assert request.findtext("DeletedDateRangeFilter/FromDeletedDate") == "2024-05-01T08:00:00-05:00"


def test_the_deleted_transactions_query_refuses_what_quickbooks_would() -> None:
    with pytest.raises(FieldError, match="no deletion log of 'Customer'"):
        build_deleted_query(["Invoice", "Customer"])
    with pytest.raises(FieldError, match="one or more types"):
        build_deleted_query([])
    with pytest.raises(FieldError, match="with its offset"):
        build_deleted_query(["Invoice"], datetime(2024, 5, 1, 8, 0))
