"""Per-project items: a project's own income account on its invoices (issue 19: "default
income/expense accounts and tax codes per item, overridable per project").

A QBO invoice line (``SalesItemLineDetail``) carries no account: QBO books it to its item's
``IncomeAccountRef``. Intuit documents ``SalesItemLineDetail.ItemAccountRef`` only for
invoice lines linked to a reimbursable charge (``LinkedTxn`` of type ``ReimburseCharge``,
``ItemRef`` 1), and its staff say the Invoice API does not otherwise support overriding a
line's posting (docs/qbo.md, "Per-project accounts", cites both). So a project whose
``qbo_project_defaults.<job>.income_account`` is set gets its own copy of each item its
invoices use: a flat item named ``"<item> (<project>)"`` (:func:`project_item_name`), of the
same type, price, description, tax settings and purchase side as the base item, booked to
the project's income account; each of the project's invoice lines refers to it.

The worker decides (``streams.rules._qbo.invoice``): a line of such a project carries the
base item's Id and, beside it, :data:`PROJECT_INCOME_ACCOUNT` (the account's name); the
command names the :data:`PROJECT_ITEMS` check. The sender executes here, before the
invoice's write (so the item exists before the invoice refers to it): the account's Id by
name, then the per-project item found by its name in the company (QBO's item names are
unique: the name is the mapping, which a restarted or another sender finds too), else
created; its Id replaces the base item's on the line and the marker is dropped. Found items
are kept per realm (bounded), so a second invoice of the project asks the company nothing.
A per-project item found with another income account (the override changed) is updated to
the project's account; one found inactive (made inactive in QBO, e.g. when the project
closed) is made active again, since the project's invoice needs it (the sync log says
"reactivated"): the alternatives were a dead letter until someone reactivates it by hand,
or booking the line to the base item's account, which silently drops the project's
override.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.qbo._client import QboClient
from connectors.qbo._records import QboEntityRequest, QboOperation, QboRequest, QboResponse

__all__ = [
    "NAME_MAX",
    "PROJECT_INCOME_ACCOUNT",
    "PROJECT_ITEMS",
    "NoProjectItem",
    "ProjectItem",
    "ProjectItems",
    "project_item_name",
]

# The marker on an invoice line's ``SalesItemLineDetail`` (never sent to Intuit) and the
# check that makes the sender act on it.
PROJECT_INCOME_ACCOUNT = "qbsyncProjectIncomeAccount"
PROJECT_ITEMS = "project-items"
# Intuit: an item's Name is at most 100 characters, unique, without ':' (the sub-item
# separator), tab or new line.
NAME_MAX = 100
# Item types that can be copied: an inventory item's copy would split its stock, and
# bundles and categories are not sold on a line as themselves.
_COPYABLE = ("Service", "NonInventory")
# What the copy keeps from the base item (besides Name, IncomeAccountRef).
_COPIED = (
    "Type",
    "Description",
    "UnitPrice",
    "Taxable",
    "SalesTaxIncluded",
    "SalesTaxCodeRef",
    "PurchaseDesc",
    "PurchaseCost",
    "ExpenseAccountRef",
)
_REQUEST_IDS = uuid.UUID("0b7f2c1e-5d3a-4f61-9a2e-7c41d8e5f903")


def project_item_name(item: str, project: str) -> str:
    """``"<item> (<project>)"``, at most :data:`NAME_MAX` characters: a longer one keeps its
    head and ends with a digest of the whole, so two long names stay two items."""

    def clean(text: str) -> str:
        return " ".join(text.replace(":", "-").split())

    full = f"{clean(item)} ({clean(project)})"
    if len(full) <= NAME_MAX:
        return full
    tail = f"~{hashlib.sha256(full.encode()).hexdigest()[:6]})"
    return full[: NAME_MAX - len(tail)].rstrip() + tail


@dataclass(frozen=True)
class NoProjectItem:
    """Why a line cannot have its per-project item: the account the company lacks (by
    name), or another reason."""

    reason: str
    missing_account: str | None = None


@dataclass(frozen=True)
class ProjectItem:
    item_id: str
    name: str
    created: bool
    reactivated: bool = False


class ProjectItems:
    """Finds or makes per-project items through ``client`` (within Intuit's limits)."""

    def __init__(self, client: QboClient, size: int = 4096) -> None:
        self._client = client
        self._size = size
        self._known: OrderedDict[tuple[str, str, str, str], tuple[str, str]] = OrderedDict()
        self._lock = threading.Lock()

    def forget(self, realm_id: str) -> None:
        """An Id was refused (2500): look the realm's items up again."""
        with self._lock:
            for key in [k for k in self._known if k[0] == realm_id]:
                del self._known[key]

    def apply(
        self,
        realm_id: str,
        body: Mapping[str, Any],
        account_id: Callable[[str], str | None],
    ) -> tuple[dict[str, Any], list[str]] | NoProjectItem:
        """``body`` (an invoice) with each marked line re-pointed at its per-project item,
        and what was done (for the sync log); or why it cannot be (a line's account the
        company lacks: the caller's ``account_id`` gives None; an item that cannot be
        copied)."""
        project = _value(body.get("CustomerRef"))
        lines: list[Any] = []
        notes: list[str] = []
        for line in body.get("Line") or []:
            detail = line.get("SalesItemLineDetail") if isinstance(line, Mapping) else None
            if not isinstance(detail, Mapping) or PROJECT_INCOME_ACCOUNT not in detail:
                lines.append(line)
                continue
            rest = {k: v for k, v in detail.items() if k != PROJECT_INCOME_ACCOUNT}
            account_name = str(detail[PROJECT_INCOME_ACCOUNT])
            base = _value(detail.get("ItemRef"))
            if project is None or base is None:  # the invoice is refused for these anyway
                lines.append({**line, "SalesItemLineDetail": rest})
                continue
            account = account_id(account_name)
            if account is None:
                return NoProjectItem(f"no Account named {account_name!r}", account_name)
            found = self._item(realm_id, base, project, account)
            if isinstance(found, NoProjectItem):
                return found
            rest["ItemRef"] = {"value": found.item_id, "name": found.name}
            lines.append({**line, "SalesItemLineDetail": rest})
            note = (
                f"per-project item {found.name!r} (Id {found.item_id}, "
                f"{_how(found)}) books to {account_name!r}"
            )
            if note not in notes:
                notes.append(note)
        return {**body, "Line": lines}, notes

    def _item(
        self, realm_id: str, base: str, project: str, account: str
    ) -> ProjectItem | NoProjectItem:
        key = (realm_id, base, project, account)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                self._known.move_to_end(key)
        if known is not None:
            return ProjectItem(known[0], known[1], created=False)
        item = self._read(realm_id, "Item", base)
        customer = self._read(realm_id, "Customer", project)
        if item is None or customer is None:
            what = "item" if item is None else "project"
            return NoProjectItem(
                f"the line's {what} (Id {base if item is None else project}) could not be read"
            )
        if item.get("Type") not in _COPYABLE:
            return NoProjectItem(
                f"item {item.get('Name')!r} is of type {item.get('Type')}: only service and "
                "non-inventory items get a per-project copy (an inventory item's stock would "
                "split)"
            )
        project_name = str(customer.get("DisplayName") or project)
        name = project_item_name(str(item.get("Name") or base), project_name)
        found = self._find(realm_id, name)
        created = False
        if found is None:
            values = {f: item[f] for f in _COPIED if item.get(f) is not None}
            values |= {"Name": name, "IncomeAccountRef": {"value": account}, "Active": True}
            answer = self._write(realm_id, QboOperation.CREATE, values, name)
            created = answer.ok
            # Not made: another writer's (6240) is looked up (inactive ones too).
            found = answer.entity("Item") if answer.ok else self._find(realm_id, name)
            if found is None:
                return NoProjectItem(
                    f"per-project item {name!r} could not be made: {_said(answer)}"
                )
        changes: dict[str, Any] = {}
        if _value(found.get("IncomeAccountRef")) != account:  # the setting changed since
            changes["IncomeAccountRef"] = {"value": account}
        reactivated = found.get("Active") is False  # made inactive in QBO: bills again
        if reactivated:
            changes["Active"] = True
        if changes:
            token = str(found.get("SyncToken", "0"))
            update = {"Id": found["Id"], "SyncToken": token, **changes}
            what = f"{name}/{account}/{token}" + ("/active" if reactivated else "")
            answer = self._write(realm_id, QboOperation.SPARSE, update, what)
            if not answer.ok:
                return NoProjectItem(
                    f"per-project item {name!r} could not be "
                    f"{'reactivated' if reactivated else 're-booked'}: {_said(answer)}"
                )
        found_id = str(found["Id"])
        with self._lock:
            self._known[key] = (found_id, name)
            while len(self._known) > self._size:
                self._known.popitem(last=False)
        return ProjectItem(found_id, name, created, reactivated)

    def _read(self, realm_id: str, entity: str, entity_id: str) -> Mapping[str, Any] | None:
        answer = self._client.send(QboRequest.read(realm_id, entity, entity_id))
        return answer.entity(entity) if answer.ok else None

    def _find(self, realm_id: str, name: str) -> Mapping[str, Any] | None:
        quoted = name.replace("\\", "\\\\").replace("'", "\\'")
        # QBO's query language, not SQL; the value is escaped as Intuit documents. Inactive
        # ones too: a name stays taken when its item is made inactive (a create is 6240).
        text = f"select * from Item where Name = '{quoted}' and Active in (true, false)"  # noqa: S608
        answer = self._client.send(QboRequest.query(realm_id, text))
        rows = (answer.body.get("QueryResponse") or {}).get("Item") if answer.ok else None
        return rows[0] if isinstance(rows, list) and rows else None

    def _write(
        self, realm_id: str, operation: QboOperation, values: Mapping[str, Any], what: str
    ) -> QboResponse:
        # The same item's write gets the same requestid: a retry after a time-out is
        # answered with the first write's result, never a second item.
        request_id = str(uuid.uuid5(_REQUEST_IDS, f"{realm_id}/{operation.value}/{what}"))
        request = QboEntityRequest(operation, "Item", values)
        return self._client.send(QboRequest.write(realm_id, request, request_id))


def _how(found: ProjectItem) -> str:
    if found.created:
        return "created"
    return "reactivated" if found.reactivated else "reused"


def _value(ref: object) -> str | None:
    value = ref.get("value") if isinstance(ref, Mapping) else None
    return str(value) if value else None


def _said(answer: QboResponse) -> str:
    first = answer.errors[0] if answer.errors else None
    return f"{first.code} {first.message}: {first.detail}" if first else f"HTTP {answer.status}"
