"""An answer the gateway cannot read is an unknown outcome: QuickBooks may have applied the
batch. It is recovered like a crash between send and receive (looked up, re-sent only when
missing), never settled as failures; getLastError says what happened."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from connectors.qbxml import build_message, build_request, parse_response
from connectors.sandbox import CompanyFile, HttpTransport, SandboxWebConnector, find_reference
from tests.support.gateway import Served, enqueue_requests, results
from tests.support.waiting import until

pytestmark = pytest.mark.integration

GARBLERS: dict[str, Callable[[str], str]] = {
    "truncated": lambda response: response[: len(response) // 2],
    "garbage": lambda _response: "%%% this is not qbXML <<<",
    "empty": lambda _response: "",
    "other-document": lambda _response: "<QBXML><QBXMLMsgsRs/></QBXML>",
}


@pytest.mark.parametrize("garble", sorted(GARBLERS))
def test_an_unreadable_answer_is_recovered_and_every_record_exists_once(
    served: Served, tmp_path: Path, garble: str
) -> None:
    company = CompanyFile(tmp_path / "company.db", validate_with=find_reference())
    existing = build_request("customer", "Add", {"Name": "Existing"})
    (added,) = parse_response(company.process(build_message([("0", existing)], version="13.0"))[0])
    invoice = build_request(
        "invoice",
        "Add",
        {
            "CustomerRef": {"FullName": "Existing"},
            "RefNumber": "INV-7",
            "InvoiceLineAdd": [{"Desc": "Service call", "Amount": Decimal("80.00")}],
        },
    )
    enqueue_requests(
        served,
        [
            ("Ada", "ADD", build_request("customer", "Add", {"Name": "Ada"})),
            ("Grace", "ADD", build_request("customer", "Add", {"Name": "Grace"})),
            (
                "existing",
                "MOD",
                build_request(
                    "customer",
                    "Mod",
                    {"Name": "Existing", "Phone": "555-0100"},
                    qb_id=added.qb_id,
                    edit_sequence=added.edit_sequence,
                ),
            ),
        ],
    )
    enqueue_requests(served, [("INV-7", "ADD", invoice)], entity="invoice")

    applied = company.process
    garbled: list[int] = []

    def apply_then_garble(request: str) -> tuple[str, str, str]:
        response, hresult, message = applied(request)
        if not garbled:  # QuickBooks applied the batch; the answer arrives unreadable
            garbled.append(1)
            return GARBLERS[garble](response), hresult, message
        return response, hresult, message

    company.process = apply_then_garble  # type: ignore[method-assign]
    wc = SandboxWebConnector(
        HttpTransport(served.url + "/qbwc"),
        username=served.profile.profile.username,
        password=served.profile.password,
        company=company,
    )
    first = wc.run_once()
    assert garbled
    assert first.last_progress < 0  # the Web Connector asks getLastError ...
    assert first.errors, first
    assert "could not be read" in first.errors[-1]  # ... which says what happened
    assert "Nothing was settled" in first.errors[-1]
    until(
        lambda: wc.run_once().authenticate == "none",
        timeout=60,
        what="the queue to drain after the unreadable answer",
    )
    wc.close()

    names = sorted(c["FullName"] for c in company.customers())
    assert names == ["Ada", "Existing", "Grace"]
    assert company.duplicate_names() == 0
    assert [r["RefNumber"] for r in company.records("Invoice")] == ["INV-7"]
    found = results(served, 4)
    by_entity: dict[str, list[dict[str, object]]] = {}
    for result in found:
        by_entity.setdefault(str(result["entity_id"]), []).append(result)
    assert set(by_entity) == {"Ada", "Grace", "existing", "INV-7"}
    for copies in by_entity.values():
        assert len(copies) == 1  # settled once, after recovery
        assert copies[0]["status_code"] == 0, copies[0]  # nothing for the dead-letter topic
    in_quickbooks = {c["FullName"]: c for c in company.customers()}
    assert by_entity["Ada"][0]["qb_id"] == in_quickbooks["Ada"]["ListID"]
    assert by_entity["existing"][0]["edit_sequence"] == in_quickbooks["Existing"]["EditSequence"]
    company.close()
