"""Build ``*QueryRq`` elements: by id, by name or RefNumber, or filtered and paged.

A query is built by the same table-driven path as an Add (``_build.render``); this module
only turns the common questions into elements, and enforces what the schema cannot:

- an iterator pages a filtered query: ``iterator="Start"`` with ``MaxReturned``, then
  ``"Continue"`` with the ``iteratorID`` QuickBooks returned (the schema accepts a Continue
  without one; QuickBooks does not); only the queries whose schema has the attribute can
  iterate;
- ``MaxReturned`` defaults to :data:`PAGE_SIZE` (150) on filtered queries, so one answer
  stays well under a megabyte and QuickBooks, which serves one request at a time, is not
  held for long;
- modification dates go where each query wants them: directly for lists
  (``FromModifiedDate``), inside ``ModifiedDateRangeFilter`` for transactions.

An iterator lives only as long as the QuickBooks session: never resume one in a later Web
Connector run; keep a ``modified_from`` watermark instead (rewound a little: QuickBooks
stamps TimeModified from the workstation's clock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Literal

from connectors.qbxml._build import entity, render
from connectors.qbxml._errors import FieldError
from connectors.qbxml._values import clean_text, escape

__all__ = ["DELETABLE", "PAGE_SIZE", "Iterator", "build_deleted_query", "build_query"]

PAGE_SIZE = 150

Iterator = Literal["Start", "Continue", "Stop"]

# ``TxnDelType`` (qbXML 13.0 and 16.0 alike): the transactions QuickBooks keeps a deletion
# log of, which ``TxnDeletedQueryRq`` reads.
DELETABLE = frozenset(
    {
        "ARRefundCreditCard", "Bill", "BillPaymentCheck", "BillPaymentCreditCard",
        "BuildAssembly", "Charge", "Check", "CreditCardCharge", "CreditCardCredit",
        "CreditMemo", "Deposit", "Estimate", "InventoryAdjustment", "Invoice", "ItemReceipt",
        "JournalEntry", "PurchaseOrder", "ReceivePayment", "SalesOrder", "SalesReceipt",
        "SalesTaxPaymentCheck", "TimeTracking", "TransferInventory", "VehicleMileage",
        "VendorCredit",
    }
)  # fmt: skip


def build_query(
    entity_name: str,
    values: Mapping[str, Any] | None = None,
    *,
    ids: Sequence[str] = (),
    names: Sequence[str] = (),
    ref_numbers: Sequence[str] = (),
    modified_from: datetime | date | None = None,
    modified_to: datetime | date | None = None,
    active: Literal["ActiveOnly", "InactiveOnly", "All"] | None = None,
    max_returned: int | None = PAGE_SIZE,
    iterator: Iterator | None = None,
    iterator_id: str | None = None,
    version: str | None = None,
) -> str:
    """Return e.g. ``<CustomerQueryRq iterator="Start"><MaxReturned>150</MaxReturned>...``.

    ``ids`` are ListIDs (lists) or TxnIDs (transactions); ``names`` are exact FullNames
    (lists only: ``"Customer:Job"`` for a job); ``ref_numbers`` are RefNumbers
    (transactions only). Without any of those, the query is a filter: ``modified_from`` /
    ``modified_to``, ``active`` (lists) and ``values`` (any other element of the query, by
    name, e.g. ``{"IncludeLineItems": True}`` or ``{"AccountType": ["Bank"]}``), paged by
    ``max_returned`` and ``iterator``.
    """
    spec = entity(entity_name)
    if "Query" not in spec.actions:
        raise FieldError(f"{spec.name}: qbsync does not query {entity_name} records")
    request = spec.request("Query")
    fields = request.body.by_name
    query: dict[str, Any] = dict(values or {})
    lookup = False
    for given, element in ((ids, spec.id_element), (names, "FullName"), (ref_numbers, "RefNumber")):
        if not given:
            continue
        if isinstance(given, str):
            raise FieldError(f"{request.rq}/{element}: pass a list of values, not one string")
        if element not in fields:
            what = "by name" if element == "FullName" else f"by {element}"
            raise FieldError(f"{request.rq}: {entity_name} records cannot be looked up {what}")
        query[element] = list(given)
        lookup = True
    lookup = lookup or any(
        query.get(name) is not None
        for name in (spec.id_element, "FullName", "RefNumber", "RefNumberCaseSensitive")
    )
    if modified_from is not None or modified_to is not None:
        dates = {"FromModifiedDate": modified_from, "ToModifiedDate": modified_to}
        if "ModifiedDateRangeFilter" in fields:
            query["ModifiedDateRangeFilter"] = dates
        else:
            query.update(dates)
    if active is not None:
        query["ActiveStatus"] = active
    if not lookup and max_returned is not None and query.get("MaxReturned") is None:
        if isinstance(max_returned, bool) or not isinstance(max_returned, int) or max_returned < 1:
            raise FieldError(f"{request.rq}/MaxReturned: {max_returned!r} is not a positive count")
        query["MaxReturned"] = max_returned
    return render(
        request,
        query,
        version=version,
        attributes=_iterator(request.rq, request.iterator, lookup, iterator, iterator_id),
    ).xml


def _iterator(
    rq: str, supported: bool, lookup: bool, iterator: Iterator | None, iterator_id: str | None
) -> str:
    if iterator is None:
        if iterator_id is not None:
            raise FieldError(f"{rq}: an iteratorID without iterator='Continue' means nothing")
        return ""
    if not supported:
        raise FieldError(f"{rq}: QuickBooks cannot page this query with an iterator")
    if lookup:
        raise FieldError(f"{rq}: an iterator pages a filtered query, not a lookup by id or name")
    if iterator not in ("Start", "Continue", "Stop"):
        raise FieldError(f"{rq}: iterator {iterator!r} is not Start, Continue or Stop")
    if iterator == "Start":
        if iterator_id is not None:
            raise FieldError(f"{rq}: iterator='Start' takes no iteratorID; QuickBooks assigns it")
        return ' iterator="Start"'
    if not iterator_id or not clean_text(iterator_id).strip():
        raise FieldError(
            f"{rq}: iterator={iterator!r} needs the iteratorID QuickBooks returned with the"
            " previous page"
        )
    return f' iterator="{iterator}" iteratorID="{escape(clean_text(iterator_id))}"'


def build_deleted_query(types: Sequence[str], deleted_from: datetime | None = None) -> str:
    """``<TxnDeletedQueryRq>``: the transactions of ``types`` (qbXML names, ``Invoice``)
    deleted since ``deleted_from``. It has no iterator and no ``MaxReturned``: QuickBooks
    answers every one at once (a deletion log is short next to the records)."""
    if isinstance(types, str) or not types:
        raise FieldError("TxnDeletedQueryRq/TxnDelType: pass a list of one or more types")
    unknown = [t for t in types if t not in DELETABLE]
    if unknown:
        raise FieldError(
            f"TxnDeletedQueryRq/TxnDelType: QuickBooks keeps no deletion log of {unknown[0]!r}"
        )
    body = "".join(f"<TxnDelType>{kind}</TxnDelType>" for kind in dict.fromkeys(types))
    if deleted_from is not None:
        if deleted_from.utcoffset() is None:
            raise FieldError(
                "TxnDeletedQueryRq/FromDeletedDate: give the time with its offset (without"
                " one QuickBooks reads the workstation's local time)"
            )
        moment = deleted_from.isoformat(timespec="seconds")
        body += (
            f"<DeletedDateRangeFilter><FromDeletedDate>{moment}</FromDeletedDate>"
            "</DeletedDateRangeFilter>"
        )
    return f"<TxnDeletedQueryRq>{body}</TxnDeletedQueryRq>"
