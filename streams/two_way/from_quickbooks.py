"""QuickBooks records in the apps' shapes: the payload of a :class:`QuickBooksChange`.

One table (:data:`SHAPES`) says, for each returned element, which app entity it becomes and
where each of the app's fields comes from; :func:`app_record` walks it. Pure: ``resolve``
(a QuickBooks id to the app's id, for references) is passed in.

Structural mappings:

- a QuickBooks customer with a ``ParentRef`` (a customer job, or a sub-customer) is the
  app's **job** (project), its parent the job's ``parent_customer``;
- a top-level customer's ship-to addresses are the app's **service locations**
  (``ship_to_locations``), ``DefaultShipTo`` marking the default one.

**Placeholders.** Where the app's record requires a field that QuickBooks may leave empty,
the field gets the placeholder listed in :data:`PLACEHOLDERS` and its name is reported in the
change's ``placeholders``, so the app can tell a placeholder from a real value. The table is
also the documentation (``docs/two-way.md`` prints it).

:data:`IMPORTED_AS` and :func:`imports_for` read the other way: an app's name for what it
wants read back (``import.sync_requested``) as the gateway's qbXML entity.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, Literal

from core.contracts import load_schemas
from core.errors import QbsyncError

__all__ = [
    "FROM_QUICKBOOKS",
    "IMPORTED_AS",
    "IMPORT_SETTINGS",
    "PLACEHOLDERS",
    "QBO_PLACEHOLDERS",
    "SHAPES",
    "AppRecord",
    "Follows",
    "Shape",
    "app_records",
]

Fields = Mapping[str, Any]
Resolve = Callable[[str, str | None], str | None]  # (app entity, QuickBooks id) -> app id
Getter = Callable[[Fields, Resolve], Any]
Follows = Literal["direction", "mapped", "our_invoices"]


@dataclass(frozen=True)
class AppRecord:
    """The app entity, its payload, and the fields filled with placeholders."""

    entity: str
    payload: dict[str, Any]
    placeholders: tuple[str, ...]
    is_active: bool
    follows: Follows = "direction"
    # Whether the record names one of ours (a payment applied to an invoice qbsync synced).
    refers_to_ours: bool = False


def _at(fields: Fields, path: str) -> Any:
    value: Any = fields
    for part in [] if path == "." else path.split("/"):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _many(value: Any) -> list[Any]:
    """A repeated element is a list, a single one a dict, a missing one None."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def text(*paths: str) -> Getter:
    """The first of ``paths`` with text."""

    def get(fields: Fields, _: Resolve) -> str | None:
        for path in paths:
            value = _at(fields, path)
            if isinstance(value, str) and value.strip():
                return value
        return None

    return get


def flag(path: str, default: bool) -> Getter:
    def get(fields: Fields, _: Resolve) -> bool:
        value = _at(fields, path)
        return default if not isinstance(value, str) else value.strip().lower() == "true"

    return get


def amount(*paths: str, scale: int = 2, negate: bool = False) -> Getter:
    quantum = Decimal(1).scaleb(-scale)

    def get(fields: Fields, resolve: Resolve) -> Decimal | None:
        raw = text(*paths)(fields, resolve)
        if raw is None:
            return None
        try:
            value = Decimal(raw).quantize(quantum)
        except InvalidOperation:
            return None
        return -value if negate else value

    return get


def address(*paths: str) -> Getter:
    def get(fields: Fields, _: Resolve) -> dict[str, Any] | None:
        for path in paths:
            found = _at(fields, path)
            if isinstance(found, Mapping) and any(found.values()):
                return _address(found)
        return None

    return get


def _address(found: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "line1": found.get("Addr1"),
        "line2": found.get("Addr2"),
        "city": found.get("City"),
        "state": found.get("State"),
        "postal_code": found.get("PostalCode"),
        "country": found.get("Country"),
    }


def ref(path: str, entity: str) -> Getter:
    """An ``EntityRef``: the app's id when qbsync maps the referenced record."""

    def get(fields: Fields, resolve: Resolve) -> dict[str, Any] | None:
        found = _at(fields, path)
        if not isinstance(found, Mapping):
            return None
        list_id = found.get("ListID") or found.get("TxnID")
        name = found.get("FullName") or found.get("RefNumber")
        return {"id": resolve(entity, list_id), "full_name": name}

    return get


