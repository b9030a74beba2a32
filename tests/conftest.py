"""Shared fixtures: a real Kafka broker, real databases (SQLite and PostgreSQL), Intuit's
reference data. Under CI (``CI=true``) a missing real component fails the run instead of
skipping, so nothing is silently left untested."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.settings import Settings
from qbsync.brokers import BrokerInfo, running_broker
from qbsync.logs import QUIETED_LOGGERS
from tests.support.postgres import postgres_url

REPO = Path(__file__).resolve().parents[1]
QBXML_REFERENCE = Path(
    os.environ.get("QBSYNC_QBXML_REFERENCE", str(REPO.parent / "shared" / "qbxml"))
)
UNDER_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

_brokers: list[BrokerInfo] = []


@pytest.fixture(autouse=True)
def _logging_restored() -> Iterator[None]:
    """Each test leaves logging as it found it. A CLI command run in-process configures
    logging (``configure_logging``: the root's handler on that moment's stderr, the
    libraries' loggers at WARNING); left in place, a later test logs into a closed stream
    and sees no spyne or waitress lines at all."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: logging.getLogger(name).level for name in QUIETED_LOGGERS}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, previous in levels.items():
        logging.getLogger(name).setLevel(previous)


def missing(reason: str) -> None:
    """Skip on a developer machine; fail under CI, where every real component must exist."""
    if UNDER_CI:
        pytest.fail(f"{reason} (required under CI)")
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _brokers:
        terminalreporter.write_line(f"broker used by the tests: {_brokers[0].describe()}")
    else:
        terminalreporter.write_line("broker used by the tests: none was needed")


@pytest.fixture(scope="session")
def broker() -> Iterator[BrokerInfo]:
    """The test broker (see ``qbsync.brokers`` for the order it is chosen in)."""
    with running_broker() as info:
        _brokers.append(info)
        yield info


@pytest.fixture(scope="session")
def qbxml_reference() -> Path:
    if not (QBXML_REFERENCE / "xsd").is_dir():
        missing(f"Intuit's qbXML reference data is not at {QBXML_REFERENCE}")
    return QBXML_REFERENCE


@pytest.fixture(scope="session")
def _postgres_server() -> Iterator[str | None]:
    with postgres_url() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, _postgres_server: str | None
) -> Iterator[str]:
    """An empty database of each kind, new for every test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'qbsync.db'}"
        return
    if _postgres_server is None:
        missing("no PostgreSQL: set QBSYNC_TEST_POSTGRES_URL or install the postgresql package")
    server = make_url(_postgres_server)
    name = f"qbsync_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings isolated to this test: own data dir, own topic prefix, own worker group."""
    run = uuid.uuid4().hex[:8]
    values = Settings(data_dir=tmp_path)
    values.topics.prefix = f"test-{run}"
    values.worker.app_id = f"qbsync-test-{run}"
    # Imports add their own exchanges to every session; the tests of imports turn them on.
    values.gateway.imports = ""
    # Tests enqueue a command and connect at once; the in-memory work index (which sees it
    # within a second) is tested on its own (tests/connectors/kafka/test_work_index.py).
    values.gateway.work_index_s = 0
    # Tests disable or reset a profile and authenticate at once; the profile cache (which
    # sees it within a second) is tested on its own (tests/connectors/qbwc/test_profiles.py).
    values.gateway.profile_cache_s = 0
    return values
