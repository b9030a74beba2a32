"""Change Data Capture read through the real client from the QBO sandbox over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from connectors.qbo import QboEntityRequest, QboOperation, QboRequest, read_changes
from connectors.qbo._changes import CdcRefused
from tests.support.qbo import add_qbo_profile, connect, qbo_world

REALM = "3330001"


def test_changes_since_a_watermark_then_nothing_new(database_url: str) -> None:
    with qbo_world(database_url) as world:
        world.sandbox.add_company(REALM)
        connect(world, add_qbo_profile(world.store, "Online Co"), REALM)
        since = datetime.now(UTC) - timedelta(minutes=1)

        def write(n: int, request: QboEntityRequest) -> dict[str, object]:
            answer = world.client.send(QboRequest.write(REALM, request, f"rid-{n}"))
            assert answer.ok, answer.body
            found = answer.entity(request.entity)
            assert found is not None
            return dict(found)

        customer = write(
            1, QboEntityRequest(QboOperation.CREATE, "Customer", {"DisplayName": "Cdc"})
        )
        line = {"Amount": 10, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
        invoice = write(
            2,
            QboEntityRequest(
                QboOperation.CREATE,
                "Invoice",
                {"CustomerRef": {"value": customer["Id"]}, "Line": [line]},
            ),
        )
        write(
            3,
            QboEntityRequest(
                QboOperation.DELETE, "Invoice", {"Id": invoice["Id"], "SyncToken": "0"}
            ),
        )

        page = read_changes(world.client, REALM, ["Customer", "Invoice"], since)
        seen = {(r.entity, r.entity_id, r.deleted) for r in page.records}
        assert seen == {("Customer", customer["Id"], False), ("Invoice", invoice["Id"], True)}
        assert not page.truncated
        assert page.watermark <= datetime.now(UTC)

        again = read_changes(world.client, REALM, ["Customer", "Invoice"], page.watermark)
        assert {(r.entity, r.entity_id) for r in again.records} <= {
            ("Customer", customer["Id"]),
            ("Invoice", invoice["Id"]),
        }  # the same second may be read twice (at least once), never something older

        with pytest.raises(CdcRefused, match="30 days"):
            read_changes(world.client, REALM, ["Customer"], since - timedelta(days=31))
        with pytest.raises(ValueError, match="TimeActivity"):
            read_changes(world.client, REALM, ["TimeActivity"], since)