def day(path: str) -> Getter:
    def get(fields: Fields, _: Resolve) -> date | None:
        value = _at(fields, path)
        try:
            return date.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            return None

    return get


def lines(path: str, shape: Mapping[str, Getter]) -> Getter:
    """A repeated group (``ExpenseLineRet``, ``AppliedToTxnRet`` ...), each element shaped."""

    def get(fields: Fields, resolve: Resolve) -> list[dict[str, Any]]:
        return [
            {name: getter(found, resolve) for name, getter in shape.items()}
            for found in _many(_at(fields, path))
            if isinstance(found, Mapping)
        ]

    return get


def first(*getters: Getter) -> Getter:
    """The first of ``getters`` that finds something."""

    def get(fields: Fields, resolve: Resolve) -> Any:
        return next((v for g in getters if (v := g(fields, resolve)) is not None), None)

    return get


def const(value: Any) -> Getter:
    return lambda fields, resolve: value


def ship_to_locations(fields: Fields, _: Resolve) -> list[dict[str, Any]]:
    return [
        {
            "name": found.get("Name") or "",
            "address": _address(found),
            "location_id": None,
            "is_default": str(found.get("DefaultShipTo", "")).lower() == "true",
        }
        for found in _many(fields.get("ShipToAddress"))
        if isinstance(found, Mapping)
    ]


_JOB_STATUS = {
    "Pending": "PENDING",
    "Awarded": "AWARDED",
    "InProgress": "IN_PROGRESS",
    "Closed": "CLOSED",
    "NotAwarded": "NOT_AWARDED",
}


def job_status(fields: Fields, _: Resolve) -> str | None:
    return _JOB_STATUS.get(str(fields.get("JobStatus")))


def is_paid(fields: Fields, resolve: Resolve) -> bool:
    if _at(fields, "IsPaid") is not None:
        return bool(flag("IsPaid", False)(fields, resolve))
    balance = amount("BalanceRemaining")(fields, resolve)
    return balance is not None and balance <= 0


@dataclass(frozen=True)
class Shape:
    """One returned element as an app entity: its fields, and the placeholders for the
    required ones QuickBooks may leave empty (field -> (getter, what the placeholder is))."""

    entity: str
    fields: Mapping[str, Getter]
    placeholders: Mapping[str, tuple[Getter, str]] = field(default_factory=dict)
    when: Callable[[Fields], bool] = lambda fields: True
    # Who it goes to: "direction" (the tenant's direction.<entity>), "mapped" (only records
    # qbsync synced: an invoice's paid status), "our_invoices" (a payment applied to an
    # invoice qbsync synced).
    follows: Follows = "direction"


_ITEM = {
    "name": text("Name"),
    "parent": ref("ParentRef", "item"),
    "description": text("SalesOrPurchase/Desc", "SalesAndPurchase/SalesDesc", "SalesDesc"),
    "purchase_description": text("SalesAndPurchase/PurchaseDesc", "PurchaseDesc"),
    "price": amount("SalesOrPurchase/Price", "SalesAndPurchase/SalesPrice", "SalesPrice", scale=5),
    "cost": amount("SalesAndPurchase/PurchaseCost", "PurchaseCost", scale=5),
    "income_account": first(
        ref("SalesOrPurchase/AccountRef", "account"),
        ref("SalesAndPurchase/IncomeAccountRef", "account"),
        ref("IncomeAccountRef", "account"),
    ),
    "expense_account": ref("SalesAndPurchase/ExpenseAccountRef", "account"),
    "asset_account": ref("AssetAccountRef", "account"),
    "is_active": flag("IsActive", True),
}


def _item(item_type: str) -> Shape:
    return Shape(
        "item",
        {**_ITEM, "item_type": const(item_type)},
        {
            "is_taxable": (
                const(False),
                "false: QuickBooks Desktop keeps taxability on the item's sales tax code",
            )
        },
    )


def _billable(fields: Fields, _: Resolve) -> bool:
    return fields.get("BillableStatus") == "Billable"


def _job(path: str) -> Getter:
    """A line's customer or job: a job cost when it names one of the app's jobs (the id is
    the app's job's, else its customer's, else null)."""
    as_job, as_customer = ref(path, "job"), ref(path, "customer")

    def get(fields: Fields, resolve: Resolve) -> Any:
        found = as_job(fields, resolve)
        return found if found is None or found["id"] else as_customer(fields, resolve)

    return get


