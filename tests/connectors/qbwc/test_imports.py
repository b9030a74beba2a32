"""Imports through the Web Connector session: iterators, watermarks, interruptions."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.kafka.brokers import BrokerInfo
from connectors.qbwc import create_profile
from connectors.qbwc._imports import ImportConfig, absorb, due, import_request, start
from connectors.qbxml import ENTITIES, build_message, build_request, parse_xml
from connectors.qbxml._parse import ResponseStatus
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import ImportWatermark, Store, upgrade
from qbsync.contracts import AvroCodec
from qbsync.runtime import prepare_topics, use_broker
from qbsync.settings import Settings
from tests.support.gateway import Served, enqueue, serving
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
    assert "customer" not in importing.store.watermarks(profile_id)  # not every page: no mark
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
    sent: list[str] = []
    original = company.process

    def recording(request: str) -> tuple[str, str, str]:
        sent.append(request)
        return original(request)

    company.process = recording  # type: ignore[method-assign]
    wc(importing, company).run_once()
    (query,) = [r for r in sent if "CustomerQueryRq" in r]
    stamp = parse_xml(query).findtext(".//FromModifiedDate")
    assert stamp is not None  # a watermark, rewound a minute, not a full import again
    newest = max(r.time_modified for r in importing.store.qb_records(profile_id, "customer"))
    assert newest is not None
    asked = datetime.fromisoformat(stamp)
    assert asked.tzinfo is not None  # with its offset: QuickBooks reads a bare time as local
    assert asked <= newest.replace(tzinfo=newest.tzinfo or UTC) - timedelta(seconds=59)


# -- pure logic ---------------------------------------------------------------------------


def test_requests_are_valid_qbxml(qbxml_reference: Path) -> None:
    config = ImportConfig(entities=("customer", "class", "account", "item"), page_size=150)
    for entity in config.entities:
        first = start(entity, datetime(2026, 5, 1, tzinfo=UTC))
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
    taken = absorb(start("class", None), refused)
    assert taken.state is None
    assert taken.watermark is None
    assert taken.error is not None
    assert "3260" in taken.error
    with pytest.raises(ValueError, match="invoice_line"):
        ImportConfig(entities=("invoice_line",))
