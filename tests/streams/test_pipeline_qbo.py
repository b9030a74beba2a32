"""The worker for a QuickBooks Online company: commands carry the QBO request, and QBO's
answers are read with QBO's catalog (the same code can mean something else in qbXML)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.qbo import QboEntityRequest, QboOperation, create_company
from connectors.store import Store, upgrade
from core.contracts import customer_event
from tests.streams.test_pipeline import COMMAND, DEAD_LETTER, Clock, Worker, make_worker


@pytest.fixture
def worker(tmp_path: Path) -> Iterator[Worker]:
    url = f"sqlite:///{tmp_path / 'q.db'}"
    upgrade(url)
    store = Store(url)
    create_company(store, name="Online", tenants=["q-1"])
    yield make_worker(store, Clock(), tmp_path)
    store.close()


def test_a_qbo_tenants_event_becomes_a_qbo_command(worker: Worker) -> None:
    worker.event(customer_event("q-1", "c-1", {"last_name": "Hopper"}))
    (command,) = worker.take(COMMAND)
    assert command["request_xml"] == ""
    request = QboEntityRequest.from_avro(command["qbo"])
    assert (request.operation, request.body["DisplayName"]) == (QboOperation.CREATE, "Hopper")


def test_qbo_answers_are_explained_by_qbos_catalog(worker: Worker) -> None:
    worker.event(customer_event("q-1", "c-1", {"last_name": "Hopper"}))
    (command,) = worker.take(COMMAND)
    # 3100 is "name already in use" in qbXML; in QBO it is a revoked app authorization.
    worker.result(worker.answer(command, 3100, "ApplicationAuthorizationFailed", api="qbo"))
    (status,) = worker.take("com.qbsync.events.SyncStatus")
    assert status["status"] == "FAILED"
    assert "access to this company" in status["explanation"]
    assert "connects qbsync again" in status["remedy"]
    (letter,) = worker.take(DEAD_LETTER)
    assert letter["code"] == "3100"
    assert letter["category"] == "permanent"
    assert worker.pipeline.codec.decode(letter["original_value"])[1]["qbo"] == command["qbo"]
