from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.gateway import Served, prepared, serving


@pytest.fixture
def served(broker: BrokerInfo, settings: Settings) -> Iterator[Served]:
    """A gateway over HTTP on the test broker, with one profile serving tenants t-1, t-2."""
    with (
        prepared(broker, settings, name="Shared Co", tenants=["t-1", "t-2"]) as ready,
        serving(settings) as url,
    ):
        yield replace(ready, url=url)
