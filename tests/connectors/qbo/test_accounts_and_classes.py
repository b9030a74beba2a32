"""Accounts and classes read from QuickBooks Online (issue 19: "get" for the chart of
accounts and classes): CDC on real Kafka against the QBO sandbox over HTTP, store on SQLite
and PostgreSQL. They are no app entity: like the Desktop import, the reader keeps what the
company has by name (``save_qb_records``), so matching and reference checks (a class or an
account that QuickBooks lacks holds the record) work for a QBO company too."""

from __future__ import annotations

from connectors.kafka import RecordProducer
from connectors.qbo import QboReader, ReaderConfig
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.qbo import add_qbo_profile, connect, qbo_world, read_topic

REALM = "8880003333"


def test_accounts_and_classes_are_kept_by_name_for_matching_and_checks(
    broker: BrokerInfo, settings: Settings, database_url: str
) -> None:
    use_broker(settings, broker)
    prepare_topics(settings)
    codec = AvroCodec()
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, REALM)
        company = world.sandbox.company(REALM)
        _s, freight = company.create("Account", {"Name": "Freight In", "AccountType": "Expense"})
        company.create("Class", {"Name": "Commercial"})
        _s, old = company.create("Class", {"Name": "Old Branch"})
        company.edit("Class", old["Class"]["Id"], {"Active": False})
        store = world.store
        # Before any read qbsync knows nothing (None: names are sent and QuickBooks decides).
        assert store.qb_name_exists(profile_id, "class", "Commercial") is None
        producer = RecordProducer(settings.kafka.client_config())
        reader = QboReader(
            world.client,
            store,
            producer,
            codec,
            ReaderConfig(settings.topics.imports, ("Account", "Class")),
        )
        try:
            report = reader.read(profile_id, REALM)
            assert report is not None
            assert report.records == 3
            assert store.qb_name_exists(profile_id, "class", "Commercial") is True
            assert store.qb_name_exists(profile_id, "class", "Old Branch") is False  # inactive
            assert store.qb_name_exists(profile_id, "class", "Residential") is False
            assert store.qb_name_exists(profile_id, "account", "Freight In") is True
            (account,) = store.qb_records(profile_id, "account")
            assert (account.qb_id, account.full_name) == (freight["Account"]["Id"], "Freight In")
            imported = read_topic(
                settings, codec, settings.topics.imports, settings.topics.events_partitions, 3
            )
            assert sorted(i["record_type"] for i in imported) == ["Account", "Class", "Class"]
        finally:
            producer.close()
