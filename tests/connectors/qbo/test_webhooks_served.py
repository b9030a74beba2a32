"""Intuit's webhooks served as ``qbsync qbo send`` serves them (real HTTP): the QBO
sandbox posts a signed notification after a write, which only asks for a read of the
entity it names; a forged one is refused; missing settings are named."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx2
import pytest
from pydantic import SecretStr

from connectors.qbo import (
    QboEntityRequest,
    QboOperation,
    QboRequest,
    QboRuntime,
    create_qbo_runtime,
)
from core.errors import ConfigurationError
from core.settings import Settings
from qbsync.brokers import BrokerInfo
from qbsync.cli_qbo import serving_http
from qbsync.runtime import use_broker
from tests.support.qbo import QboWorld, add_qbo_profile, connect, qbo_settings, qbo_world
from tests.support.waiting import until

REALM = "6660001111"
VERIFIER = SecretStr("a-verifier-token")


@pytest.fixture
def world_and_runtime(
    broker: BrokerInfo, settings: Settings, database_url: str
) -> Iterator[tuple[QboWorld, QboRuntime, str]]:
    use_broker(settings, broker)
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        profile_id = add_qbo_profile(world.store, "Online Co", tenants=("t-1",))
        connect(world, profile_id, REALM)
        qbo_settings(settings, world.sandbox, world.url, world.key)
        settings.qbo.read_entities = "Customer,Invoice"
        runtime = create_qbo_runtime(settings, world.store)
        try:
            yield world, runtime, profile_id
        finally:
            runtime.close()


def test_a_signed_notification_asks_for_a_read_and_a_forged_one_is_refused(
    world_and_runtime: tuple[QboWorld, QboRuntime, str],
) -> None:
    world, runtime, profile_id = world_and_runtime
    with serving_http(runtime.webhooks(VERIFIER, world.store), "127.0.0.1:0") as port:
        url = f"http://127.0.0.1:{port}/qbo/webhooks"
        change = {"name": "Invoice", "id": "1", "operation": "Create"}
        notification = {"realmId": REALM, "dataChangeEvent": {"entities": [change]}}
        forged = json.dumps({"eventNotifications": [notification]}).encode()
        answer = httpx2.post(url, content=forged, headers={"intuit-signature": "bm90IGl0"})
        assert answer.status_code == 401
        assert "invoice" not in world.store.watermarks(profile_id)

        world.sandbox.webhook_url = url
        world.sandbox.webhook_verifier = VERIFIER
        written = world.client.send(
            QboRequest.write(
                REALM,
                QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": "Hooked"}),
                "req-1",
            )
        )
        assert written.ok

        def requested() -> bool:
            mark = world.store.watermarks(profile_id).get("customer")
            return mark is not None and mark.requested_at is not None

        until(requested, what="the webhook asked for a read of customers", timeout=30)
        # A hint, not data: nothing else was asked for, and nothing was read yet.
        marks = world.store.watermarks(profile_id)
        assert set(marks) == {"customer"}
        assert marks["customer"].completed_at is None


def test_webhook_settings_are_named_when_missing(
    world_and_runtime: tuple[QboWorld, QboRuntime, str],
) -> None:
    world, runtime, _ = world_and_runtime
    with pytest.raises(ConfigurationError, match="QBSYNC_QBO_WEBHOOK_VERIFIER is empty"):
        runtime.webhooks(SecretStr(""), world.store)
    app = runtime.webhooks(VERIFIER, world.store)
    with (
        pytest.raises(ConfigurationError, match="QBSYNC_QBO_LISTEN is 'nowhere'"),
        serving_http(app, "nowhere"),
    ):
        pass