def _worker(path: str) -> Getter:
    """Who did the work: the app's employee, else the vendor a 1099 worker was synced as."""
    as_employee, as_vendor = ref(path, "employee"), ref(path, "vendor")

    def get(fields: Fields, resolve: Resolve) -> Any:
        found = as_employee(fields, resolve)
        return found if found is None or found["id"] else as_vendor(fields, resolve)

    return get


_DURATION = re.compile(r"^(-?)PT(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.\d+)?S)?$")


def duration_minutes(path: str) -> Getter:
    """qbXML's ``Duration`` (``PT8H30M0S``) in whole minutes; None when it is not one."""

    def get(fields: Fields, _: Resolve) -> int | None:
        found = _DURATION.match(str(_at(fields, path) or ""))
        if found is None or not any(found.group(2, 3, 4)):
            return None
        sign, hours, minutes, seconds = found.groups()
        total = int(hours or 0) * 60 + int(minutes or 0) + int(seconds or 0) // 60
        return -total if sign else total

    return get


_BILL = Shape(
    "bill",
    {
        "vendor": ref("VendorRef", "vendor"),
        "ref_number": text("RefNumber"),
        "txn_date": day("TxnDate"),
        "due_date": day("DueDate"),
        "terms": ref("TermsRef", "terms"),
        "memo": text("Memo"),
        "status": lambda f, r: "PAID" if flag("IsPaid", False)(f, r) else "APPROVED",
        # Job costs: each line's CustomerRef is the job the cost belongs to.
        "expense_lines": lines(
            "ExpenseLineRet",
            {
                "line_id": text("TxnLineID"),
                "account": ref("AccountRef", "account"),
                "amount": amount("Amount"),
                "memo": text("Memo"),
                "customer": _job("CustomerRef"),
                "is_billable": _billable,
                "class": ref("ClassRef", "class"),
            },
        ),
        "item_lines": lines(
            "ItemLineRet",
            {
                "line_id": text("TxnLineID"),
                "item": ref("ItemRef", "item"),
                "description": text("Desc"),
                "quantity": amount("Quantity", scale=5),
                "cost": amount("Cost", scale=5),
                "amount": amount("Amount"),
                "customer": _job("CustomerRef"),
                "is_billable": _billable,
                "class": ref("ClassRef", "class"),
            },
        ),
    },
)

_PAYMENT_TYPES = {"Check": "CHECK", "Cash": "CASH", "CreditCard": "CREDIT_CARD"}


def _expense(paid_by: str) -> Shape:
    """An expense paid at once (a check, a credit-card charge): read back only
    (direction.expense); QBO says how it was paid, Desktop by the element."""
    return Shape(
        "expense",
        {
            "payment_type": lambda f, _r: _PAYMENT_TYPES.get(str(f.get("PaymentType")), paid_by),
            "paid_from": ref("AccountRef", "account"),
            "payee": ref("PayeeEntityRef", "vendor"),
            "ref_number": text("RefNumber"),
            "txn_date": day("TxnDate"),
            "total": amount("Amount"),
            "memo": text("Memo"),
            "expense_lines": _BILL.fields["expense_lines"],
            "item_lines": _BILL.fields["item_lines"],
        },
    )


_PAYMENT = Shape(
    "payment",
    {
        "customer": _job("CustomerRef"),
        "txn_date": day("TxnDate"),
        "amount": amount("TotalAmount"),
        "payment_method": ref("PaymentMethodRef", "payment_method"),
        "reference": text("RefNumber"),
        "deposit_to": ref("DepositToAccountRef", "account"),
        "ar_account": ref("ARAccountRef", "account"),
        "memo": text("Memo"),
        "applied_to": lines(
            "AppliedToTxnRet",
            {"transaction": ref(".", "invoice"), "amount": amount("Amount")},
        ),
    },
    follows="our_invoices",
)

_COST_CODE = Shape(
    "cost_code",
    {
        "code": text("Name"),
        "parent": ref("ParentRef", "cost_code"),
        "item": ref(".", "item"),
        "is_active": flag("IsActive", True),
        "name": text("SalesOrPurchase/Desc", "SalesAndPurchase/SalesDesc", "SalesDesc"),
    },
    {"name": (text("Name"), "the item's name, when it has no description")},
)


