"""Imports through the Web Connector session: iterators, watermarks, interruptions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.qbwc import create_profile
from connectors.qbwc._imports import (
    DELETED,
    ImportConfig,
    absorb,
    due,
    import_request,
    next_due,
    start,
)
from connectors.qbxml import ENTITIES, build_message, build_request, parse_response, parse_xml
from connectors.qbxml._parse import ResponseStatus
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import ImportWatermark, Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, enqueue, records, serving
from tests.support.topics import topic_size
from tests.support.xsd import assert_valid_qbxml

CUSTOMERS = 1000


@pytest.fixture
def importing(broker: BrokerInfo, settings: Settings) -> Iterator[Served]:
    use_broker(settings, broker)
    settings.gateway.imports = "customer,class"
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Books Co", tenants=["t-1"])
    with serving(settings) as url:
        yield Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
    store.close()


def company_with_customers(path: Path, count: int) -> CompanyFile:
    company = CompanyFile(path, validate_with=find_reference())
    for first in range(0, count, 250):
        adds = [
            (str(n), build_request("customer", "Add", {"Name": f"Customer {n:04d}"}))
            for n in range(first, min(first + 250, count))
        ]
        company.process(build_message(adds, version="13.0"))
    # qbsync never creates classes (its qbXML table has no ClassAdd); the bookkeeper does.
    by_hand = "<ClassAddRq><ClassAdd><Name>Remodel</Name></ClassAdd></ClassAddRq>"
    company.process(build_message([("c", by_hand)], version="13.0"))
    return company


def recording(company: CompanyFile) -> list[str]:
    """Every request the company file is sent from now on, in order."""
    sent: list[str] = []
    original = company.process

    def process(request: str) -> tuple[str, str, str]:
        sent.append(request)
        return original(request)

    company.process = process  # type: ignore[method-assign]
    return sent


def wc(served: Served, company: CompanyFile, **options: int) -> SandboxWebConnector:
    return SandboxWebConnector(
        HttpTransport(served.url + "/qbwc"),
        username=served.profile.profile.username,
        password=served.profile.password,
        company=company,
        **options,
    )


def test_a_thousand_customers_through_iterators_across_two_sessions(
    importing: Served, tmp_path: Path
) -> None:
    company = company_with_customers(tmp_path / "books.db", CUSTOMERS)
    profile_id = importing.profile.profile.id

    # The first session is cut short (the bookkeeper closed QuickBooks): 3 pages of 150.
    first = wc(importing, company, max_exchanges=3).run_once()
    assert first.authenticate not in ("none", "nvu")  # an import is due: a session opens
    assert first.runaway
    assert len(importing.store.qb_records(profile_id, "customer")) == 450
    # Not every page: no mark; how far it got is kept (``qbsync tenant import-status``).
    stopped = importing.store.watermarks(profile_id)["customer"]
    assert (stopped.completed_at, stopped.modified_from) == (None, None)
    assert (stopped.progress, stopped.remaining) == (450, CUSTOMERS - 450)
    assert company.open_iterators == 0  # the iterator died with the session

    # The next session starts over from the old watermark and finishes; nothing twice.
    second = wc(importing, company).run_once()
    assert not second.errors, second.errors
    records = importing.store.qb_records(profile_id, "customer")
    assert len(records) == CUSTOMERS
    assert len({r.qb_id for r in records}) == CUSTOMERS
    assert {r.full_name for r in records} == {f"Customer {n:04d}" for n in range(CUSTOMERS)}
    marks = importing.store.watermarks(profile_id)
    in_quickbooks = {c["ListID"]: c for c in company.customers()}
    assert marks["customer"].completed_at is not None
    assert marks["customer"].records == CUSTOMERS
    assert marks["customer"].progress is None
    assert [r.full_name for r in importing.store.qb_records(profile_id, "class")] == ["Remodel"]
    assert set(in_quickbooks) == {r.qb_id for r in records}

    # Done: the next poll has nothing to do until the interval passes.
    assert wc(importing, company).run_once().authenticate == "none"
    assert importing.store.qb_name_exists(profile_id, "class", "Remodel") is True
    assert importing.store.qb_name_exists(profile_id, "class", "Framing") is False


def test_commands_go_before_imports_and_only_changes_come_again(
    importing: Served, tmp_path: Path
) -> None:
    company = company_with_customers(tmp_path / "books.db", 5)
    enqueue(importing, "New Customer")
    report = wc(importing, company).run_once()
    first_requests = [m for m in report.calls if m == "sendRequestXML"]
    assert first_requests  # one session did both
    profile_id = importing.profile.profile.id
    names = {r.full_name for r in importing.store.qb_records(profile_id, "customer")}
    assert "New Customer" in names  # written first, then read back with the rest
    assert len(names) == 6

    importing.store.request_import(profile_id, ["customer"])
    sent = recording(company)
    wc(importing, company).run_once()
    (query,) = [r for r in sent if "CustomerQueryRq" in r]
    stamp = parse_xml(query).findtext(".//FromModifiedDate")
    assert stamp is not None  # a watermark, rewound a minute, not a full import again
    newest = max(r.time_modified for r in importing.store.qb_records(profile_id, "customer"))
    assert newest is not None
    asked = datetime.fromisoformat(stamp)
    assert asked.tzinfo is not None  # with its offset: QuickBooks reads a bare time as local
    assert asked <= newest.replace(tzinfo=newest.tzinfo or UTC) - timedelta(seconds=59)


def test_imported_records_go_to_every_tenant_of_the_file_and_our_writes_are_known(
    importing: Served, tmp_path: Path
) -> None:
    """A shared company file's import reaches each tenant's worker (keyed by tenant); what
    the session itself wrote is recorded as ours before the import reads it back."""
    shared = create_profile(importing.store, name="Shared Co", tenants=["t-a", "t-b"])
    served = Served(importing.url, importing.settings, importing.store, shared, importing.codec)
    company = company_with_customers(tmp_path / "shared.db", 2)
    enqueue(served, "Written By Us", profile=shared, tenant_id="t-a")
    assert not wc(served, company).run_once().errors

    # Per tenant: three customers and the class the bookkeeper added.
    imported = records(served, importing.settings.topics.imports, expected=8)
    customers = [r for r in imported if r["entity"] == "customer"]
    assert sorted({r["tenant_id"] for r in customers}) == ["t-a", "t-b"]
    for tenant in ("t-a", "t-b"):
        names = {
            json.loads(str(r["record_json"]))["Name"] for r in customers if r["tenant_id"] == tenant
        }
        assert names == {"Customer 0000", "Customer 0001", "Written By Us"}
    (ours,) = [c for c in company.customers() if c["FullName"] == "Written By Us"]
    written = importing.store.delivered("t-a", "customer", [ours["ListID"]])
    assert written[ours["ListID"]].edit_sequence == ours["EditSequence"]
    assert importing.store.delivered("t-b", "customer", [ours["ListID"]]) == {}


def test_a_full_read_for_matching_tells_nothing_and_get_all_tells_the_apps(
    importing: Served, tmp_path: Path
) -> None:
    """``qbsync map refresh`` (full read "match") reads every customer again into what
    matching sees but publishes nothing and moves no watermark; "get all" ("deliver")
    publishes them all and completes the request."""
    company = company_with_customers(tmp_path / "books.db", 4)
    profile_id = importing.profile.profile.id
    assert not wc(importing, company).run_once().errors  # the first import: 4 customers
    before = importing.store.watermarks(profile_id)["customer"]
    told = topic_size(importing.settings, importing.settings.topics.imports)
    assert told == 5  # 4 customers and the class
    sent = recording(company)
    importing.store.request_import(profile_id, ["customer"], full_read="match")
    assert not wc(importing, company).run_once().errors
    (query,) = [r for r in sent if "CustomerQueryRq" in r]
    assert parse_xml(query).findtext(".//FromModifiedDate") is None  # every record
    assert (
        topic_size(importing.settings, importing.settings.topics.imports) == told
    )  # the apps are told nothing
    mark = importing.store.watermarks(profile_id)["customer"]
    assert mark.full_read is None  # done
    assert (mark.modified_from, mark.completed_at) == (before.modified_from, before.completed_at)
    assert mark.requested_at is not None  # a usual read follows, for what changed meanwhile

    sent.clear()
    importing.store.request_import(profile_id, ["customer"], full_read="deliver")
    assert not wc(importing, company).run_once().errors
    (query,) = [r for r in sent if "CustomerQueryRq" in r]
    assert parse_xml(query).findtext(".//FromModifiedDate") is None
    assert (
        topic_size(importing.settings, importing.settings.topics.imports) == told + 4
    )  # every customer, to the file's tenant
    mark = importing.store.watermarks(profile_id)["customer"]
    assert (mark.full_read, mark.requested_at) == (None, None)
    assert mark.completed_at is not None
    assert before.completed_at is not None
    assert mark.completed_at > before.completed_at


# -- pure logic ---------------------------------------------------------------------------


def test_requests_are_valid_qbxml(qbxml_reference: Path) -> None:
    config = ImportConfig(entities=("customer", "class", "account", "item"), page_size=150)
    for entity in config.entities:
        first = start(config, entity, datetime(2026, 5, 1, tzinfo=UTC), datetime.now(UTC))
        request_id, xml = import_request(config, first)
        assert_valid_qbxml(build_message([(request_id, xml)], version="13.0"), qbxml_reference)
        assert "<FromModifiedDate>2026-04-30T23:59:00" in xml  # rewound a minute
        if not ENTITIES[entity].request("Query").iterator:  # short lists: one answer
            assert "iterator" not in xml
            continue
        assert 'iterator="Start"' in xml
        going = {**first, "iterator_id": "{abc}", "page": 1}
        request_id, xml = import_request(config, going)
        assert 'iterator="Continue"' in xml
        assert "FromModifiedDate" not in xml  # a continued iterator takes no filter
        assert_valid_qbxml(build_message([(request_id, xml)], version="13.0"), qbxml_reference)


def test_due_and_refusals() -> None:
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    config = ImportConfig(entities=("customer", "class"), interval=timedelta(minutes=15))
    fresh = ImportWatermark(completed_at=now - timedelta(minutes=5), requested_at=None)
    stale = ImportWatermark(completed_at=now - timedelta(minutes=15), requested_at=None)
    asked = ImportWatermark(completed_at=now, requested_at=now)
    assert due(config, {}, now) == ["customer", "class"]
    assert due(config, {"customer": fresh, "class": stale}, now) == ["class"]
    assert due(config, {"customer": asked, "class": fresh}, now) == ["customer"]
    refused = ResponseStatus("import-class-0", "ClassQueryRs", 3260, "Error", "no permission")
    taken = absorb(start(config, "class", None, now), refused)
    assert taken.state is None
    assert taken.watermark is None
    assert taken.error is not None
    assert "3260" in taken.error
    with pytest.raises(ValueError, match="invoice_line"):
        ImportConfig(entities=("invoice_line",))


def test_next_due_is_when_due_first_names_an_entity() -> None:
    """The gateway keeps each file's next due time in memory: it must agree with ``due``
    at every moment, before, at and after it."""
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    config = ImportConfig(entities=("customer", "class"), interval=timedelta(minutes=15))
    done = [now - timedelta(minutes=m) for m in (0, 5, 14, 15, 40)]
    cases: list[dict[str, ImportWatermark]] = [{}]
    for a in done:
        cases.append({"customer": ImportWatermark(completed_at=a, requested_at=None)})
        for b in done:
            cases.append(
                {
                    "customer": ImportWatermark(completed_at=a, requested_at=None),
                    "class": ImportWatermark(completed_at=b, requested_at=None),
                }
            )
        cases.append(
            {
                "customer": ImportWatermark(completed_at=a, requested_at=now),
                "class": ImportWatermark(completed_at=now, requested_at=None),
            }
        )
    moments = [now + timedelta(minutes=m) for m in (-1, 0, 1, 5, 10, 14, 15, 16, 60)]
    for marks in cases:
        at = next_due(config, marks)
        assert at is not None
        for moment in moments:
            assert bool(due(config, marks, moment)) == (at <= moment), (marks, moment)
    both = {
        "customer": ImportWatermark(completed_at=now - timedelta(minutes=5), requested_at=None),
        "class": ImportWatermark(completed_at=now - timedelta(minutes=10), requested_at=None),
    }
    assert next_due(config, both) == now + timedelta(minutes=5)  # the sooner of the two
    assert next_due(ImportConfig(entities=()), both) is None


def test_bills_are_read_back_fourteen_days_at_most_with_their_lines(
    qbxml_reference: Path,
) -> None:
    """Bills matter to the apps while recent (job costs): never older than 14 days, even
    on a first import, and with their lines, whose customers are the jobs."""
    config = ImportConfig(entities=("bill",))
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    for watermark, expected in [
        (None, now - timedelta(days=14)),  # first import: not the file's whole history
        (now - timedelta(days=30), now - timedelta(days=14)),
        (now - timedelta(hours=1), now - timedelta(hours=1, minutes=1)),  # the usual rewind
    ]:
        request_id, xml = import_request(config, start(config, "bill", watermark, now))
        assert_valid_qbxml(build_message([(request_id, xml)], version="13.0"), qbxml_reference)
        asked = parse_xml(xml).findtext(".//FromModifiedDate")
        assert asked is not None
        assert datetime.fromisoformat(asked) == expected
        assert parse_xml(xml).findtext("IncludeLineItems") == "true"
    customers = import_request(config, start(config, "customer", None, now))[1]
    assert "FromModifiedDate" not in customers  # no window: a first import reads everything


def test_a_full_read_asks_for_every_record_whatever_the_watermark_and_window(
    qbxml_reference: Path,
) -> None:
    """ "Get all" (or a read for matching): no FromModifiedDate, even for bills, whose
    usual read never goes back further than 14 days."""
    config = ImportConfig(entities=("bill", "customer"))
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    for entity in config.entities:
        for mode in ("match", "deliver"):
            state = start(config, entity, now - timedelta(hours=1), now, full_read=mode)
            assert state["full_read"] == mode  # kept across pages: it decides the watermark
            request_id, xml = import_request(config, state)
            assert_valid_qbxml(build_message([(request_id, xml)], version="13.0"), qbxml_reference)
            assert parse_xml(xml).findtext(".//FromModifiedDate") is None
            answered = ResponseStatus(
                request_id, "Rs", 0, "Info", "", iterator_id="i", iterator_remaining_count=3
            )
            following = absorb(state, answered).state
            assert following is not None
            assert following["full_read"] == mode
        usual = import_request(config, start(config, entity, now - timedelta(hours=1), now))[1]
        assert parse_xml(usual).findtext(".//FromModifiedDate") is not None


def test_deleted_transactions_are_asked_for_the_types_imported_since_their_watermark(
    qbxml_reference: Path,
) -> None:
    """QuickBooks' deletion log of the transactions imported (Bill for bill and
    subcontractor_invoice alike), since its own watermark less the usual minute, never
    further back than 90 days; its watermark is the newest deletion read."""
    config = ImportConfig(
        entities=("customer", "invoice", "bill", "subcontractor_invoice", DELETED)
    )
    assert config.deleted_types == ("Invoice", "Bill")
    assert config.imported_as("Bill") == ("bill", "subcontractor_invoice")
    now = datetime(2026, 11, 22, 12, tzinfo=UTC)
    for watermark, expected in [
        (None, now - timedelta(days=90)),
        (now - timedelta(hours=1), now - timedelta(hours=1, minutes=1)),
    ]:
        state = start(config, DELETED, watermark, now)
        request_id, xml = import_request(config, state)
        assert_valid_qbxml(build_message([(request_id, xml)], version="13.0"), qbxml_reference)
        request = parse_xml(xml)
        assert [t.text for t in request.iter("TxnDelType")] == ["Invoice", "Bill"]
        asked = request.findtext("DeletedDateRangeFilter/FromDeletedDate")
        assert asked is not None
        assert datetime.fromisoformat(asked) == expected

    (answer,) = parse_response(
        "<QBXML><QBXMLMsgsRs>"
        "<TxnDeletedQueryRs requestID='r' statusCode='0' statusSeverity='Info' statusMessage='OK'>"
        "<TxnDeletedRet><TxnDelType>Invoice</TxnDelType><TxnID>1-1</TxnID>"
        "<TimeDeleted>2026-11-22T10:00:00+00:00</TimeDeleted></TxnDeletedRet>"
        "<TxnDeletedRet><TxnDelType>Bill</TxnDelType><TxnID>2-1</TxnID>"
        "<TimeDeleted>2026-11-22T11:00:00+00:00</TimeDeleted></TxnDeletedRet>"
        "</TxnDeletedQueryRs></QBXMLMsgsRs></QBXML>"
    )
    taken = absorb(start(config, DELETED, None, now), answer)
    assert taken.state is None  # one answer: no iterator
    assert [r["qb_id"] for r in taken.records] == ["1-1", "2-1"]
    assert taken.watermark == datetime(2026, 11, 22, 11, tzinfo=UTC)


def test_deleted_transactions_without_a_transaction_import_are_refused() -> None:
    with pytest.raises(ValueError, match="add invoice, bill"):
        ImportConfig(entities=("customer", DELETED))
