"""What every entity rule shares: references, the rule row, names, addresses and lines.

Why here: a value function only says how *its* fields become qbXML values; resolving a
reference (and remembering the dependency), naming people and jobs per the tenant's formats,
and the common line shapes are written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from connectors.store import Mapping as IdMapping
from streams.tenant_settings import TenantSettings, load_settings

if TYPE_CHECKING:
    from streams.rules._qbo import QboShape

__all__ = [
    "CUSTOMER_OR_JOB",
    "MUST_EXIST",
    "EntityRule",
    "NameCheck",
    "Refs",
    "Resolver",
    "as_settings",
    "billable",
    "cased",
    "customer_name",
    "expense_lines",
    "item_lines",
    "job_name",
    "named",
    "nonempty",
    "online_only",
    "person",
    "qb_address",
    "sales_lines",
    "text",
]

Resolver = Callable[[str, str], IdMapping | None]
"""``(entity, source id) -> mapping``: how a reference finds the QuickBooks id."""

NameCheck = Callable[[str, str], bool]
"""``(entity, full name) -> exists in QuickBooks``: what the worker knows of the company file."""

CUSTOMER_OR_JOB = ("customer", "job")

# QuickBooks records qbsync never creates and that must exist under the exact same name.
MUST_EXIST = frozenset({"class", "sales_tax_code"})


class Refs:
    """Resolves references through the mapping store; remembers what they depend on.

    A reference with an ``id`` must be mapped (else it is *missing* and the event waits);
    one with only a ``full_name`` is sent by name and depends on nothing qbsync tracks,
    except that classes and sales tax codes (:data:`MUST_EXIST`) are checked with
    ``exists`` when the worker gives it: an unknown one is *not found* and the event is held
    rather than sent to fail.
    """

    def __init__(
        self,
        resolve: Resolver,
        exists: NameCheck | None = None,
        tax_code: Callable[[str], str] | None = None,
    ) -> None:
        self._resolve = resolve
        self._exists = exists
        # The app's sales tax code names to QuickBooks' codes (TenantSettings.tax_code).
        self._tax_code = tax_code or (lambda name: name)
        self.depends_on: list[str] = []
        self.missing: list[str] = []
        self.not_found: list[str] = []

    def _find(self, ref: Mapping[str, Any], entities: tuple[str, ...]) -> IdMapping | None:
        source_id = ref["id"]
        for entity in entities:
            found = self._resolve(entity, source_id)
            if found is not None:
                key = f"{entity}:{source_id}"
                if key not in self.depends_on:
                    self.depends_on.append(key)
                return found
        # "customer:C-1|job:C-1": either one being mapped releases the event.
        wanted = "|".join(f"{entity}:{source_id}" for entity in entities)
        if wanted not in self.missing:
            self.missing.append(wanted)
        return None

    def ref(self, ref: Mapping[str, Any] | None, *entities: str) -> dict[str, str] | None:
        """``{"ListID": ...}`` for a mapped id, ``{"FullName": ...}`` for a name, else None."""
        if not ref:
            return None
        if ref.get("id"):
            found = self._find(ref, entities)
            # A placeholder keeps building going so every missing reference is reported.
            return {"ListID": found.qb_id if found else "pending"}
        name = ref.get("full_name")
        if name and "sales_tax_code" in entities:
            name = self._tax_code(name)
        if name:
            for entity in MUST_EXIST.intersection(entities):
                if self._exists is not None and not self._exists(entity, name):
                    found_text = f"{entity.replace('_', ' ')} {name!r}"
                    if found_text not in self.not_found:
                        self.not_found.append(found_text)
            return {"FullName": name}
        return None

    def mapped_as(self, ref: Mapping[str, Any] | None, *entities: str) -> str | None:
        """Which of ``entities`` a reference's id is mapped as (the first that is), or None
        (no id, or not mapped yet): an employee paid or working as a vendor in QBO."""
        if not ref or not ref.get("id"):
            return None
        return next((e for e in entities if self._resolve(e, ref["id"]) is not None), None)

    def txn_id(self, ref: Mapping[str, Any], entity: str) -> str | None:
        """A transaction's TxnID (transactions are only referenced by source id)."""
        if not ref.get("id"):
            return None
        found = self._find(ref, (entity,))
        return found.qb_id if found else "pending"