# The chart of accounts' types, as qbXML (``AccountsReceivable``) or QBO (``Accounts
# Receivable``) spell them, to the app's AccountType symbols: the same words either way.
@cache
def _account_types() -> dict[str, str]:
    """The app's account types (the ``AccountType`` enum of the event schemas, read once
    when first needed) by the letters QuickBooks spells them with: ``Bank``,
    ``AccountsReceivable`` (qbXML), ``Accounts Receivable`` (QBO) are ``ACCOUNTS_RECEIVABLE``."""
    symbols = load_schemas().definitions["com.qbsync.events.AccountType"]["symbols"]
    return {symbol.replace("_", "").lower(): symbol for symbol in symbols}


def _account_type(fields: Fields, _: Resolve) -> str | None:
    spelled = str(fields.get("AccountType") or "").replace(" ", "").lower()
    return _account_types().get(spelled)


# Accounts and classes entered or changed in QuickBooks (the chart of accounts' and the
# classes' Get; direction.account, direction.class). An account of a type the app's enum
# lacks (none known today) is not delivered: its shape cannot say what it is.
_ACCOUNT = Shape(
    "account",
    {
        "name": text("Name"),
        "number": text("AccountNumber"),
        "account_type": _account_type,
        "sub_type": text("AccountSubType"),
        "parent": ref("ParentRef", "account"),
        "description": text("Desc"),
        "is_active": flag("IsActive", True),
    },
    when=lambda fields: _account_type(fields, lambda *_: None) is not None,
)

_CLASS = Shape(
    "class",
    {
        "name": text("Name"),
        "parent": ref("ParentRef", "class"),
        "is_active": flag("IsActive", True),
    },
)


def _has_parent(fields: Fields) -> bool:
    return isinstance(fields.get("ParentRef"), Mapping)


