"""The QBO sandbox over real HTTP: Intuit's URL shapes, SyncToken, names, references,
closed books, query language, batch, CDC, requestid, limits, OAuth errors and webhooks.
Expected answers are Intuit's documented ones (``../shared/qbo/README.md``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx2
import pytest
from pydantic import SecretStr

from connectors.qbo import DataChange, sign, webhook_app
from connectors.qbo_sandbox import Fault, QboSandbox
from connectors.qbwc import GatewayServer
from tests.support.waiting import until

REALM = "4620816365"


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.base = f"{url}/v3/company/{REALM}"
        self.http = httpx2.Client(timeout=10, headers={"Authorization": f"Bearer {token}"})

    def post(self, path: str, body: dict[str, Any], **params: str) -> tuple[int, dict[str, Any]]:
        answer = self.http.post(f"{self.base}/{path}", json=body, params=params)
        return answer.status_code, answer.json()

    def get(self, path: str, **params: str) -> tuple[int, dict[str, Any]]:
        answer = self.http.get(f"{self.base}/{path}", params=params)
        return answer.status_code, answer.json()

    def query(self, text: str) -> dict[str, Any]:
        status, body = self.get("query", query=text)
        assert status == 200, body
        return dict(body["QueryResponse"])


def code(body: dict[str, Any]) -> str:
    return str(body["Fault"]["Error"][0]["code"])


@pytest.fixture
def sandbox() -> QboSandbox:
    value = QboSandbox()
    value.add_company(REALM)
    return value


@pytest.fixture
def api(sandbox: QboSandbox) -> Iterator[Api]:
    with sandbox.serve() as url:
        client = Api(url, str(sandbox.tokens_for(REALM)["access_token"]))
        yield client
        client.http.close()


def test_sync_token_is_optimistic_concurrency(api: Api) -> None:
    status, created = api.post("customer", {"DisplayName": "Ada Lovelace", "Notes": "first"})
    assert status == 200
    customer = created["Customer"]
    assert customer["SyncToken"] == "0"
    assert customer["MetaData"]["CreateTime"]

    status, updated = api.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "sparse": True, "Notes": "second"}
    )
    assert status == 200
    assert updated["Customer"]["SyncToken"] == "1"
    assert updated["Customer"]["DisplayName"] == "Ada Lovelace"  # sparse kept it

    status, stale = api.post(
        "customer", {"Id": customer["Id"], "SyncToken": "0", "DisplayName": "Ada L."}
    )
    assert (status, code(stale)) == (400, "5010")
    status, read = api.get(f"customer/{customer['Id']}")
    assert read["Customer"]["DisplayName"] == "Ada Lovelace"
    assert read["Customer"]["Notes"] == "second"

    status, full = api.post(
        "customer", {"Id": customer["Id"], "SyncToken": "1", "DisplayName": "Ada L."}
    )
    assert status == 200
    assert "Notes" not in full["Customer"]  # a full update drops what it does not send
    status, missing = api.get("customer/9999")
    assert (status, code(missing)) == (400, "610")


def test_display_names_are_unique_across_customers_vendors_and_employees(api: Api) -> None:
    assert api.post("vendor", {"DisplayName": "Acme Supplies"})[0] == 200
    status, body = api.post("customer", {"DisplayName": "acme supplies"})
    assert (status, code(body)) == (400, "6240")
    assert body["Fault"]["type"] == "ValidationFault"
    status, body = api.post("employee", {"GivenName": "Acme", "FamilyName": "Supplies"})
    assert (status, code(body)) == (400, "6240")


def test_invoice_rules(api: Api, sandbox: QboSandbox) -> None:
    _, customer = api.post("customer", {"DisplayName": "Buyer"})
    buyer = customer["Customer"]["Id"]
    line = {
        "Amount": 120.5,
        "DetailType": "SalesItemLineDetail",
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
    }
    status, body = api.post("invoice", {"Line": [line]})
    assert (status, code(body), body["Fault"]["Error"][0]["element"]) == (
        400,
        "2020",
        "CustomerRef",
    )
    status, body = api.post("invoice", {"CustomerRef": {"value": "777"}, "Line": [line]})
    assert (status, code(body)) == (400, "2500")

    status, body = api.post(
        "invoice", {"CustomerRef": {"value": buyer}, "Line": [line, {**line, "Amount": 9.5}]}
    )
    assert status == 200
    invoice = body["Invoice"]
    assert invoice["TotalAmt"] == 130.0
    assert invoice["DocNumber"]
    status, body = api.post(
        "invoice",
        {"CustomerRef": {"value": buyer}, "Line": [line], "DocNumber": invoice["DocNumber"]},
    )
    assert (status, code(body)) == (400, "6140")

    sandbox.company(REALM).closing_date = date(2026, 6, 30)
    status, body = api.post(
        "invoice", {"CustomerRef": {"value": buyer}, "Line": [line], "TxnDate": "2026-06-30"}
    )
    assert (status, code(body)) == (400, "6210")

    status, body = api.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"]}, operation="delete"
    )
    assert status == 200
    assert body["Invoice"]["status"] == "Deleted"
    status, body = api.post("customer", {"Id": buyer, "SyncToken": "0"}, operation="delete")
    assert (status, code(body)) == (400, "500")  # lists are made inactive, not deleted


def test_query_language_subset(api: Api) -> None:
    for name in ("Alpha Co", "Beta Co", "Gamma Ltd", "Delta Co"):
        assert api.post("customer", {"DisplayName": name})[0] == 200
    found = api.query("select * from Customer where DisplayName like '%Co' orderby DisplayName")
    assert [c["DisplayName"] for c in found["Customer"]] == ["Alpha Co", "Beta Co", "Delta Co"]
    found = api.query("SELECT * FROM Customer WHERE DisplayName IN ('Beta Co', 'Gamma Ltd')")
    assert sorted(c["DisplayName"] for c in found["Customer"]) == ["Beta Co", "Gamma Ltd"]
    page = api.query("select * from Customer startposition 2 maxresults 2")
    assert (page["startPosition"], page["maxResults"]) == (2, 2)
    assert [c["DisplayName"] for c in page["Customer"]] == ["Beta Co", "Gamma Ltd"]
    assert api.query("select count(*) from Customer")["totalCount"] == 4
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert api.query(f"select * from Customer where Metadata.LastUpdatedTime > '{future}'") == {}
    status, body = api.get("query", query="select name from")
    assert (status, code(body)) == (400, "4000")


def test_a_lists_query_answers_active_records_unless_asked_for_inactive_ones(
    api: Api, sandbox: QboSandbox
) -> None:
    """Intuit: a query of a list entity leaves inactive records out unless its conditions
    name ``Active``; transactions have no such filter. A reference answers with the
    record's name beside its Id."""
    for name in ("Kept Co", "Closed Co"):
        assert api.post("customer", {"DisplayName": name})[0] == 200
    company = sandbox.company(REALM)
    (closed,) = [c for c in company.all("Customer") if c["DisplayName"] == "Closed Co"]
    company.edit("Customer", closed["Id"], {"Active": False})

    def names(text: str) -> list[str]:
        return sorted(c["DisplayName"] for c in api.query(text).get("Customer", []))

    assert names("select * from Customer") == ["Kept Co"]
    assert api.query("select count(*) from Customer")["totalCount"] == 1
    assert names("select * from Customer where Active = false") == ["Closed Co"]
    both = "select * from Customer where Active in (true, false) and DisplayName like '%Co'"
    assert names(both) == ["Closed Co", "Kept Co"]
    (kept,) = [c for c in company.all("Customer") if c["DisplayName"] == "Kept Co"]
    line = {"Amount": 5.0, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}
    status, body = api.post("invoice", {"CustomerRef": {"value": kept["Id"]}, "Line": [line]})
    assert status == 200
    assert body["Invoice"]["CustomerRef"] == {"value": kept["Id"], "name": "Kept Co"}
    assert len(api.query("select * from Invoice")["Invoice"]) == 1


