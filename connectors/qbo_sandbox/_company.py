"""One simulated QBO company: entities with Ids and SyncTokens, Intuit's validation rules
that matter to a sync (as data), the change log CDC reads, and ``requestid`` answers.

Every operation returns ``(HTTP status, JSON body)`` as Intuit would; nothing here speaks
HTTP. Rules follow ``../shared/qbo/README.md``: display names unique across customers,
vendors and employees (6240), SyncToken is optimistic concurrency (5010), lists are made
inactive, transactions deleted or voided, closed books (6210), invalid references (2500).
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from connectors.qbo import qbo_account_problem
from connectors.qbo_sandbox._query import QueryError, parse_query

__all__ = ["ENTITIES", "Answer", "Company", "fault"]

Answer = tuple[int, dict[str, Any]]

# Entity name (as in URLs, lower case) -> QBO's name.
ENTITIES = {
    name.lower(): name
    for name in (
        "Customer",
        "Vendor",
        "Employee",
        "Item",
        "Account",
        "Class",
        "Invoice",
        "Estimate",
        "CreditMemo",
        "Payment",
        "Bill",
        "Purchase",
        "TimeActivity",
        "TaxCode",
    )
}
# Read only over the API (Intuit: a TaxCode is set up in QBO's screens or through the
# TaxService endpoint, not written as an entity).
_READ_ONLY = ("TaxCode",)
# A US company's two sales tax codes, whose Ids are their names (Intuit's US "TAX"/"NON").
_US_TAX_CODES = (("TAX", "Taxable", True), ("NON", "Non-taxable", False))
# Display names are unique across these three (6240).
_NAMED = ("Customer", "Vendor", "Employee")
# Unique by Name within their own list.
_NAME_FIELD = {"Item": "Name", "Account": "Name", "Class": "Name"}
_NAME_MAX = 100  # Intuit: an item's, account's or class's Name
_TRANSACTIONS = (
    "Invoice",
    "Estimate",
    "CreditMemo",
    "Payment",
    "Bill",
    "Purchase",
    "TimeActivity",
)
_REQUIRED = {
    "Item": ("Name",),
    "Account": ("Name",),
    "Class": ("Name",),
    "Invoice": ("CustomerRef", "Line"),
    "CreditMemo": ("CustomerRef", "Line"),
    "Estimate": ("CustomerRef", "Line"),
    "Bill": ("VendorRef", "Line"),
    # An expense paid at once: a check (PaymentType Check, a bank account) or a credit-card
    # charge (CreditCard, a credit-card account); Cash too.
    "Purchase": ("PaymentType", "AccountRef", "Line"),
    "Payment": ("CustomerRef", "TotalAmt"),
    "TimeActivity": ("NameOf", "TxnDate"),
}
# (field, entity referenced) checked on every write (2500 when missing or inactive).
_REFERENCES = {
    "Invoice": (("CustomerRef", "Customer"),),
    "CreditMemo": (("CustomerRef", "Customer"),),
    "Estimate": (("CustomerRef", "Customer"),),
    "Payment": (("CustomerRef", "Customer"),),
    "Bill": (("VendorRef", "Vendor"),),
    "Purchase": (("AccountRef", "Account"),),
}
# Account references checked when present (2500 when not an active account's Id): Intuit
# takes references by ``value``, a reference by name alone names nothing.
_ACCOUNT_REFERENCES = ("DepositToAccountRef", "IncomeAccountRef", "ExpenseAccountRef")
_PAYMENT_TYPES = ("Cash", "Check", "CreditCard")
_LINE_REFERENCES = {
    "SalesItemLineDetail": ("ItemRef", "Item"),
    "ItemBasedExpenseLineDetail": ("ItemRef", "Item"),
    "AccountBasedExpenseLineDetail": ("AccountRef", "Account"),
}


def now_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def fault(
    code: str,
    message: str,
    detail: str = "",
    element: str = "",
    *,
    kind: str = "ValidationFault",
    status: int = 400,
) -> Answer:
    error: dict[str, Any] = {"Message": message, "Detail": detail or message, "code": code}
    if element:
        error["element"] = element
    return status, {"Fault": {"Error": [error], "type": kind}, "time": now_text(datetime.now(UTC))}


@dataclass
class _Change:
    at: datetime
    entity: str
    entity_id: str
    operation: str  # Create, Update, Delete, Void


@dataclass
class Company:
    realm_id: str
    start_date: date = date(2020, 1, 1)
    closing_date: date | None = None
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    answered: dict[str, Answer] = field(default_factory=dict)  # requestid -> first answer
    queries: list[str] = field(default_factory=list)  # every query's text, in order
    # Ids created by earlier items of the batch being answered: Intuit's batch items do not
    # see what an earlier item of the same payload created (a reference to it is 2500).
    unseen: set[str] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _next_id: int = 1
    _next_doc: int = 1001
    _next_tax_code: int = 2

    def __post_init__(self) -> None:
        for name in ENTITIES.values():
            self.records.setdefault(name, {})
        # QBO's sample companies come with an item to sell; invoices need one.
        self._store("Item", {"Name": "Services", "Type": "Service", "Active": True}, "Create")
        for code, description, taxable in _US_TAX_CODES:
            self._tax_code(code, code, description, taxable)

    def _tax_code(self, code_id: str, name: str, description: str, taxable: bool) -> dict[str, Any]:
        moment = now_text(datetime.now(UTC))
        record = {
            "Id": code_id,
            "SyncToken": "0",
            "Name": name,
            "Description": description,
            "Active": True,
            "Taxable": taxable,
            "MetaData": {"CreateTime": moment, "LastUpdatedTime": moment},
        }
        self.records["TaxCode"][code_id] = record
        return record

    # -- admin (what a person does in QuickBooks Online) ----------------------------------

    def edit(self, entity: str, entity_id: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Someone changes a record in QBO's own screens: new SyncToken, new time."""
        with self.lock:
            record = self.records[entity][entity_id]
            record.update(copy.deepcopy(dict(changes)))
            return self._touch(entity, record, "Update")

    def remove(self, entity: str, entity_id: str) -> None:
        """Someone deletes a transaction, or merges a list record into another, in QBO's
        own screens: the Id is gone (reads and updates answer 610), CDC says Deleted."""
        with self.lock:
            del self.records[entity][entity_id]
            self.changes.append(_Change(datetime.now(UTC), entity, entity_id, "Delete"))

    def backdate(self, entity: str, entity_id: str, at: datetime) -> None:
        """A record entered long ago (a company with history): created and last changed
        at ``at``, so CDC (30 days at most) no longer sees it; only a query does."""
        with self.lock:
            record = self.records[entity][entity_id]
            record["MetaData"] = {"CreateTime": now_text(at), "LastUpdatedTime": now_text(at)}
            for change in self.changes:
                if change.entity == entity and change.entity_id == entity_id:
                    change.at = at

    def add_tax_code(self, name: str, description: str = "", *, taxable: bool = True) -> str:
        """Someone sets up a sales tax code in QBO (e.g. "GST" outside the US): its Id
        (a number, as Intuit gives any code but a US company's TAX and NON). Not in CDC,
        which Intuit does not offer for TaxCode."""
        with self.lock:
            code_id = str(self._next_tax_code)
            self._next_tax_code += 1
            self._tax_code(code_id, name, description or name, taxable)
            return code_id

    def all(self, entity: str) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(r) for r in self.records[entity].values()]

    # -- the API's operations -----------------------------------------------------------

    def create(self, entity: str, body: Mapping[str, Any]) -> Answer:
        record = copy.deepcopy(dict(body))
        for key in ("Id", "SyncToken", "MetaData", "sparse"):
            record.pop(key, None)
        problem = self._validate(entity, record, None)
        if problem:
            return problem
        if entity == "Payment" and not record.get("DepositToAccountRef"):
            # Intuit: "If you do not specify this account, payment is applied to the
            # Undeposited Funds account."
            record["DepositToAccountRef"] = self._undeposited_funds()
        stored = self._store(entity, record, "Create")
        return 200, {entity: copy.deepcopy(stored), "time": now_text(datetime.now(UTC))}

    def update(self, entity: str, body: Mapping[str, Any]) -> Answer:
        entity_id = str(body.get("Id", ""))
        if not entity_id:
            return fault(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Required parameter Id is missing in the request",
                "Id",
            )
        current = self.records[entity].get(entity_id)
        if current is None:
            return fault(
                "610",
                "Object Not Found",
                f"Object Not Found : Something you're trying "
                f"to use has been made inactive. Check the fields with accounts, "
                f"customers, items, vendors or employees. (Id {entity_id})",
            )
        if "SyncToken" not in body:
            return fault(
                "2020",
                "Required param missing, need to supply the required value for the API",
                "Required parameter SyncToken is missing",
                "SyncToken",
            )
        if str(body["SyncToken"]) != current["SyncToken"]:
            return fault(
                "5010",
                "Stale Object Error",
                "Stale Object Error : You and another "
                "user were working on the same thing. If you continue, you may "
                "overwrite changes they made.",
            )
        changes = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("sparse", "MetaData")}
        if body.get("sparse") is True:
            record = {**current, **changes}
        else:
            record = {"Id": entity_id, "MetaData": current["MetaData"], **changes}
            record.setdefault("Active", current.get("Active", True))
        problem = self._validate(entity, record, entity_id)
        if problem:
            return problem
        self.records[entity][entity_id] = record
        self._derive(entity, record)
        stored = self._touch(entity, record, "Update")
        return 200, {entity: copy.deepcopy(stored), "time": now_text(datetime.now(UTC))}

    def delete_or_void(self, entity: str, body: Mapping[str, Any], operation: str) -> Answer:
        if entity not in _TRANSACTIONS:
            return fault(
                "500",
                "Unsupported Operation",
                f"Operation {operation} is not supported for {entity}: make it inactive instead",
            )
        entity_id = str(body.get("Id", ""))
        current = self.records[entity].get(entity_id)
        if current is None:
            return fault("610", "Object Not Found", f"Object Not Found (Id {entity_id})")
        if str(body.get("SyncToken")) != current["SyncToken"]:
            return fault("5010", "Stale Object Error", "Stale Object Error")
        problem = self._closed(entity, current)
        if problem:
            return problem
        if operation == "delete":
            del self.records[entity][entity_id]
            self.changes.append(_Change(datetime.now(UTC), entity, entity_id, "Delete"))
            return 200, {
                entity: {"Id": entity_id, "status": "Deleted", "domain": "QBO"},
                "time": now_text(datetime.now(UTC)),
            }
        for line in current.get("Line", []):
            line["Amount"] = 0
        current["PrivateNote"] = "Voided"
        self._derive(entity, current)
        stored = self._touch(entity, current, "Void")
        return 200, {entity: copy.deepcopy(stored), "time": now_text(datetime.now(UTC))}

    def read(self, entity: str, entity_id: str) -> Answer:
        found = self.records[entity].get(entity_id)
        if found is None:
            return fault("610", "Object Not Found", f"Object Not Found (Id {entity_id})")
        return 200, {entity: copy.deepcopy(found), "time": now_text(datetime.now(UTC))}

    def company_info(self) -> Answer:
        """``GET /companyinfo/<realm>``: the company's settings a sync needs (its start
        date; Intuit's CompanyInfo has many more fields)."""
        info = {
            "Id": "1",
            "SyncToken": "0",
            "CompanyName": f"Sandbox Company {self.realm_id}",
            "CompanyStartDate": self.start_date.isoformat(),
            "Country": "US",
        }
        return 200, {"CompanyInfo": info, "time": now_text(datetime.now(UTC))}

    def query(self, text: str) -> Answer:
        self.queries.append(text)
        try:
            query = parse_query(text)
        except QueryError as exc:
            return fault("4000", "Error parsing query", str(exc), kind="QueryParserError")
        entity = ENTITIES.get(query.entity.lower())
        if entity is None:
            return fault(
                "4000",
                "Error parsing query",
                f"QueryParserError: Invalid entity {query.entity}",
                kind="QueryParserError",
            )
        records: list[Mapping[str, Any]] = list(self.records[entity].values())
        if entity not in _TRANSACTIONS and not any(
            c.field.lower() == "active" for c in query.conditions
        ):
            # Intuit: a query of a list answers active records only, unless it asks for
            # inactive ones (``Active = false``, ``Active in (true, false)``).
            records = [r for r in records if r.get("Active") is not False]
        rows = query.run(records)
        out: dict[str, Any]
        if query.count:
            total = len([r for r in records if all(c.matches(r) for c in query.conditions)])
            out = {"totalCount": total}
        elif rows:
            out = {
                entity: copy.deepcopy(rows),
                "startPosition": query.start,
                "maxResults": len(rows),
            }
        else:
            out = {}
        return 200, {"QueryResponse": out, "time": now_text(datetime.now(UTC))}

    def cdc(self, entities: list[str], since: datetime, limit: int = 1000) -> Answer:
        now = datetime.now(UTC)
        if since < now - timedelta(days=30):
            return fault(
                "2170",
                "Invalid enumeration",
                "changedSince cannot be more than 30 days in the past",
                "changedSince",
            )
        wanted = []
        for name in entities:
            entity = ENTITIES.get(name.strip().lower())
            if entity is None:
                return fault("2170", "Invalid enumeration", f"Unknown entity {name}", "entities")
            wanted.append(entity)
        groups = []
        count = 0
        for entity in wanted:
            latest: dict[str, _Change] = {}
            for change in self.changes:
                if change.entity == entity and change.at > since:
                    latest[change.entity_id] = change
            rows: list[dict[str, Any]] = []
            for entity_id, change in sorted(latest.items(), key=lambda kv: kv[1].at):
                if count >= limit:
                    break
                count += 1
                if change.operation == "Delete":
                    rows.append(
                        {
                            "Id": entity_id,
                            "status": "Deleted",
                            "MetaData": {"LastUpdatedTime": now_text(change.at)},
                        }
                    )
                elif entity_id in self.records[entity]:
                    rows.append(copy.deepcopy(self.records[entity][entity_id]))
            groups.append(
                {entity: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {}
            )
        return 200, {"CDCResponse": [{"QueryResponse": groups}], "time": now_text(now)}

    # -- rules ------------------------------------------------------------------------

    def _validate(self, entity: str, record: dict[str, Any], own_id: str | None) -> Answer | None:
        if entity in _READ_ONLY:
            return fault(
                "500",
                "Unsupported Operation",
                f"Operation is not supported for {entity}: it is read only",
            )
        for name in _REQUIRED.get(entity, ()):
            if record.get(name) in (None, "", []):
                return fault(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    f"Required parameter {name} is missing in the request",
                    name,
                )
        if entity in _NAMED:
            problem = self._unique_display_name(entity, record, own_id)
            if problem:
                return problem
        for ref_field in _ACCOUNT_REFERENCES:
            if record.get(ref_field) is not None:
                problem = self._reference(record[ref_field], "Account", ref_field)
                if problem:
                    return problem
        if entity == "Customer" and record.get("ParentRef") is not None:
            problem = self._reference(record["ParentRef"], "Customer", "ParentRef")
            if problem:
                return problem
        if entity == "Account":
            said = qbo_account_problem(record.get("AccountType"), record.get("AccountSubType"))
            if said:
                element = "AccountType" if said.startswith("AccountType") else "AccountSubType"
                return fault("2170", "Invalid Enumeration", said, element)
        if entity == "Purchase" and record.get("PaymentType") not in _PAYMENT_TYPES:
            return fault(
                "2170",
                "Invalid Enumeration",
                f"PaymentType {record.get('PaymentType')!r} is not one of: "
                + ", ".join(_PAYMENT_TYPES),
                "PaymentType",
            )
        name_field = _NAME_FIELD.get(entity)
        if name_field and len(str(record.get(name_field, ""))) > _NAME_MAX:
            # Intuit's answer (quoted in consolibyte/quickbooks-php#79, there for 50).
            return fault(
                "2050",
                "String length is either shorter or longer than supported by specification",
                "String length specified does not match the supported length. "
                f"Min:0 Max:{_NAME_MAX} supported. "
                f"Supplied length:{len(str(record[name_field]))}",
                name_field,
            )
        if name_field:
            wanted = str(record.get(name_field, "")).strip().lower()
            for other_id, other in self.records[entity].items():
                if other_id != own_id and str(other.get(name_field, "")).lower() == wanted:
                    return fault(
                        "6240",
                        "Duplicate Name Exists Error",
                        "The name supplied "
                        f"already exists. : Another {entity.lower()} is already using "
                        f"this name. Id={other_id}",
                        name_field,
                    )
        for ref_field, target in _REFERENCES.get(entity, ()):
            problem = self._reference(record.get(ref_field), target, ref_field)
            if problem:
                return problem
        for line in record.get("Line") or []:
            if not isinstance(line, dict):
                return fault("2020", "Required param missing", "Line items must be objects", "Line")
            for detail, (ref_field, target) in _LINE_REFERENCES.items():
                if isinstance(line.get(detail), dict):
                    problem = self._reference(line[detail].get(ref_field), target, ref_field)
                    if problem:
                        return problem
            sale = line.get("SalesItemLineDetail")
            if isinstance(sale, dict) and sale.get("TaxCodeRef") is not None:
                problem = self._reference(sale["TaxCodeRef"], "TaxCode", "TaxCodeRef")
                if problem:
                    return problem
        if entity in _TRANSACTIONS:
            problem = self._closed(entity, record)
            if problem:
                return problem
            number = record.get("DocNumber")
            if number and entity == "Invoice":
                for other_id, other in self.records[entity].items():
                    if other_id != own_id and other.get("DocNumber") == number:
                        return fault(
                            "6140",
                            "Duplicate Document Number Error",
                            "Duplicate "
                            f"Document Number Error : You must specify a different "
                            f"number. This number has already been used. "
                            f"DocNumber={number}",
                            "DocNumber",
                        )
        return None

    def _unique_display_name(
        self, entity: str, record: dict[str, Any], own_id: str | None
    ) -> Answer | None:
        if not record.get("DisplayName"):
            parts = [record.get("GivenName"), record.get("FamilyName")]
            derived = " ".join(str(p) for p in parts if p) or record.get("CompanyName")
            if not derived:
                return fault(
                    "2020",
                    "Required param missing, need to supply the required value for the API",
                    "Required parameter DisplayName (or a name to derive it from) is missing",
                    "DisplayName",
                )
            record["DisplayName"] = str(derived)
        wanted = str(record["DisplayName"]).strip().lower()
        for kind in _NAMED:
            for other_id, other in self.records[kind].items():
                if (kind, other_id) == (entity, own_id):
                    continue
                if str(other.get("DisplayName", "")).strip().lower() == wanted:
                    return fault(
                        "6240",
                        "Duplicate Name Exists Error",
                        "The name supplied "
                        f"already exists. : Another customer, vendor or employee is "
                        f"already using this name. Id={other_id}",
                        "DisplayName",
                    )
        return None

    def _reference(self, ref: Any, target: str, ref_field: str) -> Answer | None:
        value = ref.get("value") if isinstance(ref, dict) else None
        found = self.records[target].get(str(value)) if value is not None else None
        if str(value) in self.unseen:
            found = None
        if found is None or found.get("Active") is False:
            return fault(
                "2500",
                "Invalid Reference Id",
                f"Invalid Reference Id : {target} "
                f"assigned to this transaction has been deleted or made inactive "
                f"({ref_field} {value})",
                ref_field,
            )
        return None

    def _closed(self, entity: str, record: Mapping[str, Any]) -> Answer | None:
        if self.closing_date is None:
            return None
        text = str(record.get("TxnDate") or date.today().isoformat())
        try:
            txn_date = date.fromisoformat(text[:10])
        except ValueError:
            return fault(
                "2170", "Invalid enumeration", f"TxnDate {text!r} is not a date", "TxnDate"
            )
        if txn_date <= self.closing_date:
            return fault(
                "6210",
                "Account Period Closed",
                "The account period has closed and "
                f"the {entity.lower()} cannot be added or changed: TxnDate "
                f"{txn_date.isoformat()} is on or before the closing date",
            )
        return None

    # -- storage ----------------------------------------------------------------------

    def _derive(self, entity: str, record: dict[str, Any]) -> None:
        if entity in ("Invoice", "Estimate", "CreditMemo", "Bill", "Purchase"):
            total = round(sum(float(line.get("Amount") or 0) for line in record["Line"]), 2)
            record["TotalAmt"] = total
            # What is still owed on an invoice or bill; what is left of a credit memo.
            if entity not in ("Estimate", "Purchase"):  # owed nothing: quoted, or paid
                record["RemainingCredit" if entity == "CreditMemo" else "Balance"] = total
            record.setdefault("TxnDate", date.today().isoformat())
        if entity in _NAMED or entity in _NAME_FIELD:
            record.setdefault("Active", True)
        # Intuit answers a reference with the record's name beside its Id, whatever name
        # (if any) the request gave: {"value": "58", "name": "Hopper, Grace"}.
        for ref_field, target in _REFERENCES.get(entity, ()):
            ref = record.get(ref_field)
            found = (
                self.records[target].get(str(ref.get("value"))) if isinstance(ref, dict) else None
            )
            if isinstance(ref, dict) and found is not None:
                ref["name"] = found.get("DisplayName") or found.get("Name")
        if entity == "Customer":
            # A sub-customer (project) is filed under its parent: "Parent:Project".
            parent = record.get("ParentRef") or {}
            above = self.records["Customer"].get(str(parent.get("value")))
            record["Job"] = above is not None and bool(record.get("Job", True))
            record["FullyQualifiedName"] = (
                f"{above['FullyQualifiedName']}:{record['DisplayName']}"
                if above is not None
                else record["DisplayName"]
            )

    def _undeposited_funds(self) -> dict[str, str]:
        """Every QBO company has an Undeposited Funds account (made here when first needed)."""
        for account in self.records["Account"].values():
            if account.get("AccountSubType") == "UndepositedFunds":
                return {"value": account["Id"], "name": account["Name"]}
        made = self._store(
            "Account",
            {
                "Name": "Undeposited Funds",
                "FullyQualifiedName": "Undeposited Funds",
                "AccountType": "Other Current Asset",
                "AccountSubType": "UndepositedFunds",
                "Active": True,
            },
            "Create",
        )
        return {"value": made["Id"], "name": made["Name"]}

    def _store(self, entity: str, record: dict[str, Any], operation: str) -> dict[str, Any]:
        entity_id = str(self._next_id)
        self._next_id += 1
        if entity in ("Invoice", "Estimate", "CreditMemo") and not record.get("DocNumber"):
            record["DocNumber"] = str(self._next_doc)
            self._next_doc += 1
        moment = now_text(datetime.now(UTC))
        record.update(
            Id=entity_id, SyncToken="-1", MetaData={"CreateTime": moment, "LastUpdatedTime": moment}
        )
        self._derive(entity, record)
        self.records[entity][entity_id] = record
        return self._touch(entity, record, operation)

    def _touch(self, entity: str, record: dict[str, Any], operation: str) -> dict[str, Any]:
        moment = datetime.now(UTC)
        record["SyncToken"] = str(int(record.get("SyncToken", "-1")) + 1)
        record["MetaData"] = {**record.get("MetaData", {}), "LastUpdatedTime": now_text(moment)}
        self.changes.append(_Change(moment, entity, record["Id"], operation))
        return record
