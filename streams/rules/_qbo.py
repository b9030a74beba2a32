"""QuickBooks Online shapes: the second column of an entity's rule (``EntityRule.qbo``).

The same payload, settings and references (:class:`Refs`: dependencies, waiting) as the
qbXML column; only the values differ, in the JSON form Intuit's v3 API takes (``Id`` and
``SyncToken`` are added for changes, which are sparse updates: only the fields sent change).
Pure: no I/O, no clock. Customers and invoices for now (issue 19's first slice).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.store import Mapping as IdMapping
from streams.rules._base import CUSTOMER_OR_JOB, Refs, customer_name
from streams.tenant_settings import TenantSettings

__all__ = ["QboShape", "customer", "invoice"]


@dataclass(frozen=True)
class QboShape:
    """``entity``: QBO's name for it; ``values``: the payload as QBO's JSON (create form);
    ``is_list``: lists are made inactive, transactions voided (QBO deletes neither kind when
    the app deactivates a record)."""

    entity: str
    values: Callable[[Mapping[str, Any], TenantSettings, Refs], dict[str, Any]]
    is_list: bool = True

    def request(
        self, values: Mapping[str, Any], mapping: IdMapping | None, *, deactivate: bool = False
    ) -> QboEntityRequest:
        """Create when not mapped yet; else a sparse update with the stored SyncToken; a
        deactivated transaction is voided."""
        if mapping is None:
            return QboEntityRequest(QboOperation.CREATE, self.entity, _clean(values))
        token = {"Id": mapping.qb_id, "SyncToken": mapping.edit_sequence or "0"}
        if deactivate and not self.is_list:
            return QboEntityRequest(QboOperation.VOID, self.entity, token)
        return QboEntityRequest(QboOperation.SPARSE, self.entity, {**_clean(values), **token})


def _clean(value: Any) -> Any:
    """JSON values: None dropped, dates as ISO text, decimals as numbers."""
    if isinstance(value, Mapping):
        cleaned = {k: _clean(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in cleaned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ref(found: Mapping[str, str] | None) -> dict[str, str] | None:
    """A qbXML-style reference (``ListID`` or ``FullName``) in QBO's form."""
    if not found:
        return None
    if "ListID" in found:
        return {"value": found["ListID"]}
    return {"name": found["FullName"]}


def _address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "Line1": address.get("line1"),
        "Line2": address.get("line2"),
        "City": address.get("city"),
        "CountrySubDivisionCode": address.get("state"),
        "PostalCode": address.get("postal_code"),
        "Country": address.get("country"),
    }


def customer(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "DisplayName": customer_name(p, s),
        "Active": p.get("is_active", True),
        "CompanyName": p.get("company_name"),
        "GivenName": p.get("first_name"),
        "FamilyName": p.get("last_name"),
        "BillAddr": _address(p.get("bill_address")),
        "ShipAddr": _address(p.get("ship_address")),
        "PrimaryPhone": {"FreeFormNumber": p["phone"]} if p.get("phone") else None,
        "PrimaryEmailAddr": {"Address": p["email"]} if p.get("email") else None,
        "SalesTermRef": _ref(refs.ref(p.get("terms"), "terms")),
    }


def invoice(p: Mapping[str, Any], _s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "CustomerRef": _ref(refs.ref(p.get("customer"), *CUSTOMER_OR_JOB)),
        "TxnDate": p.get("txn_date"),
        "DocNumber": p.get("ref_number"),
        "DueDate": p.get("due_date"),
        "PrivateNote": p.get("memo"),
        "ShipAddr": _address(p.get("ship_address")),
        "SalesTermRef": _ref(refs.ref(p.get("terms"), "terms")),
        "Line": [
            {
                "Amount": line.get("amount"),
                "Description": line.get("description"),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {
                    "ItemRef": _ref(refs.ref(line.get("item"), "item")),
                    "Qty": line.get("quantity"),
                    "UnitPrice": line.get("rate"),
                },
            }
            for line in p.get("lines") or []
        ],
    }
