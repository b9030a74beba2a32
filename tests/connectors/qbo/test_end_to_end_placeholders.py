"""Placeholders over QuickBooks Online (issue 19): a field the app requires but a QBO record
lacks arrives as ``FromQuickBooks`` (0 for rates) and is named in the change's
``placeholders``, so the app flags it for review. Records entered in QBO without those fields
come back by CDC through the real worker on real Kafka; the QBO sandbox over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import AvroCodec
from core.settings import Settings
from tests.support.qbo import StartOnline, changes_feed
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001919"
TENANT = "q-1"


def test_fields_qbo_lacks_arrive_as_from_quickbooks_flagged_for_review(
    settings: Settings,
    company: Company,
    start_online: StartOnline,
) -> None:
    codec = AvroCodec()
    settings.qbo.read_entities = "Employee,Vendor,Item"
    settings.qbo.read_interval_s = 1.0
    online = start_online()
    online.run.store.update_tenant_settings(
        TENANT,
        {
            "direction": {
                "employee": "from_quickbooks",
                "vendor": "from_quickbooks",
                "item": "from_quickbooks",
            }
        },
    )
    with changes_feed(settings, codec) as changes:
        # Entered in QBO with a display name only (no GivenName/FamilyName, no
        # CompanyName), and a service item without a price or cost.
        made: dict[str, str] = {}
        for entity, body in (
            ("Employee", {"DisplayName": "Sam"}),
            ("Vendor", {"DisplayName": "Corner Shop"}),
            ("Item", {"Name": "Consulting", "Type": "Service"}),
            (
                "Employee",
                {"DisplayName": "Ada Byron", "GivenName": "Ada", "FamilyName": "Byron"},
            ),
        ):
            status, answer = company.create(entity, body)
            assert status == 200, answer
            made[body.get("DisplayName") or body["Name"]] = answer[entity]["Id"]

        def poll() -> dict[str, dict[str, Any]]:
            online.drain()
            found = {
                c["qb_id"]: c for c in changes() if c["entity"] in ("employee", "vendor", "item")
            }
            return found if set(made.values()) <= set(found) else {}

        by_id = until(poll, timeout=120, what="the QBO records read back")
        sam = by_id[made["Sam"]]
        assert sam["entity"] == "employee"
        assert (sam["employee"]["first_name"], sam["employee"]["last_name"]) == (
            "FromQuickBooks",
            "FromQuickBooks",
        )
        assert sorted(sam["placeholders"]) == ["first_name", "last_name"]
        shop = by_id[made["Corner Shop"]]
        # A name QBO has (DisplayName) stays the company name, flagged all the same.
        assert shop["vendor"]["company_name"] == "Corner Shop"
        assert "company_name" in shop["placeholders"]
        consulting = by_id[made["Consulting"]]
        assert consulting["entity"] == "item"
        assert (consulting["item"]["price"], consulting["item"]["cost"]) == (0, 0)
        assert {"price", "cost"} <= set(consulting["placeholders"])
        # A record that has the fields is delivered as it is, nothing flagged.
        ada = by_id[made["Ada Byron"]]
        assert (ada["employee"]["first_name"], ada["employee"]["last_name"]) == ("Ada", "Byron")
        assert ada["placeholders"] == []
        assert Decimal(consulting["item"]["price"]) == Decimal(0)