SHAPES: Mapping[str, tuple[Shape, ...]] = {
    "Customer": (
        Shape(
            "job",
            {
                "parent_customer": ref("ParentRef", "customer"),
                "name": text("Name"),
                "project_number": const(None),
                "description": text("JobDesc"),
                "job_address": address("ShipAddress", "BillAddress"),
                "status": job_status,
                "sales_rep": ref("SalesRepRef", "sales_rep"),
                "class": ref("ClassRef", "class"),
                "is_active": flag("IsActive", True),
            },
            when=_has_parent,
        ),
        Shape(
            "customer",
            {
                "company_name": text("CompanyName"),
                "first_name": text("FirstName"),
                "last_name": text("LastName"),
                "email": text("Email"),
                "phone": text("Phone"),
                "bill_address": address("BillAddress"),
                "ship_address": address("ShipAddress"),
                "is_active": flag("IsActive", True),
                "ship_to_locations": ship_to_locations,
                "terms": ref("TermsRef", "terms"),
                "sales_tax_code": ref("SalesTaxCodeRef", "sales_tax_code"),
                "currency": text("CurrencyRef/FullName"),
            },
            {
                "company_name": (
                    text("Name"),
                    "the QuickBooks customer name, when it has neither a company nor a last "
                    "name (apps name a customer by one of them)",
                )
            },
            when=lambda fields: not _has_parent(fields),
        ),
    ),
    "Vendor": (
        Shape(
            "vendor",
            {
                "company_name": text("CompanyName"),
                "first_name": text("FirstName"),
                "last_name": text("LastName"),
                "is_1099": flag("IsVendorEligibleFor1099", False),
                "email": text("Email"),
                "phone": text("Phone"),
                "address": address("VendorAddress"),
                "terms": ref("TermsRef", "terms"),
                "is_active": flag("IsActive", True),
            },
            {
                "kind": (const("VENDOR"), "VENDOR: QuickBooks has no supplier/installer kind"),
                "company_name": (
                    text("Name"),
                    "the QuickBooks vendor name, when it has neither a company nor a last name",
                ),
            },
        ),
    ),
    "Employee": (
        Shape(
            "employee",
            {
                "first_name": text("FirstName"),
                "last_name": text("LastName"),
                "employment_type": const("EMPLOYEE"),
                "email": text("Email"),
                "phone": text("Phone"),
                "address": address("EmployeeAddress"),
                "is_active": flag("IsActive", True),
            },
            {
                "first_name": (text("Name"), "the QuickBooks employee name"),
                "last_name": (const("-"), "'-', when QuickBooks has only one name"),
            },
        ),
    ),
    # Items are also the cost codes of a Procore-style budget (direction.cost_code).
    "ItemService": (_item("SERVICE"), _COST_CODE),
    "ItemInventory": (_item("INVENTORY"),),
    "ItemNonInventory": (_item("NON_INVENTORY"), _COST_CODE),
    "ItemOtherCharge": (_item("OTHER_CHARGE"), _COST_CODE),
    "Bill": (_BILL,),
    "Check": (_expense("CHECK"),),
    "CreditCardCharge": (_expense("CREDIT_CARD"),),
    "ReceivePayment": (_PAYMENT,),
    "Invoice": (
        Shape(
            "invoice",
            {
                "ref_number": text("RefNumber"),
                "total": lambda f, r: (
                    (amount("Subtotal")(f, r) or Decimal(0))
                    + (amount("SalesTaxTotal")(f, r) or Decimal(0))
                ),
                "applied": amount("AppliedAmount", negate=True),
                "balance_remaining": amount("BalanceRemaining"),
                "is_paid": is_paid,
                "customer": _job("CustomerRef"),
                "txn_date": day("TxnDate"),
                "memo": text("Memo"),
            },
            follows="mapped",
        ),
    ),
    "Account": (_ACCOUNT,),
    "Class": (_CLASS,),
    # Time entered in QuickBooks (the time entries module's Get; direction.time_entry): the
    # app's time entry, its worker the app's employee (or, a 1099 worker, the vendor the app
    # has it as). Entered in QuickBooks, so approved there.
    "TimeTracking": (
        Shape(
            "time_entry",
            {
                "employee": _worker("EntityRef"),
                "date": day("TxnDate"),
                "duration_minutes": duration_minutes("Duration"),
                "customer": _job("CustomerRef"),
                "service_item": ref("ItemServiceRef", "item"),
                "class": ref("ClassRef", "class"),
                "is_billable": _billable,
                "memo": text("Notes"),
                "approval": const("APPROVED"),
            },
        ),
    ),
    # An estimate (from QuickBooks Online only): the app's estimate, its item lines.
    "Estimate": (
        Shape(
            "estimate",
            {
                "customer": ref("CustomerRef", "customer"),
                "ref_number": text("RefNumber"),
                "txn_date": day("TxnDate"),
                "expiration_date": day("ExpirationDate"),
                "memo": text("Memo"),
                "status": lambda f, _r: (
                    "APPROVED" if f.get("TxnStatus") in ("Accepted", "Closed") else "DRAFT"
                ),
                "lines": lines(
                    "EstimateLineRet",
                    {
                        "line_id": text("TxnLineID"),
                        "item": ref("ItemRef", "item"),
                        "description": text("Desc"),
                        "quantity": amount("Quantity", scale=5),
                        "rate": amount("Rate", scale=5),
                        "amount": amount("Amount"),
                    },
                ),
            },
        ),
    ),
    # A credit memo (read from QuickBooks Online) is a negative invoice numbered CM<ref>
    # (connectors.qbo._imports numbers it); the tenant's direction.invoice decides.
    "CreditMemo": (
        Shape(
            "invoice",
            {
                "ref_number": text("RefNumber"),
                "total": lambda f, r: (
                    -(
                        (amount("Subtotal")(f, r) or Decimal(0))
                        + (amount("SalesTaxTotal")(f, r) or Decimal(0))
                    )
                ),
                "applied": lambda f, r: (
                    (amount("Subtotal")(f, r) or Decimal(0))
                    + (amount("SalesTaxTotal")(f, r) or Decimal(0))
                    - (amount("CreditRemaining")(f, r) or Decimal(0))
                ),
                "balance_remaining": amount("CreditRemaining", negate=True),
                "is_paid": lambda f, r: not amount("CreditRemaining")(f, r),
                "customer": _job("CustomerRef"),
                "txn_date": day("TxnDate"),
                "memo": text("Memo"),
            },
        ),
    ),
}

PLACEHOLDERS: dict[str, str] = {
    f"{shape.entity}.{name}": why
    for shapes in SHAPES.values()
    for shape in shapes
    for name, (_, why) in shape.placeholders.items()
}


# What QuickBooks Online lacks, the time-billing integration the issue reproduces fills with
# the text ``FromQuickBooks`` (rates with 0), flagged for review in ``placeholders``: these
# replace or add to the shape's placeholders when the record comes from a QBO company. A
# customer's or vendor's company name keeps the Desktop placeholder: QBO's DisplayName, a
# value QBO has (flagged all the same).
FROM_QUICKBOOKS = "FromQuickBooks"

