"""Record mappings over a QuickBooks Online company (issue 19): the company's customers, read
back by CDC, are listed unmapped per module; ``qbsync map match`` adopts them by name
(exact, then normalized: smart match), by hand, and ``unmatch`` forgets one. A matched
customer's next event updates the QBO record instead of adding a second one. Real worker,
real Kafka, the QBO sandbox over HTTP, the CLI on the same store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.qbo_sandbox import Company
from core.contracts import customer_event
from core.settings import Settings
from tests.support.qbo import StartOnline, cli_json, cli_sees
from tests.support.waiting import until

pytestmark = pytest.mark.integration

REALM = "5550001920"
TENANT = "q-1"


def test_qbo_records_are_listed_matched_smartly_and_unmatched(
    settings: Settings,
    tmp_path: Path,
    company: Company,
    start_online: StartOnline,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings.qbo.read_entities = "Customer"
    settings.qbo.read_interval_s = 1.0
    ids = {}
    for name in ("Lovelace Labs", "Smith & Sons, Inc.", "Turing Works"):
        status, body = company.create("Customer", {"DisplayName": name, "CompanyName": name})
        assert status == 200
        ids[name] = body["Customer"]["Id"]
    online = start_online()
    cli_sees(settings, monkeypatch)

    def listed() -> list[dict[str, Any]]:
        online.drain()  # the company's reads (CDC) keep what QBO has
        found = cli_json("map", "unmapped", "--tenant", TENANT, "--entity", "customer", "--json")
        return found if len(found) == 3 else []

    unmapped = until(listed, timeout=120, what="the QBO customers listed unmapped")
    assert {r["qb_id"]: r["name"] for r in unmapped} == {v: k for k, v in ids.items()}

    records = tmp_path / "customers.csv"
    records.write_text("id,name\nc-1,Lovelace Labs\nc-2,smith and sons inc\nc-9,Nobody\n")
    report = cli_json(
        "map", "match", "--tenant", TENANT, "--entity", "customer",
        "--records", str(records), "--json",
    )  # fmt: skip
    assert sorted((m["id"], m["qb_id"], m["how"]) for m in report["matched"]) == [
        ("c-1", ids["Lovelace Labs"], "exact"),
        ("c-2", ids["Smith & Sons, Inc."], "normalized"),
    ]
    assert [u["id"] for u in report["unmatched"]] == ["c-9"]
    by_hand = cli_json(
        "map", "match", "--tenant", TENANT, "--entity", "customer",
        "--id", "c-3", "--qb-id", ids["Turing Works"], "--json",
    )  # fmt: skip
    assert [(m["id"], m["how"]) for m in by_hand["matched"]] == [("c-3", "by hand")]
    mapped = cli_json("map", "list", "--tenant", TENANT, "--entity", "customer", "--json")
    assert {(m["id"], m["qb_id"]) for m in mapped} == {
        ("c-1", ids["Lovelace Labs"]),
        ("c-2", ids["Smith & Sons, Inc."]),
        ("c-3", ids["Turing Works"]),
    }
    assert cli_json("map", "unmapped", "--tenant", TENANT, "--entity", "customer", "--json") == []

    # Unmatch: the record is unmapped again.
    cli_json("map", "unmatch", "--tenant", TENANT, "--entity", "customer", "--id", "c-3", "--json")
    again = cli_json("map", "unmapped", "--tenant", TENANT, "--entity", "customer", "--json")
    assert [r["qb_id"] for r in again] == [ids["Turing Works"]]

    # The matched customer's next event updates QBO's record: no second customer.
    online.publish(
        customer_event(TENANT, "c-2", {"company_name": "Smith & Sons, Inc.", "phone": "555"})
    )

    def updated() -> bool:
        online.drain()
        found = next(c for c in company.all("Customer") if c["Id"] == ids["Smith & Sons, Inc."])
        return (found.get("PrimaryPhone") or {}).get("FreeFormNumber") == "555"

    until(updated, timeout=120, what="the matched customer updated in QBO")
    names = sorted(c["DisplayName"] for c in company.all("Customer"))
    assert names == ["Lovelace Labs", "Smith & Sons, Inc.", "Turing Works"]
