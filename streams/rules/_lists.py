"""List records: customers, jobs, employees (1099 workers as vendors), sales reps, vendors,
items. Each function turns a payload into Add-form qbXML values; pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streams.rules._base import (
    Refs,
    cased,
    customer_name,
    job_name,
    person,
    qb_address,
    text,
)
from streams.tenant_settings import TenantSettings

__all__ = [
    "customer",
    "employee",
    "employee_entity",
    "item",
    "item_entity",
    "job",
    "sales_rep",
    "vendor",
]


def customer(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "Name": customer_name(p, s),
        "IsActive": p.get("is_active", True),
        "CompanyName": p.get("company_name"),
        "FirstName": p.get("first_name"),
        "LastName": p.get("last_name"),
        "BillAddress": qb_address(p.get("bill_address")),
        "ShipAddress": qb_address(p.get("ship_address")),
        # The app's service locations are the customer's ship-to addresses.
        "ShipToAddress": [
            {
                "Name": location.get("name"),
                **(qb_address(location.get("address")) or {}),
                "DefaultShipTo": location.get("is_default", False),
            }
            for location in p.get("ship_to_locations") or []
        ]
        or None,
        "Phone": p.get("phone"),
        "Email": p.get("email"),
        "TermsRef": refs.ref(p.get("terms"), "terms"),
        "SalesTaxCodeRef": refs.ref(p.get("sales_tax_code"), "sales_tax_code"),
    }


_JOB_STATUS = {
    "PENDING": "Pending",
    "AWARDED": "Awarded",
    "IN_PROGRESS": "InProgress",
    "CLOSED": "Closed",
    "NOT_AWARDED": "NotAwarded",
}


def job(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "Name": job_name(p, s),
        "IsActive": p.get("is_active", True),
        "ParentRef": refs.ref(p.get("parent_customer"), "customer"),
        "ShipAddress": qb_address(p.get("job_address")),
        "SalesRepRef": refs.ref(p.get("sales_rep"), "sales_rep"),
        "ClassRef": refs.ref(p.get("class"), "class"),
        "JobStatus": _JOB_STATUS.get(p.get("status") or ""),
        "JobDesc": p.get("description"),
    }


def _is_vendor_worker(p: Mapping[str, Any] | None, s: TenantSettings) -> bool:
    if p is None or not s.route_1099_to_vendor:
        return False
    return bool(p.get("employment_type") == "VENDOR_1099")


def employee(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    name = cased(person(p, s), s)
    if _is_vendor_worker(p, s):
        return {
            "Name": name,
            "IsActive": p.get("is_active", True),
            "FirstName": p.get("first_name"),
            "LastName": p.get("last_name"),
            "VendorAddress": qb_address(p.get("address")),
            "Phone": p.get("phone"),
            "Email": p.get("email"),
            "IsVendorEligibleFor1099": True,
        }
    return {
        "IsActive": p.get("is_active", True),
        "FirstName": cased(text(p.get("first_name")), s) or None,
        "LastName": cased(text(p.get("last_name")), s) or None,
        "EmployeeAddress": _employee_address(p.get("address")),
        "Phone": p.get("phone"),
        "Email": p.get("email"),
    }


def _employee_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    # QuickBooks' EmployeeAddress has no Country element.
    values = qb_address(address)
    if values is not None:
        values.pop("Country")
    return values


def sales_rep(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "Initial": cased(text(p.get("initials")), s),
        "IsActive": p.get("is_active", True),
        # Required by QuickBooks: without it the request is refused naming the element.
        "SalesRepEntityRef": refs.ref(p.get("represented_by"), "employee", "vendor"),
    }


def vendor_name(p: Mapping[str, Any], s: TenantSettings) -> str:
    """A vendor's name in QuickBooks (Desktop's Name, QBO's DisplayName)."""
    company = text(p.get("company_name"))
    name = company if company and s.use_company_name else person(p, s)
    return cased(name or company, s)


def vendor(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    return {
        "Name": vendor_name(p, s),
        "IsActive": p.get("is_active", True),
        "CompanyName": p.get("company_name"),
        "FirstName": p.get("first_name"),
        "LastName": p.get("last_name"),
        "VendorAddress": qb_address(p.get("address")),
        "Phone": p.get("phone"),
        "Email": p.get("email"),
        "TermsRef": refs.ref(p.get("terms"), "terms"),
        "IsVendorEligibleFor1099": p.get("is_1099"),
    }


_ITEM_ENTITIES = {
    "SERVICE": "item_service",
    "NON_INVENTORY": "item_non_inventory",
    "OTHER_CHARGE": "item_other_charge",
    "INVENTORY": "item_inventory",
}


def item_entity(p: Mapping[str, Any] | None, _s: TenantSettings) -> str:
    return _ITEM_ENTITIES[(p or {}).get("item_type") or "SERVICE"]


def item(p: Mapping[str, Any], s: TenantSettings, refs: Refs) -> dict[str, Any]:
    income = refs.ref(p.get("income_account"), "account")
    expense = refs.ref(p.get("expense_account"), "account")
    values: dict[str, Any] = {
        "Name": cased(text(p.get("name")), s),
        "IsActive": p.get("is_active", True),
        "ParentRef": refs.ref(p.get("parent"), "item"),
    }
    if p.get("item_type") == "INVENTORY":
        values |= {
            "SalesDesc": p.get("description"),
            "SalesPrice": p.get("price"),
            "IncomeAccountRef": income,
            "PurchaseDesc": p.get("purchase_description"),
            "PurchaseCost": p.get("cost"),
            "COGSAccountRef": expense,
            "AssetAccountRef": refs.ref(p.get("asset_account"), "account"),
        }
    elif expense is not None:
        # Bought and sold: both accounts.
        values["SalesAndPurchase"] = {
            "SalesDesc": p.get("description"),
            "SalesPrice": p.get("price"),
            "IncomeAccountRef": income,
            "PurchaseDesc": p.get("purchase_description"),
            "PurchaseCost": p.get("cost"),
            "ExpenseAccountRef": expense,
        }
    else:
        values["SalesOrPurchase"] = {
            "Desc": p.get("description"),
            "Price": p.get("price"),
            "AccountRef": income,
        }
    return values


def employee_entity(p: Mapping[str, Any] | None, s: TenantSettings) -> str:
    return "vendor" if _is_vendor_worker(p, s) else "employee"
