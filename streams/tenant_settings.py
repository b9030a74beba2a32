"""A tenant's sync settings: one typed model, stored as JSON in ``tenants.settings``.

Why one model: the worker, the CLI and the docs (``docs/settings.md``) must agree on every
name, default and allowed value; a misspelt key must be an error, never silently ignored.
Reading stored settings goes through :func:`load_settings`, writing through
:func:`apply_changes`; both raise :class:`SettingsError` naming the offending field.
"""

from __future__ import annotations

import copy
import string
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.conflicts import Policy
from core.errors import QbsyncError

__all__ = [
    "Direction",
    "EntitySwitches",
    "SettingsError",
    "TenantSettings",
    "apply_changes",
    "load_settings",
    "valid_settings",
]

Direction = Literal["to_quickbooks", "from_quickbooks", "two_way"]

_DICTS = ("entities", "direction", "conflict", "qbo_item_defaults", "qbo_project_defaults")
_NAME_FIELDS = frozenset({"first_name", "last_name", "company_name"})
_JOB_FIELDS = frozenset({"name", "project_number", "project_address"})


class SettingsError(QbsyncError):
    """Stored or given settings are invalid; the message names the field and what is allowed."""


class EntitySwitches(BaseModel):
    """Which groups of records a tenant syncs (the seed products' check boxes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customers: bool = Field(True, description="Customers.")
    employees: bool = Field(True, description="Employees and sales reps.")
    customer_jobs: bool = Field(True, description="Customer jobs (projects).")
    items_and_invoices: bool = Field(True, description="Service items and invoices.")
    estimates: bool = Field(True, description="Estimates.")
    credit_memos: bool = Field(True, description="Credit memos.")
    payments: bool = Field(True, description="Customer payments.")
    vendors_and_bills: bool = Field(
        True, description="Vendors, bills, vendor credits and expenses paid at once."
    )
    time_entries: bool = Field(True, description="Time entries.")
    commitments: bool = Field(True, description="Procore commitments and subcontractor invoices.")
    accounts_and_classes: bool = Field(
        True, description="Accounts and classes (created in QuickBooks Online only)."
    )


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


DocumentStatus = Literal["DRAFT", "APPROVED", "READY_FOR_SYNC"]


def _not_drafts() -> list[DocumentStatus]:
    return ["APPROVED", "READY_FOR_SYNC"]


# The entities whose direction and conflict policy a tenant sets (docs/two-way.md).
TWO_WAY_ENTITIES = frozenset(
    {
        "customer",
        "job",
        "vendor",
        "employee",
        "item",
        "cost_code",
        "bill",
        "invoice",
        "estimate",
        "expense",
        "time_entry",
        "account",
        "class",
    }
)
# What apps call QuickBooks Desktop's two standard sales tax codes.
COMMON_TAX_CODES = {
    "taxable": "Tax",
    "tax": "Tax",
    "non-taxable": "Non",
    "nontaxable": "Non",
    "non taxable": "Non",
    "non": "Non",
    "exempt": "Non",
    "tax exempt": "Non",
}


# QuickBooks Online's limit on a name (an account's, an item's), per level.
_QBO_NAME_MAX = 100


class QboItemDefaults(BaseModel):
    """QuickBooks Online defaults for items and their lines (account full names; a tax code
    as ``TAX``/``NON`` in the US, elsewhere the company's ``TaxCode`` name or Id)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    income_account: str | None = Field(
        None, description="Income account for items that name none (QBO requires one)."
    )
    expense_account: str | None = Field(
        None,
        description="Expense account for non-inventory and inventory items naming none, and "
        "for bill lines booked to an account that name none.",
    )
    tax_code: str | None = Field(
        None,
        description="Tax code on invoice lines naming none: TAX/NON (US), else the "
        "company's tax code name (e.g. GST) or Id.",
    )