def test_a_repeated_requestid_is_answered_not_applied(api: Api, sandbox: QboSandbox) -> None:
    first = api.post("customer", {"DisplayName": "Once"}, requestid="r-1")
    again = api.post("customer", {"DisplayName": "Once"}, requestid="r-1")
    assert first == again
    assert first[0] == 200
    assert len(sandbox.company(REALM).all("Customer")) == 1
    other = api.post("customer", {"DisplayName": "Once"}, requestid="r-2")
    assert code(other[1]) == "6240"


def test_batch_and_its_item_limit(api: Api) -> None:
    status, body = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "One"}},
                {"bId": "b2", "operation": "create", "Customer": {"DisplayName": "One"}},
                {"bId": "b3", "Query": "select count(*) from Customer"},
            ]
        },
    )
    assert status == 200
    answers = {item["bId"]: item for item in body["BatchItemResponse"]}
    assert answers["b1"]["Customer"]["DisplayName"] == "One"
    assert answers["b2"]["Fault"]["Error"][0]["code"] == "6240"
    assert answers["b3"]["QueryResponse"]["totalCount"] == 1
    items = [
        {"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"C{i}"}}
        for i in range(31)
    ]
    status, body = api.post("batch", {"BatchItemRequest": items})
    assert status == 400
    assert "at most 30" in body["Fault"]["Error"][0]["Detail"]


def test_a_batch_requestid_replays_the_first_answer(api: Api, sandbox: QboSandbox) -> None:
    items = [
        {"bId": "0", "operation": "create", "Customer": {"DisplayName": "Replay A"}},
        {"bId": "1", "operation": "create", "Customer": {"DisplayName": "Replay B"}},
    ]
    rid = "0b8f6a4e-4c4e-5d7a-9b59-0c5e6f1d2a3b"  # 36 characters: Intuit's most for a batch
    status, first = api.post("batch", {"BatchItemRequest": items}, requestid=rid)
    assert status == 200
    # The same requestid again, even with more items: the first answer, nothing written.
    more = [*items, {"bId": "2", "operation": "create", "Customer": {"DisplayName": "C"}}]
    status, again = api.post("batch", {"BatchItemRequest": more}, requestid=rid)
    assert status == 200
    assert again["BatchItemResponse"] == first["BatchItemResponse"]
    assert sorted(c["DisplayName"] for c in sandbox.company(REALM).all("Customer")) == [
        "Replay A",
        "Replay B",
    ]
    status, body = api.post("batch", {"BatchItemRequest": items}, requestid=rid + "x")
    assert (status, code(body)) == (400, "2020")  # 37 characters
    long_bid = [{"bId": "b" * 11, "Customer": {"DisplayName": "Long"}}]
    status, body = api.post("batch", {"BatchItemRequest": long_bid}, requestid="r-long")
    assert (status, code(body)) == (400, "2020")  # a bId over 10 with a requestid


def test_a_batch_item_does_not_see_what_an_earlier_item_created(api: Api) -> None:
    _status, made = api.post("customer", {"DisplayName": "Parent"})
    parent = made["Customer"]["Id"]
    # Ids are one counter: the next record created gets the next number.
    upcoming = str(int(parent) + 1)

    def job(name: str, parent_id: str) -> dict[str, Any]:
        return {"DisplayName": name, "Job": True, "ParentRef": {"value": parent_id}}

    status, body = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "p", "operation": "create", "Customer": {"DisplayName": "Parent 2"}},
                {"bId": "seen", "operation": "create", "Customer": job("Child", parent)},
                {"bId": "unseen", "operation": "create", "Customer": job("Orphan", upcoming)},
            ]
        },
    )
    assert status == 200
    answers = {a["bId"]: a for a in body["BatchItemResponse"]}
    assert answers["p"]["Customer"]["Id"] == upcoming
    # A parent from an earlier request is seen; one created in the same batch is not
    # (Intuit: items do not see what earlier items of the same payload created).
    assert answers["seen"]["Customer"]["ParentRef"]["value"] == parent
    assert answers["unseen"]["Fault"]["Error"][0]["code"] == "2500"
    # Afterwards it is an ordinary record.
    status, body = api.post("customer", job("Later", upcoming))
    assert status == 200


