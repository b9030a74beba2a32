"""Build+serialize time of a 3-line InvoiceAdd: one JSON object on stdout.

    .venv/bin/python bench/qbxml.py [--rounds N] [--batch N]

The figure is the median, over ``rounds`` timed batches, of the time per request within a
batch (``batch`` requests back to back, the garbage collector left on as in production),
measured around :func:`connectors.qbxml.build_request`, which returns the finished text of
``<InvoiceAddRq>``: validation, ordering, formatting and escaping included; ``best_us`` is
the fastest batch. The invoice has a header of nine elements (references, dates, a memo
with a non-ASCII dash) and three lines, with ``&`` and ``<`` to escape. The same request
wrapped in a whole message (``build_message``, which re-reads it with the hardened parser
at the gateway) is reported beside it.

The other way: reading QuickBooks' answer to 25 ``CustomerAdd`` (each ``CustomerRet`` with
the 26 fields a real one has: an address, phones, balances), whole (every record as dicts:
what an import needs) and with ``records=False`` (the first record's identifiers only: what
settling a batch of writes needs), per message, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from connectors.qbxml import build_message, build_request, parse_response

INVOICE = {
    "CustomerRef": {"FullName": "Lovelace & Sons:Kitchen remodel"},
    "ClassRef": {"FullName": "Remodel"},
    "TxnDate": date(2024, 5, 1),
    "RefNumber": "INV-1001",
    "PONumber": "PO-77",
    "TermsRef": {"FullName": "Net 30"},
    "DueDate": date(2024, 5, 31),
    "Memo": "Progress billing \u2013 May",
    "IsToBePrinted": True,
    "InvoiceLineAdd": [
        {
            "ItemRef": {"FullName": "Labor"},
            "Desc": "Framing, second floor",
            "Quantity": Decimal("12"),
            "Rate": Decimal("85.00"),
            "Amount": Decimal("1020.00"),
            "ClassRef": {"FullName": "Remodel"},
        },
        {
            "ItemRef": {"FullName": "Materials"},
            "Desc": "Lumber <2x4> & nails",
            "Quantity": Decimal("40"),
            "Rate": Decimal("6.25"),
            "Amount": Decimal("250.00"),
        },
        {
            "ItemRef": {"FullName": "Permit"},
            "Desc": "City permit",
            "Amount": Decimal("150.00"),
            "SalesTaxCodeRef": {"FullName": "Non"},
        },
    ],
}


_CUSTOMER_RET = (
    "<CustomerRet><ListID>{n:X}0000-1700000000</ListID>"
    "<TimeCreated>2026-03-02T09:15:00-05:00</TimeCreated>"
    "<TimeModified>2026-03-02T09:15:00-05:00</TimeModified>"
    "<EditSequence>1700000000</EditSequence><Name>Customer {n}</Name>"
    "<FullName>Customer {n}</FullName><IsActive>true</IsActive><Sublevel>0</Sublevel>"
    "<CompanyName>Harbour Tiling &amp; Stone {n}</CompanyName><FirstName>Mara</FirstName>"
    "<LastName>Okafor</LastName><BillAddress><Addr1>Harbour Tiling</Addr1>"
    "<Addr2>Unit {n}</Addr2><Addr3>40 Quay Street</Addr3><City>Portsmouth</City>"
    "<State>NH</State><PostalCode>03801</PostalCode><Country>USA</Country></BillAddress>"
    "<Phone>603-555-0100</Phone><AltPhone>603-555-0101</AltPhone><Fax>603-555-0102</Fax>"
    "<Email>office{n}@example.com</Email><Contact>Mara Okafor</Contact>"
    "<Balance>0.00</Balance><TotalBalance>0.00</TotalBalance><JobStatus>None</JobStatus>"
    "</CustomerRet>"
)


def _answer(count: int) -> str:
    """QuickBooks' answer to ``count`` CustomerAdd requests, all done."""
    parts = "".join(
        f'<CustomerAddRs requestID="{n}" statusCode="0" statusSeverity="Info"'
        f' statusMessage="Status OK">{_CUSTOMER_RET.format(n=n)}</CustomerAddRs>'
        for n in range(1, count + 1)
    )
    return f'<?xml version="1.0" ?><QBXML><QBXMLMsgsRs>{parts}</QBXMLMsgsRs></QBXML>'


def _timings_us(work: Callable[[], object], rounds: int, batch: int) -> tuple[float, float]:
    """(median, best) of the per-request time over ``rounds`` batches, in microseconds.

    The best batch shows what the code costs on an idle core; the median, what it costs
    on this machine as it is (other processes included).
    """
    for _ in range(batch):
        work()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        for _ in range(batch):
            work()
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return round(statistics.median(samples), 2), round(min(samples), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()

    def request() -> str:
        return build_request("invoice", "Add", INVOICE)

    def message() -> str:
        return build_message([("1", build_request("invoice", "Add", INVOICE))], version="13.0")

    median, best = _timings_us(request, args.rounds, args.batch)
    answer = _answer(25)
    reads = max(args.rounds // 10, 3)
    whole_us, _ = _timings_us(lambda: parse_response(answer), reads, args.batch)
    ids_us, _ = _timings_us(lambda: parse_response(answer, records=False), reads, args.batch)
    message_median, _ = _timings_us(message, max(args.rounds // 3, 3), args.batch)
    result = {
        "benchmark": "qbxml.invoice_add_3_lines",
        "median_us": median,
        "best_us": best,
        "target_us": 30,
        "message_median_us": message_median,
        "request_bytes": len(request().encode()),
        "answer_25_bytes": len(answer.encode()),
        "answer_25_whole_us": whole_us,
        "answer_25_ids_us": ids_us,
        "answer_ids_to_whole": round(ids_us / whole_us, 3),
        "rounds": args.rounds,
        "batch": args.batch,
        "cpu_count": os.cpu_count(),
        "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
