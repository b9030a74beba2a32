"""QBO records read back (CDC) in the shape the Desktop gateway's imports have, so the
worker's ``reconcile`` agent treats both alike: the same ``Imported`` record on
``<prefix>.imports`` (``qb_id`` = ``Id``, ``edit_sequence`` = ``SyncToken``,
``time_modified`` = ``MetaData.LastUpdatedTime`` in UTC, QuickBooks' time), and
``record_json`` holding the qbXML element's fields (``Name``, ``FirstName``,
``BillAddress/Addr1`` ...) that ``streams.two_way.from_quickbooks`` reads.

Rules as data: per QBO entity, the qbXML element it becomes and, per qbXML field, where the
value is in QBO's JSON. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.qbo._project_names import unqualified

__all__ = ["READABLE", "ImportedShape", "as_imported", "deleted_as", "is_list"]

Json = Mapping[str, Any]
Get = Callable[[Json], Any]


def _at(record: Json, path: str) -> Any:
    value: Any = record
    for part in path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def text(path: str) -> Get:
    """qbXML is text: numbers and flags become strings, as the Desktop import has them."""

    def get(record: Json) -> str | None:
        value = _at(record, path)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    return get


def ref(path: str) -> Get:
    """``{"value": id, "name": n}`` -> ``{"ListID": id, "FullName": n}``."""

    def get(record: Json) -> dict[str, Any] | None:
        found = _at(record, path)
        if not isinstance(found, Mapping) or not found.get("value"):
            return None
        return {"ListID": str(found["value"]), "FullName": found.get("name")}

    return get


def address(path: str) -> Get:
    def get(record: Json) -> dict[str, Any] | None:
        found = _at(record, path)
        if not isinstance(found, Mapping):
            return None
        return {
            "Addr1": found.get("Line1"),
            "Addr2": found.get("Line2"),
            "City": found.get("City"),
            "State": found.get("CountrySubDivisionCode"),
            "PostalCode": found.get("PostalCode"),
            "Country": found.get("Country"),
        }

    return get


def _decimal(value: Any) -> Decimal | None:
    try:
        return None if value is None else Decimal(str(value))
    except InvalidOperation:
        return None


def _subtotal(record: Json) -> str | None:
    total, tax = _decimal(record.get("TotalAmt")), _decimal(_at(record, "TxnTaxDetail/TotalTax"))
    return None if total is None else str(total - (tax or Decimal(0)))


def _applied(record: Json) -> str | None:
    """qbXML's AppliedAmount is negative: what payments and credits took off the total."""
    total, balance = _decimal(record.get("TotalAmt")), _decimal(record.get("Balance"))
    return None if total is None or balance is None else str(balance - total)


def _customer_names(record: Json) -> tuple[str | None, str | None]:
    """``(Name, FullName)``: a project qbsync named ``"<name> (<client>)"`` (QBO's display
    names are unique across customers, vendors, employees and projects) is the app's
    ``<name>`` (``_project_names``)."""
    name, full = text("DisplayName")(record), text("FullyQualifiedName")(record)
    if record.get("Job") and name and full:
        return unqualified(name, full)
    return name, full


def _job_parent(record: Json) -> dict[str, Any] | None:
    """A sub-customer (``Job: true``) is a job of its parent, as in Desktop."""
    return ref("ParentRef")(record) if record.get("Job") else None


def _payment_lines(record: Json) -> list[dict[str, Any]]:
    """Each line of a Payment, per invoice it pays: qbXML's ``AppliedToTxnRet``."""
    applied = []
    for line in record.get("Line") or []:
        if not isinstance(line, Mapping):
            continue
        for linked in line.get("LinkedTxn") or []:
            if isinstance(linked, Mapping) and linked.get("TxnType") == "Invoice":
                applied.append({"TxnID": str(linked.get("TxnId")), "Amount": text("Amount")(line)})
    return applied


def _estimate_lines(record: Json) -> list[dict[str, Any]]:
    """An estimate's item lines as qbXML's ``EstimateLineRet`` (subtotals and the like are
    not lines of the app's estimate)."""
    return [
        {
            "TxnLineID": text("Id")(line),
            "ItemRef": ref("SalesItemLineDetail/ItemRef")(line),
            "Desc": text("Description")(line),
            "Quantity": text("SalesItemLineDetail/Qty")(line),
            "Rate": text("SalesItemLineDetail/UnitPrice")(line),
            "Amount": text("Amount")(line),
        }
        for line in record.get("Line") or []
        if isinstance(line, Mapping) and line.get("DetailType") == "SalesItemLineDetail"
    ]