@dataclass(frozen=True)
class EntityRule:
    """One entity's row. ``values(payload, settings, refs)`` returns qbXML values (Add form).

    ``qb_entity`` picks the :data:`connectors.qbxml.ENTITIES` name (e.g. a 1099 worker is a
    vendor); ``skip`` says why a record is not sent (draft, $0, status filter); ``requires``
    says which missing setting makes the event impossible (a rejection).
    """

    payload_field: str
    values: Callable[[Mapping[str, Any], TenantSettings, Refs], dict[str, Any]]
    group: str
    qb_entity: Callable[[Mapping[str, Any] | None, TenantSettings], str] | str = ""
    date_field: str | None = None
    skip: Callable[[Mapping[str, Any], TenantSettings], str | None] = field(
        default=lambda _payload, _settings: None
    )
    requires: Callable[[TenantSettings], str | None] = field(default=lambda _settings: None)
    # The QuickBooks Online column (``streams.rules._qbo.QboShape``); None: Desktop only.
    qbo: QboShape | None = None
    # Why this record cannot be sent until the app gives more (a rejection naming the field).
    refuse: Callable[[Mapping[str, Any], TenantSettings], str | None] = field(
        default=lambda _payload, _settings: None
    )
    # False: QuickBooks Online only (accounts, classes): a Desktop company refuses the event.
    desktop: bool = True
    # Why the record contradicts itself (an expense whose total is not its lines' sum): a
    # rejection ``invalid-field`` naming the fields, for either API.
    invalid: Callable[[Mapping[str, Any]], str | None] = field(default=lambda _payload: None)

    def target(self, payload: Mapping[str, Any] | None, settings: TenantSettings) -> str:
        if callable(self.qb_entity):
            return self.qb_entity(payload, settings)
        return self.qb_entity or self.payload_field


# -- names ------------------------------------------------------------------------------


def as_settings(settings: Mapping[str, Any] | TenantSettings) -> TenantSettings:
    return settings if isinstance(settings, TenantSettings) else load_settings(dict(settings))


def text(value: Any) -> str:
    return str(value or "").strip()


def cased(name: str, settings: TenantSettings) -> str:
    return name.upper() if settings.upper_case else name


def person(record: Mapping[str, Any], settings: TenantSettings) -> str:
    name = settings.customer_name_format.format(
        first_name=text(record.get("first_name")),
        last_name=text(record.get("last_name")),
        company_name=text(record.get("company_name")),
    )
    # A missing part leaves its separator behind ("Doe, "): trim it.
    return name.strip(" ,-")


def customer_name(customer: Mapping[str, Any], settings: Mapping[str, Any] | TenantSettings) -> str:
    """The company name when there is one (and the setting allows), else the name format
    ("Last, First" by default), upper-cased when the tenant wants it."""
    values = as_settings(settings)
    company = text(customer.get("company_name"))
    name = company if company and values.use_company_name else person(customer, values)
    return cased(name or company, values)


def job_name(job: Mapping[str, Any], settings: Mapping[str, Any] | TenantSettings) -> str:
    """The job name format ("{project_number} - {project_address}" by default); the job's
    own name when the format leaves nothing (no number, no address)."""
    values = as_settings(settings)
    address = job.get("job_address") or {}
    name = values.job_name_format.format(
        name=text(job.get("name")),
        project_number=text(job.get("project_number")),
        project_address=text(address.get("line1")),
    ).strip(" ,-")
    return cased(name or text(job.get("name")), values)


# -- shared pieces ----------------------------------------------------------------------


def qb_address(address: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not address:
        return None
    return {
        "Addr1": address.get("line1"),
        "Addr2": address.get("line2"),
        "City": address.get("city"),
        "State": address.get("state"),
        "PostalCode": address.get("postal_code"),
        "Country": address.get("country"),
    }


def billable(line: Mapping[str, Any]) -> str | None:
    if line.get("is_billable"):
        return "Billable"
    return "NotBillable" if line.get("customer") else None


def sales_lines(lines: list[Mapping[str, Any]], refs: Refs) -> list[dict[str, Any]]:
    return [
        {
            "ItemRef": refs.ref(line.get("item"), "item"),
            "Desc": line.get("description"),
            "Quantity": line.get("quantity"),
            "Rate": line.get("rate"),
            "Amount": line.get("amount"),
            "ClassRef": refs.ref(line.get("class"), "class"),
            "SalesTaxCodeRef": refs.ref(line.get("sales_tax_code"), "sales_tax_code"),
        }
        for line in lines
    ]


def expense_lines(lines: list[Mapping[str, Any]], refs: Refs) -> list[dict[str, Any]]:
    return [
        {
            "AccountRef": refs.ref(line.get("account"), "account"),
            "Amount": line.get("amount"),
            "Memo": line.get("memo"),
            "CustomerRef": refs.ref(line.get("customer"), *CUSTOMER_OR_JOB),
            "ClassRef": refs.ref(line.get("class"), "class"),
            "BillableStatus": billable(line),
        }
        for line in lines
    ]


def item_lines(lines: list[Mapping[str, Any]], refs: Refs) -> list[dict[str, Any]]:
    return [
        {
            "ItemRef": refs.ref(line.get("item"), "item"),
            "Desc": line.get("description"),
            "Quantity": line.get("quantity"),
            "Cost": line.get("cost"),
            "Amount": line.get("amount"),
            "CustomerRef": refs.ref(line.get("customer"), *CUSTOMER_OR_JOB),
            "ClassRef": refs.ref(line.get("class"), "class"),
            "BillableStatus": billable(line),
        }
        for line in lines
    ]


def online_only(_p: Mapping[str, Any], _s: TenantSettings, _refs: Refs) -> dict[str, Any]:
    """The Desktop column of a QBO-only rule (``desktop=False``): never called."""
    return {}


def nonempty(lines: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    return lines or None


def named(full_name: str | None) -> dict[str, str] | None:
    return {"FullName": full_name} if full_name else None
