from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.qbwc import create_profile
from connectors.store import Store, upgrade
from core.contracts import AvroCodec
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.runtime import prepare_topics, use_broker
from tests.support.gateway import Served, serving


@pytest.fixture
def served(broker: BrokerInfo, settings: Settings) -> Iterator[Served]:
    """A gateway over HTTP on the test broker, with one profile serving tenants t-1, t-2."""
    use_broker(settings, broker)
    upgrade(settings.database_url)
    prepare_topics(settings)
    store = Store(settings.database_url)
    profile = create_profile(store, name="Shared Co", tenants=["t-1", "t-2"])
    with serving(settings) as url:
        yield Served(url=url, settings=settings, store=store, profile=profile, codec=AvroCodec())
    store.close()