def _job_costing(detail: Json) -> dict[str, Any]:
    return {
        "CustomerRef": ref("CustomerRef")(detail),
        "ClassRef": ref("ClassRef")(detail),
        "BillableStatus": text("BillableStatus")(detail),
    }


def _cost_lines(detail_type: str, fields: Mapping[str, tuple[str, Get]]) -> Get:
    """A bill's or purchase's lines of one detail type as qbXML lines; each field is read
    from the ``line`` or from its ``detail``, plus the job costing every cost line has."""

    def get(record: Json) -> list[dict[str, Any]]:
        found = []
        for line in record.get("Line") or []:
            detail = line.get(detail_type) if isinstance(line, Mapping) else None
            if not isinstance(detail, Mapping):
                continue
            values = {
                name: read(line if where == "line" else detail)
                for name, (where, read) in fields.items()
            }
            found.append(
                {
                    "TxnLineID": text("Id")(line),
                    "Amount": text("Amount")(line),
                    **values,
                    **_job_costing(detail),
                }
            )
        return found

    return get


# Lines booked to accounts (qbXML's ``ExpenseLineRet``) and for items (``ItemLineRet``).
_EXPENSE_LINES = _cost_lines(
    "AccountBasedExpenseLineDetail",
    {"AccountRef": ("detail", ref("AccountRef")), "Memo": ("line", text("Description"))},
)
_ITEM_LINES = _cost_lines(
    "ItemBasedExpenseLineDetail",
    {
        "ItemRef": ("detail", ref("ItemRef")),
        "Desc": ("line", text("Description")),
        "Quantity": ("detail", text("Qty")),
        "Cost": ("detail", text("UnitPrice")),
    },
)


def _paid(record: Json) -> str | None:
    """qbXML's IsPaid: nothing left to pay (``Balance`` 0)."""
    balance = _decimal(record.get("Balance"))
    return None if balance is None else ("true" if balance == 0 else "false")


# A Purchase is Desktop's check or credit-card charge (by how it was paid; cash reads as a
# check, qbXML has no cash purchase).
_PURCHASE_ELEMENTS = {"Check": "Check", "Cash": "Check", "CreditCard": "CreditCardCharge"}


def _credit_number(record: Json) -> str | None:
    """A credit memo read back is a negative invoice numbered ``CM<ref>`` (the issue)."""
    number = text("DocNumber")(record)
    return None if number is None else f"CM{number}"


_PERSON = {
    "Name": text("DisplayName"),
    "FullName": text("FullyQualifiedName"),
    "CompanyName": text("CompanyName"),
    "FirstName": text("GivenName"),
    "LastName": text("FamilyName"),
    "Email": text("PrimaryEmailAddr/Address"),
    "Phone": text("PrimaryPhone/FreeFormNumber"),
    "IsActive": text("Active"),
}


@dataclass(frozen=True)
class ImportedShape:
    """A QBO entity as a qbXML element: its name (per record, an item's by its ``Type``),
    the Desktop import's entity name, and its fields."""

    element: Callable[[Json], str | None]
    entity: str
    fields: Mapping[str, Get]


_TRANSACTIONS = frozenset(
    {"Invoice", "Payment", "CreditMemo", "Estimate", "Purchase", "Bill", "TimeActivity"}
)


def _worker(record: Json) -> dict[str, Any] | None:
    """Who did the work: qbXML's ``EntityRef``, an employee or (a 1099 worker) a vendor."""
    found: dict[str, Any] | None = ref(
        "VendorRef" if record.get("NameOf") == "Vendor" else "EmployeeRef"
    )(record)
    return found