def test_cdc_returns_changes_and_deletions_since(api: Api) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    _, customer = api.post("customer", {"DisplayName": "Changed"})
    _, invoice = api.post(
        "invoice",
        {
            "CustomerRef": {"value": customer["Customer"]["Id"]},
            "Line": [{"Amount": 5, "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}],
        },
    )
    api.post("invoice", {"Id": invoice["Invoice"]["Id"], "SyncToken": "0"}, operation="delete")
    status, body = api.get("cdc", entities="Customer,Invoice", changedSince=before.isoformat())
    assert status == 200
    groups = body["CDCResponse"][0]["QueryResponse"]
    assert [c["DisplayName"] for c in groups[0]["Customer"]] == ["Changed"]
    assert groups[1]["Invoice"] == [
        {
            "Id": invoice["Invoice"]["Id"],
            "status": "Deleted",
            "MetaData": groups[1]["Invoice"][0]["MetaData"],
        }
    ]
    status, body = api.get(
        "cdc",
        entities="Customer",
        changedSince=(datetime.now(UTC) - timedelta(days=31)).isoformat(),
    )
    assert status == 400


def test_rate_limit_answers_429_with_retry_after() -> None:
    sandbox = QboSandbox(per_minute=5)
    sandbox.add_company(REALM)
    with sandbox.serve() as url:
        api = Api(url, str(sandbox.tokens_for(REALM)["access_token"]))
        statuses = [api.get("customer/1")[0] for _ in range(5)]
        answer = api.http.get(f"{api.base}/query", params={"query": "select * from Item"})
    assert statuses == [400] * 5  # 610: answered, and counted
    assert answer.status_code == 429
    assert answer.json()["Fault"]["Error"][0]["code"] == "3001"
    assert 1 <= int(answer.headers["Retry-After"]) <= 60


def test_more_than_ten_at_once_are_throttled(sandbox: QboSandbox) -> None:
    sandbox.inject(REALM, Fault("slow", times=12, delay_s=3.0))
    with sandbox.serve(threads=16) as url:
        token = str(sandbox.tokens_for(REALM)["access_token"])
        statuses: list[int] = []
        barrier = threading.Barrier(12)

        def create(n: int) -> None:
            api = Api(url, token)
            barrier.wait()
            statuses.append(api.post("customer", {"DisplayName": f"Parallel {n}"})[0])

        threads = [threading.Thread(target=create, args=(n,)) for n in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert sorted(statuses) == [200] * 10 + [429] * 2
    assert sandbox.peak_concurrency[REALM] == 10


def test_expired_and_foreign_tokens(sandbox: QboSandbox, api: Api) -> None:
    sandbox.add_company("other-realm")
    foreign = str(sandbox.tokens_for("other-realm")["access_token"])
    answer = httpx2.get(
        f"{api.base}/customer/1", headers={"Authorization": f"Bearer {foreign}"}, timeout=10
    )
    assert answer.status_code == 403
    sandbox.inject(REALM, Fault("expired_token", writes_only=False))
    status, body = api.get("customer/1")
    assert status == 401
    assert body["fault"]["error"][0]["code"] == "3200"
    assert api.get("customer/1")[0] == 401  # it stays expired: a refresh is needed


def test_webhooks_are_signed_and_become_hints(sandbox: QboSandbox) -> None:
    verifier = SecretStr("verifier-token")
    hints: list[DataChange] = []
    server = GatewayServer(webhook_app(verifier, hints.extend), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.port}/qbo/webhooks"
        sandbox.webhook_url = endpoint
        sandbox.webhook_verifier = verifier
        with sandbox.serve() as url:
            api = Api(url, str(sandbox.tokens_for(REALM)["access_token"]))
            _, created = api.post("customer", {"DisplayName": "Hooked"})
            until(lambda: hints, what="the webhook", timeout=10)
        assert [(c.realm_id, c.entity, c.entity_id, c.operation) for c in hints] == [
            (REALM, "Customer", created["Customer"]["Id"], "Create")
        ]
        # Signed with another verifier (or changed on the way): refused, no hint.
        body = json.dumps({"eventNotifications": []}).encode()
        forged = httpx2.post(
            endpoint,
            content=body,
            headers={"intuit-signature": sign(body, SecretStr("other"))},
            timeout=10,
        )
        assert forged.status_code == 401
        assert len(hints) == 1
    finally:
        server.stop()
        thread.join(10)


@pytest.mark.parametrize(
    ("kind", "status", "fault_code", "applied"),
    [
        ("duplicate_name", 400, "6240", False),
        ("closed_books", 400, "6210", False),
        ("server_error", 500, "10000", False),
        ("throttle", 429, "3001", False),
    ],
)
def test_injected_faults_answer_like_intuit(
    sandbox: QboSandbox, api: Api, kind: Any, status: int, fault_code: str, applied: bool
) -> None:
    sandbox.inject(REALM, Fault(kind, entity="Customer"))
    answer_status, body = api.post("customer", {"DisplayName": "Faulty"})
    assert (answer_status, code(body)) == (status, fault_code)
    assert bool(sandbox.company(REALM).all("Customer")) is applied
    # Once only: the next request is served.
    assert api.post("customer", {"DisplayName": "Faulty"})[0] == 200


def test_unavailable_says_when_to_come_back(sandbox: QboSandbox, api: Api) -> None:
    sandbox.inject(REALM, Fault("unavailable", retry_after_s=4))
    answer = api.http.post(f"{api.base}/customer", json={"DisplayName": "Later"})
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "4"
    assert sandbox.company(REALM).all("Customer") == []


def test_stale_object_fault_is_someone_else_editing_first(sandbox: QboSandbox, api: Api) -> None:
    _, created = api.post("customer", {"DisplayName": "Contested"})
    sandbox.inject(REALM, Fault("stale_object", entity="Customer"))
    status, body = api.post(
        "customer", {"Id": created["Customer"]["Id"], "SyncToken": "0", "sparse": True}
    )
    assert (status, code(body)) == (400, "5010")
    assert sandbox.company(REALM).all("Customer")[0]["SyncToken"] == "1"


def test_sub_customers_account_types_purchases_and_removed_records(
    api: Api, sandbox: QboSandbox
) -> None:
    _s, client = api.post("customer", {"DisplayName": "Hopper, Grace"})
    parent = client["Customer"]["Id"]
    status, body = api.post(
        "customer", {"DisplayName": "Kitchen", "Job": True, "ParentRef": {"value": "999"}}
    )
    assert (status, code(body), body["Fault"]["Error"][0]["element"]) == (400, "2500", "ParentRef")
    status, body = api.post(
        "customer", {"DisplayName": "Kitchen", "Job": True, "ParentRef": {"value": parent}}
    )
    assert status == 200
    assert body["Customer"]["FullyQualifiedName"] == "Hopper, Grace:Kitchen"
    assert body["Customer"]["Job"] is True
    # Accounts: AccountType and AccountSubType are Intuit's enumerations (2170).
    status, body = api.post("account", {"Name": "Odd", "AccountType": "Expenses"})
    assert (status, code(body), body["Fault"]["Error"][0]["element"]) == (
        400,
        "2170",
        "AccountType",
    )
    status, body = api.post(
        "account", {"Name": "Odd", "AccountType": "Expense", "AccountSubType": "Checking"}
    )
    assert (status, code(body), body["Fault"]["Error"][0]["element"]) == (
        400,
        "2170",
        "AccountSubType",
    )
    assert "SuppliesMaterials" in body["Fault"]["Error"][0]["Detail"]
    status, bank = api.post(
        "account", {"Name": "Checking", "AccountType": "Bank", "AccountSubType": "Checking"}
    )
    assert status == 200
    # A purchase: how it was paid, from which account.
    line = {"Amount": 20, "DetailType": "AccountBasedExpenseLineDetail"}
    paid_from = {"value": bank["Account"]["Id"]}
    status, body = api.post(
        "purchase", {"PaymentType": "Barter", "AccountRef": paid_from, "Line": [line]}
    )
    assert (status, code(body)) == (400, "2170")
    status, body = api.post(
        "purchase", {"PaymentType": "Check", "AccountRef": paid_from, "Line": []}
    )
    assert (status, code(body)) == (400, "2020")
    line["AccountBasedExpenseLineDetail"] = {"AccountRef": paid_from}
    status, check = api.post(
        "purchase", {"PaymentType": "Check", "AccountRef": paid_from, "Line": [line]}
    )
    assert (status, check["Purchase"]["TotalAmt"]) == (200, 20.0)
    # Deleted (or merged) in QBO's screens: reads and updates answer 610.
    purchase_id = check["Purchase"]["Id"]
    sandbox.company(REALM).remove("Purchase", purchase_id)
    assert code(api.get(f"purchase/{purchase_id}")[1]) == "610"
    status, body = api.post("purchase", {**check["Purchase"], "PrivateNote": "again"})
    assert (status, code(body)) == (400, "610")