QBO_PLACEHOLDERS: Mapping[str, tuple[Getter, str]] = {
    "employee.first_name": (const(FROM_QUICKBOOKS), "FromQuickBooks: no GivenName in QBO"),
    "employee.last_name": (const(FROM_QUICKBOOKS), "FromQuickBooks: no FamilyName in QBO"),
    "item.price": (const(Decimal(0)), "0: no UnitPrice in QBO"),
    "item.cost": (const(Decimal(0)), "0: no PurchaseCost in QBO"),
}


def app_records(kind: str, fields: Fields, resolve: Resolve, api: str = "qbxml") -> list[AppRecord]:
    """What a returned element (``Customer``, ``ItemService`` ...) is for the apps: none
    (a kind qbsync does not deliver), one, or several (an item is also a cost code).
    ``api`` is where it was read: ``"qbo"`` fills :data:`QBO_PLACEHOLDERS`."""
    return [
        _record(shape, fields, resolve, api) for shape in SHAPES.get(kind, ()) if shape.when(fields)
    ]


def _placeholders(shape: Shape, api: str) -> Mapping[str, tuple[Getter, str]]:
    if api != "qbo":
        return shape.placeholders
    prefix = f"{shape.entity}."
    online = {
        k.removeprefix(prefix): v for k, v in QBO_PLACEHOLDERS.items() if k.startswith(prefix)
    }
    return {**shape.placeholders, **online}


def _record(shape: Shape, fields: Fields, resolve: Resolve, api: str = "qbxml") -> AppRecord:
    payload = {name: get(fields, resolve) for name, get in shape.fields.items()}
    filled = []
    for name, (get, _) in _placeholders(shape, api).items():
        if payload.get(name) is None and not _named(payload, name):
            payload[name] = get(fields, resolve)
            filled.append(name)
    return AppRecord(
        shape.entity,
        payload,
        tuple(filled),
        is_active=payload.get("is_active") is not False,
        follows=shape.follows,
        refers_to_ours=any(
            (line.get("transaction") or {}).get("id") for line in payload.get("applied_to") or []
        ),
    )


def _named(payload: Mapping[str, Any], name: str) -> bool:
    """A customer's or vendor's company name is only needed when there is no last name."""
    return name == "company_name" and bool(payload.get("last_name"))


# What an app asks to import (``import.sync_requested``), as the gateway's qbXML entity.
IMPORTED_AS: Mapping[str, str] = {
    "account": "account",
    "class": "class",
    "terms": "terms",
    "sales_tax_code": "sales_tax_code",
    "item": "item",
    "cost_code": "item",
    "customer": "customer",
    "job": "customer",
    "vendor": "vendor",
    "employee": "employee",
    "invoice": "invoice",
    "payment": "receive_payment",
    "bill": "bill",
    "time_entry": "time_tracking",
}


class ImportRefused(QbsyncError):
    """An import request naming nothing, or what cannot be imported; ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# Where a deployment says what it reads back, per kind of company.
IMPORT_SETTINGS: Mapping[str, str] = {
    "qbxml": "QBSYNC_GATEWAY_IMPORTS",
    "qbo": "QBSYNC_QBO_READ_ENTITIES",
}


def imports_for(wanted: Sequence[str], configured: Sequence[str], api: str = "qbxml") -> list[str]:
    """The import entities for what an app asks to import (``cost_code`` -> ``item``),
    or :class:`ImportRefused` naming what is wrong. ``configured``: the entities this
    deployment reads back from a company of this ``api`` (``qbxml``: the gateway's imports;
    ``qbo``: the import entities of the QBO reader's)."""
    if not wanted:
        raise ImportRefused("missing-payload", "import.entities: name at least one entity")
    unknown = [e for e in wanted if e not in IMPORTED_AS]
    if unknown:
        raise ImportRefused(
            "unknown-import",
            f"import.entities: cannot import {', '.join(map(repr, unknown))}; one of "
            + ", ".join(IMPORTED_AS),
        )
    chosen = sorted({IMPORTED_AS[e] for e in wanted})
    off = [e for e in chosen if e not in configured]
    if off:
        raise ImportRefused(
            "import-off",
            f"import.entities: {', '.join(off)} not imported by this deployment"
            f" ({IMPORT_SETTINGS.get(api, IMPORT_SETTINGS['qbxml'])})",
        )
    return chosen