def _minutes(record: Json) -> int | None:
    """A TimeActivity's length in minutes: ``Hours`` and ``Minutes``, else ``EndTime`` minus
    ``StartTime`` minus ``BreakHours``/``BreakMinutes`` (QBO takes either form)."""
    hours, minutes = record.get("Hours"), record.get("Minutes")
    if isinstance(hours, int | float) or isinstance(minutes, int | float):
        return int(hours or 0) * 60 + int(minutes or 0)
    start, end = _moment(record.get("StartTime")), _moment(record.get("EndTime"))
    if start is None or end is None:
        return None
    pause = int(record.get("BreakHours") or 0) * 60 + int(record.get("BreakMinutes") or 0)
    return int((end - start).total_seconds() // 60) - pause


def _moment(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _duration(record: Json) -> str | None:
    """qbXML's ``Duration`` (``PT8H30M0S``), as the Desktop import has a time entry's."""
    minutes = _minutes(record)
    if minutes is None:
        return None
    sign, minutes = ("-", -minutes) if minutes < 0 else ("", minutes)
    return f"{sign}PT{minutes // 60}H{minutes % 60}M0S"


_ITEM_TYPES = {
    "Service": "ItemService",
    "Inventory": "ItemInventory",
    "NonInventory": "ItemNonInventory",
}

READABLE: Mapping[str, ImportedShape] = {
    "Customer": ImportedShape(
        lambda r: "Customer",
        "customer",
        {
            **_PERSON,
            "Name": lambda r: _customer_names(r)[0],
            "FullName": lambda r: _customer_names(r)[1],
            "BillAddress": address("BillAddr"),
            "ShipAddress": address("ShipAddr"),
            "ParentRef": _job_parent,
            "JobDesc": text("Notes"),
            "CurrencyRef": lambda r: (
                {"FullName": _at(r, "CurrencyRef/value")} if _at(r, "CurrencyRef/value") else None
            ),
        },
    ),
    "Vendor": ImportedShape(
        lambda r: "Vendor",
        "vendor",
        {
            **_PERSON,
            "VendorAddress": address("BillAddr"),
            "IsVendorEligibleFor1099": text("Vendor1099"),
        },
    ),
    "Employee": ImportedShape(
        lambda r: "Employee",
        "employee",
        {**_PERSON, "EmployeeAddress": address("PrimaryAddr")},
    ),
    "Item": ImportedShape(
        lambda r: _ITEM_TYPES.get(str(r.get("Type"))),
        "item",
        {
            "Name": text("Name"),
            "FullName": text("FullyQualifiedName"),
            "IsActive": text("Active"),
            "ParentRef": ref("ParentRef"),
            "SalesAndPurchase": lambda r: {
                "SalesDesc": text("Description")(r),
                "SalesPrice": text("UnitPrice")(r),
                "PurchaseDesc": text("PurchaseDesc")(r),
                "PurchaseCost": text("PurchaseCost")(r),
                "IncomeAccountRef": ref("IncomeAccountRef")(r),
                "ExpenseAccountRef": ref("ExpenseAccountRef")(r),
            },
            "AssetAccountRef": ref("AssetAccountRef"),
        },
    ),
    "Invoice": ImportedShape(
        lambda r: "Invoice",
        "invoice",
        {
            "RefNumber": text("DocNumber"),
            "CustomerRef": ref("CustomerRef"),
            "TxnDate": text("TxnDate"),
            "Subtotal": _subtotal,
            "SalesTaxTotal": text("TxnTaxDetail/TotalTax"),
            "AppliedAmount": _applied,
            "BalanceRemaining": text("Balance"),
            "Memo": text("PrivateNote"),
        },
    ),
    # Accounts and classes: kept in the store (``save_qb_records``) for matching (``qbsync
    # map``) and reference checks, as the Desktop import keeps them, and delivered to the
    # apps under direction.account / direction.class.
    "Account": ImportedShape(
        lambda r: "Account",
        "account",
        {
            "Name": text("Name"),
            "FullName": lambda r: text("FullyQualifiedName")(r) or text("Name")(r),
            "IsActive": text("Active"),
            "AccountType": text("AccountType"),
            "AccountSubType": text("AccountSubType"),
            "AccountNumber": text("AcctNum"),
            "Desc": text("Description"),
            "ParentRef": ref("ParentRef"),
        },
    ),
    "Class": ImportedShape(
        lambda r: "Class",
        "class",
        {
            "Name": text("Name"),
            "FullName": lambda r: text("FullyQualifiedName")(r) or text("Name")(r),
            "IsActive": text("Active"),
            "ParentRef": ref("ParentRef"),
        },
    ),
    # Estimates come from QBO only (the issue): read as qbXML's EstimateRet has them.
    "Estimate": ImportedShape(
        lambda r: "Estimate",
        "estimate",
        {
            "RefNumber": text("DocNumber"),
            "CustomerRef": ref("CustomerRef"),
            "TxnDate": text("TxnDate"),
            "ExpirationDate": text("ExpirationDate"),
            "Memo": text("PrivateNote"),
            "TxnStatus": text("TxnStatus"),
            "EstimateLineRet": _estimate_lines,
        },
    ),
    # Read as the qbXML CreditMemoRet has it (amounts positive); the worker's
    # ``streams.from_quickbooks`` shape makes it the negative invoice the apps receive.
    "CreditMemo": ImportedShape(
        lambda r: "CreditMemo",
        "credit_memo",
        {
            "RefNumber": _credit_number,
            "CustomerRef": ref("CustomerRef"),
            "TxnDate": text("TxnDate"),
            "Subtotal": _subtotal,
            "SalesTaxTotal": text("TxnTaxDetail/TotalTax"),
            "CreditRemaining": text("RemainingCredit"),
            "Memo": text("PrivateNote"),
        },
    ),
    # Vendor bills entered or changed in QBO: qbXML's BillRet (paid once nothing is owed).
    "Bill": ImportedShape(
        lambda r: "Bill",
        "bill",
        {
            "VendorRef": ref("VendorRef"),
            "RefNumber": text("DocNumber"),
            "TxnDate": text("TxnDate"),
            "DueDate": text("DueDate"),
            "TermsRef": ref("SalesTermRef"),
            "Memo": text("PrivateNote"),
            "IsPaid": _paid,
            "ExpenseLineRet": _EXPENSE_LINES,
            "ItemLineRet": _ITEM_LINES,
        },
    ),
    # Expenses paid at once (checks, credit-card charges): read back only (the apps send
    # vendor bills); qbXML's CheckRet / CreditCardChargeRet fields.
    "Purchase": ImportedShape(
        lambda r: _PURCHASE_ELEMENTS.get(str(r.get("PaymentType"))),
        "purchase",
        {
            "PaymentType": text("PaymentType"),
            "AccountRef": ref("AccountRef"),
            "PayeeEntityRef": ref("EntityRef"),
            "RefNumber": text("DocNumber"),
            "TxnDate": text("TxnDate"),
            "Amount": text("TotalAmt"),
            "Memo": text("PrivateNote"),
            "ExpenseLineRet": _EXPENSE_LINES,
            "ItemLineRet": _ITEM_LINES,
        },
    ),
    # Time entered in QBO (Get of the time entries module): qbXML's TimeTrackingRet. CDC has
    # no TimeActivity; the reader asks the query language since the watermark instead.
    "TimeActivity": ImportedShape(
        lambda r: "TimeTracking",
        "time_tracking",
        {
            "TxnDate": text("TxnDate"),
            "EntityRef": _worker,
            "CustomerRef": ref("CustomerRef"),
            "ItemServiceRef": ref("ItemRef"),
            "ClassRef": ref("ClassRef"),
            "Duration": _duration,
            "Notes": text("Description"),
            "BillableStatus": text("BillableStatus"),
        },
    ),
    "Payment": ImportedShape(
        lambda r: "ReceivePayment",
        "receive_payment",
        {
            "CustomerRef": ref("CustomerRef"),
            "TxnDate": text("TxnDate"),
            "TotalAmount": text("TotalAmt"),
            "RefNumber": text("PaymentRefNum"),
            "DepositToAccountRef": ref("DepositToAccountRef"),
            "PaymentMethodRef": ref("PaymentMethodRef"),
            "Memo": text("PrivateNote"),
            "AppliedToTxnRet": _payment_lines,
        },
    ),
}


def as_imported(entity: str, record: Json) -> tuple[str, str, dict[str, Any]] | None:
    """``(import entity, qbXML element, fields)`` of a QBO record; None for an entity or an
    item type qbsync does not read back. The element's id goes under ``ListID`` (lists) or
    ``TxnID`` (transactions), as the worker resolves references by them."""
    shape = READABLE.get(entity)
    if shape is None:
        return None
    element = shape.element(record)
    if element is None:
        return None
    fields = {name: value for name, get in shape.fields.items() if (value := get(record))}
    key = "TxnID" if entity in _TRANSACTIONS else "ListID"
    fields[key] = str(record.get("Id", ""))
    fields["EditSequence"] = text("SyncToken")(record)
    return shape.entity, element, fields


def is_list(entity: str) -> bool:
    """A list entity (customers, items, accounts ...): made inactive, never deleted, and a
    query answers its inactive records only when asked (``Active in (true, false)``)."""
    return entity not in _TRANSACTIONS


def deleted_as(entity: str) -> tuple[str, str] | None:
    """``(import entity, qbXML element)`` of a transaction CDC says was deleted (a row with
    only its ``Id`` and ``"status": "Deleted"``); None for lists (QBO makes them inactive,
    never deletes them: such a row is a merge, which qbsync does not follow) and entities
    not read back. A deleted ``Purchase`` carries no ``PaymentType``: it is named a
    ``Check``, whose app entity (the expense) is a credit-card charge's too."""
    shape = READABLE.get(entity)
    if shape is None or entity not in _TRANSACTIONS:
        return None
    element = shape.element({}) or shape.element({"PaymentType": "Check"})
    return None if element is None else (shape.entity, element)
