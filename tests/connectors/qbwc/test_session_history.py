"""What the gateway keeps of its sessions for the console, over real HTTP with the real
broker and store: the Web Connector's version (``clientVersion``), QuickBooks' country and
qbXML version (``sendRequestXML``'s parameters) and each session's end and counts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from connectors.store import SessionLog
from tests.support.gateway import Served, connector, enqueue

pytestmark = pytest.mark.integration


def web_connector(served: Served, tmp_path: Path, version: str, qbxml: str) -> SandboxWebConnector:
    return SandboxWebConnector(
        HttpTransport(served.url + "/qbwc"),
        username=served.profile.profile.username,
        password=served.profile.password,
        company=CompanyFile(tmp_path / f"{uuid.uuid4().hex}.db", validate_with=find_reference()),
        client_version=version,
        qbxml_versions=(qbxml,),
    )


def test_each_session_is_kept_with_the_versions_the_web_connector_reported(
    served: Served, tmp_path: Path
) -> None:
    history = SessionLog(served.store)
    profile_id = served.profile.profile.id
    before = datetime.now(UTC)
    enqueue(served, "Ada", "Grace", "Ada")  # the second Ada: 3100, the name is taken
    report = web_connector(served, tmp_path, "2.3.0.215", "13.0").run_once()
    assert report.requests == 3
    (past,) = history.recent(profile_id)
    assert past.outcome == "closed"
    assert (past.settled, past.failed, past.requests) == (2, 1, 3)
    assert past.web_connector == "2.3.0.215"
    assert (past.qbxml_country, past.qbxml_major, past.qbxml_minor) == ("US", 13, 0)
    assert past.qbxml_version == "13.0"
    assert past.ended_at is not None
    assert before <= past.started_at <= past.ended_at <= datetime.now(UTC)
    # A call with nothing to do opens no session, and keeps none.
    assert connector(served, tmp_path).run_once().authenticate == "none"
    assert len(history.recent(profile_id)) == 1
    # The bookkeeper updates the Web Connector: the next session says so.
    enqueue(served, "Linus")
    web_connector(served, tmp_path, "2.3.0.300", "16.0").run_once()
    newest, oldest = history.recent(profile_id)
    assert (newest.web_connector, newest.qbxml_major, newest.settled) == ("2.3.0.300", 16, 1)
    assert oldest == past
    assert history.latest([profile_id, "nobody"]) == {profile_id: newest}
