"""What the QBO tests share: the QBO sandbox serving one company, the test module's ``REALM``
(with its ``START_DATE`` when the module names one), that company, ``start_online``: the
real worker (and gateway) on real Kafka with a QBO sender connected to that company, and
``start_sender``: a QBO sender alone on real Kafka (the test queues the commands) with a
sandbox of its own."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from connectors.qbo_sandbox import Company, QboSandbox
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from tests.support.qbo import (
    QboPipeline,
    SenderRig,
    StartOnline,
    StartSender,
    qbo_pipeline,
    sender_rig,
)


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[tuple[QboSandbox, str]]:
    """The sandbox over HTTP with the module's company (``REALM``): it and its base URL."""
    value = QboSandbox()
    company = value.add_company(request.module.REALM)
    start = getattr(request.module, "START_DATE", None)
    if start is not None:
        company.start_date = start
    with value.serve() as url:
        yield value, url


@pytest.fixture
def company(sandbox: tuple[QboSandbox, str], request: pytest.FixtureRequest) -> Company:
    """The module's QBO company (``REALM``) in the sandbox, to set up or read directly."""
    return sandbox[0].company(request.module.REALM)


@pytest.fixture
def start_online(
    broker: BrokerInfo,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    sandbox: tuple[QboSandbox, str],
    request: pytest.FixtureRequest,
) -> Iterator[StartOnline]:
    """Starts :class:`QboPipeline` for the module's ``REALM`` (its profile serving
    ``tenants``, the first one the pipeline's tenant) once the test has set ``settings`` and
    the company up; at the end the sender closes and the worker must exit cleanly."""
    qbo, url = sandbox
    with ExitStack() as stack:

        def start(*, tenants: tuple[str, ...] = ("q-1",)) -> QboPipeline:
            return stack.enter_context(
                qbo_pipeline(
                    broker, settings, database_url, tmp_path, qbo, url, request.module.REALM,
                    tenants=tenants,
                )
            )  # fmt: skip

        yield start


def _as_is(_settings: Settings) -> None:
    """Settings left as the rig sets them."""


@pytest.fixture
def start_sender(
    broker: BrokerInfo, settings: Settings, request: pytest.FixtureRequest
) -> Iterator[StartSender]:
    """Starts :class:`SenderRig` for the module's ``REALM`` (``prepare`` sets QBSYNC_QBO_*
    first); closed at the end."""
    with ExitStack() as stack:

        def start(prepare: Callable[[Settings], None] = _as_is) -> SenderRig:
            return stack.enter_context(sender_rig(broker, settings, request.module.REALM, prepare))

        yield start