class QboProjectDefaults(BaseModel):
    """A project's QuickBooks Online overrides of :class:`QboItemDefaults` for its lines:
    the tax code of its invoices' lines, the account of its bills' account lines, and the
    income account of its invoices' lines. A QBO invoice line carries no account (it books
    to its item's ``IncomeAccountRef``), so that one goes through a per-project item made on
    demand (``docs/qbo.md``, "Per-project accounts")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tax_code: str | None = Field(None, description="Tax code on the project's invoice lines.")
    expense_account: str | None = Field(
        None,
        description="Expense account for the project's bill lines booked to an account "
        "(replaces the account the line names).",
    )
    income_account: str | None = Field(
        None,
        description="Income account (full name) for the project's invoice lines: each line "
        "refers to a per-project copy of its item, '<item> (<project>)', booked there.",
    )

    @field_validator("income_account")
    @classmethod
    def _account_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = value.strip()
        parts = name.split(":")
        if not name or any(not part.strip() for part in parts):
            raise ValueError(
                f"{value!r} is not an account's full name: give one the company has, e.g. "
                "'Project Income' or 'Income:Projects' for a sub-account (or null to use the "
                "items' own income accounts)"
            )
        if any(c in name for c in "\t\n\r") or any(len(part) > _QBO_NAME_MAX for part in parts):
            raise ValueError(
                f"{value[:40]!r}...: an account name in QuickBooks Online is one line of at "
                f"most {_QBO_NAME_MAX} characters per level; give the account's full name"
            )
        return ":".join(part.strip() for part in parts)


class TenantSettings(BaseModel):
    """Everything a tenant can configure about its integration (see ``docs/settings.md``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(
        True, description="Integration on/off; off skips events (nothing is lost upstream)."
    )
    entities: EntitySwitches = Field(
        default_factory=EntitySwitches, description="Per-entity-group switches."
    )
    sync_from: date | None = Field(
        None, description="Only transactions dated on or after this day are synced."
    )
    sync_type: Literal["automatic", "manual"] = Field(
        "automatic", description="manual: only sync_requested events are sent."
    )
    upper_case: bool = Field(False, description="Upper-case names sent to QuickBooks.")
    customer_name_format: str = Field(
        "{last_name}, {first_name}",
        description="Name of a person customer; placeholders first_name, last_name.",
    )
    use_company_name: bool = Field(
        True, description="A customer with a company name is named after the company."
    )
    job_name_format: str = Field(
        "{project_number} - {project_address}",
        description="Job name; placeholders name, project_number, project_address.",
    )
    ar_account: str | None = Field(
        None, description="Default A/R account (FullName) for invoices and payments."
    )
    deposit_to: Literal["undeposited_funds", "account"] = Field(
        "undeposited_funds", description="Where payments go: Undeposited Funds or an account."
    )
    deposit_account: str | None = Field(
        None, description="The bank account (FullName) when deposit_to is 'account'."
    )
    expense_export_status: Literal["paid", "paid_and_approved"] = Field(
        "paid_and_approved", description="Which bills are exported."
    )
    invoices_to_be_printed: bool = Field(
        False, description="Mark invoices and credit memos 'to be printed'."
    )
    route_1099_to_vendor: bool = Field(
        True, description="1099 workers become QuickBooks vendors, not employees."
    )
    contract_number_as_id: bool = Field(
        False, description="Procore: the commitment's contract number is its RefNumber."
    )
    retainage_item: str | None = Field(
        None, description="Other-charge item (FullName) for retainage on subcontractor invoices."
    )
    # -- issue 15: sales tax, which invoices sync, commitment numbers --------------------
    sales_tax_item: str | None = Field(
        None,
        description="Sales tax item or group (FullName) put on invoices, credit memos and "
        "estimates that name none; needed when the file charges sales tax and customers "
        "have no default tax item (else QuickBooks answers 3170/3180).",
    )
    sales_tax_codes: dict[str, str] = Field(
        default_factory=dict,
        description="The app's sales tax code names to QuickBooks codes (at most 3 "
        "characters, e.g. {'Taxable': 'Tax', 'Exempt': 'Non'}); 'Taxable', 'Non-Taxable' and "
        "'Exempt' are known without it.",
    )
    invoice_sync_statuses: list[DocumentStatus] = Field(
        default_factory=_not_drafts,
        description="Which app statuses of invoices, credit memos and estimates are sent "
        "(e.g. ['READY_FOR_SYNC']: only those marked ready for sync); others are skipped.",
    )
    commitment_id: Literal["contract_number", "explicit", "quickbooks"] = Field(
        "quickbooks",
        description="A commitment's RefNumber: its contract number, an explicit QuickBooks "
        "id the app gives (`qb_ref_number`; refused until given), or QuickBooks numbers it. "
        "contract_number_as_id=true means contract_number.",
    )

    qbo_item_defaults: QboItemDefaults = Field(
        default_factory=QboItemDefaults,
        description="QuickBooks Online: default income and expense accounts for items, and "
        "the tax code for invoice lines.",
    )
    qbo_project_defaults: dict[str, QboProjectDefaults] = Field(
        default_factory=dict,
        description="QuickBooks Online, per project (the app's job id): overrides of "
        "qbo_item_defaults for its invoices' lines.",
    )

    direction: dict[str, Direction] = Field(
        default_factory=dict,
        description="Per entity: to_quickbooks (default), from_quickbooks or two_way.",
    )
    match_existing: Literal["before_connected", "always", "never"] = Field(
        "before_connected",
        description="Before adding a transaction, look for one with the same RefNumber in "
        "QuickBooks and adopt it: for records dated before the tenant was connected "
        "(the first sync's backlog), always, or never. List records (customers, vendors, "
        "items ...) of the same name are adopted unless 'never'.",
    )
    conflict_policy: Policy = Field(
        "most_recent",
        description="Two-way, a record changed on both sides: never (the app's version "
        "wins), most_recent (the later change wins) or always (QuickBooks' version wins).",
    )
    conflict: dict[str, Policy] = Field(
        default_factory=dict, description="Per entity: overrides conflict_policy."
    )

    @field_validator("sales_tax_codes")
    @classmethod
    def _tax_codes(cls, value: dict[str, str]) -> dict[str, str]:
        long = sorted(f"{name}={code}" for name, code in value.items() if not 0 < len(code) <= 3)
        if long:
            raise ValueError(
                f"QuickBooks sales tax codes have 1 to 3 characters; fix {', '.join(long)}"
            )
        return value

    @field_validator("direction", "conflict")
    @classmethod
    def _two_way_entities(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - TWO_WAY_ENTITIES)
        if unknown:
            raise ValueError(
                f"unknown entity {', '.join(map(repr, unknown))}; allowed:"
                f" {', '.join(sorted(TWO_WAY_ENTITIES))}"
            )
        return value

    def tax_code(self, name: str) -> str:
        """The QuickBooks sales tax code for the app's code name: the tenant's own
        mapping, then the common names, else the name itself."""
        mine = {k.casefold(): v for k, v in self.sales_tax_codes.items()}
        key = name.strip().casefold()
        return mine.get(key) or COMMON_TAX_CODES.get(key) or name

    @field_validator("customer_name_format")
    @classmethod
    def _customer_format(cls, value: str) -> str:
        return _check_format(value, _NAME_FIELDS)

    @field_validator("job_name_format")
    @classmethod
    def _job_format(cls, value: str) -> str:
        return _check_format(value, _JOB_FIELDS)

    def qbo_defaults(self, project_id: str | None = None) -> QboItemDefaults:
        """The QBO item defaults, with the project's overrides (those it sets) on top."""
        override = self.qbo_project_defaults.get(project_id or "")
        if override is None:
            return self.qbo_item_defaults
        return self.qbo_item_defaults.model_copy(update=override.model_dump(exclude_none=True))

    def direction_of(self, entity: str) -> Direction:
        """The entity's direction; app → QuickBooks unless configured."""
        return self.direction.get(entity, "to_quickbooks")

    def conflict_of(self, entity: str) -> Policy:
        """The entity's conflict policy: its own, else the tenant's."""
        return self.conflict.get(entity, self.conflict_policy)


def _check_format(value: str, allowed: frozenset[str]) -> str:
    try:
        names = _placeholders(value)
    except ValueError as exc:
        raise ValueError(f"not a valid format ({exc})") from exc
    unknown = names - allowed
    if unknown:
        raise ValueError(f"unknown placeholder(s) {sorted(unknown)}; allowed: {sorted(allowed)}")
    return value


def _explain(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "settings"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = f"unknown setting; allowed: {', '.join(_allowed(problem['loc']))}"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def _allowed(location: tuple[int | str, ...]) -> list[str]:
    model: type[BaseModel] = EntitySwitches if location[:1] == ("entities",) else TenantSettings
    return sorted(model.model_fields)


def load_settings(stored: dict[str, Any] | None) -> TenantSettings:
    """The tenant's stored JSON as a model; ``None`` or ``{}`` means all defaults."""
    try:
        return TenantSettings.model_validate(stored or {})
    except ValidationError as exc:
        raise SettingsError(f"invalid tenant settings: {_explain(exc)}") from exc


def valid_settings(stored: Mapping[str, Any] | None) -> TenantSettings | None:
    """The stored JSON as a model, or None when it does not validate (whoever plans with
    it says why: ``invalid-settings``)."""
    try:
        return load_settings(dict(stored or {}))
    except SettingsError:
        return None


def apply_changes(
    current: TenantSettings | Mapping[str, Any], assignments: list[str]
) -> TenantSettings:
    """``key=value`` pairs (``entities.payments=false``, ``direction.vendor=two_way``).

    ``current`` may be the raw stored JSON, so a value that no longer validates can be
    fixed by setting it. ``true``, ``false`` and ``null`` are the JSON words; anything else
    is text that the model parses. The result is validated as a whole, so an invalid pair
    changes nothing.
    """
    if isinstance(current, TenantSettings):
        data = current.model_dump(mode="json")
    else:
        data = copy.deepcopy(dict(current))
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SettingsError(f"{assignment!r}: expected key=value")
        # Text stays text (pydantic parses "3", "2026-01-01"); only these words are special.
        value: Any = {"true": True, "false": False, "null": None}.get(raw.strip(), raw)
        head, dot, tail = key.partition(".")
        if dot:
            if head not in _DICTS:
                raise SettingsError(
                    f"{key}: only entities.<group>, direction.<entity>, conflict.<entity>,"
                    " qbo_item_defaults.<key> and qbo_project_defaults.<job id>.<key> take a"
                    " dotted key"
                )
            if not isinstance(data.get(head), dict):
                data[head] = {}
            if head == "qbo_project_defaults":  # qbo_project_defaults.<job id>.tax_code
                project, _, member = tail.rpartition(".")
                if not project:
                    raise SettingsError(f"{key}: expected {head}.<job id>.tax_code=<code>")
                data[head].setdefault(project, {})[member] = value
            else:
                data[head][tail] = value
        elif head in _DICTS:
            raise SettingsError(f"{key}: set one member, e.g. {head}.<name>=<value>")
        else:
            data[head] = value
    try:
        return TenantSettings.model_validate(data)
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from exc
