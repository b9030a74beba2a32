"""What every request handler needs: the store, the time, the faults, and the rules that are
the same for every kind of record (ids, EditSequence, references, locks, closing date).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from lxml import etree

from connectors.qbxml import parse_xml
from connectors.sandbox import _status as status
from connectors.sandbox._catalog import ACCOUNT_RULES, REF_TARGETS
from connectors.sandbox._elements import child_text, format_time
from connectors.sandbox._faults import Faults
from connectors.sandbox._store import Row, Store

__all__ = ["Context", "Reference", "iter_refs", "write_ref"]


@dataclass(frozen=True)
class Reference:
    """A ``*Ref`` element resolved to the record it names."""

    element: str
    list_id: str
    full_name: str
    kind: str


@dataclass
class Context:
    """One message set being processed (QuickBooks stamps all of it with one time)."""

    store: Store
    faults: Faults
    now: float
    obj: str = ""
    host_versions: tuple[str, ...] = ()

    # -- identity ------------------------------------------------------------------------

    @property
    def stamp(self) -> str:
        return format_time(self.now)

    @property
    def today(self) -> date:
        return date.fromisoformat(self.stamp[:10])

    def new_list_id(self) -> str:
        return f"{0x80000000 + self.store.counter('list'):X}-{int(self.now)}"

    def new_txn_id(self) -> str:
        """TxnIDs and TxnLineIDs share QuickBooks' transaction counter: ``1A2B-1700000000``."""
        return f"{self.store.counter('txn'):X}-{int(self.now)}"

    def edit_sequence(self, previous: str | None = None) -> str:
        """Seconds since the epoch, as QuickBooks writes it, but never the same twice for
        one record: a second change within the same second must still invalidate it."""
        value = int(self.now)
        if previous is not None and previous.isdigit():
            value = max(value, int(previous) + 1)
        return str(value)

    # -- rules ---------------------------------------------------------------------------

    def check_closing_date(self, obj: str, txn_date: str | None, action: str) -> None:
        closing = self.store.setting("closing_date")
        if closing and txn_date and txn_date[:10] <= closing:
            raise status.closed_period(obj, action)

    def check_locked(self, row: Row, failure: status.Failed) -> None:
        keys = (
            (row["list_id"], row["full_name"])
            if "list_id" in row.keys()  # noqa: SIM118 - sqlite3.Row has no __contains__
            else (row["txn_id"], row["ref_number"])
        )
        if self.faults.take_lock(*keys):
            raise failure

    def check_used_records_free(self, refs: list[Reference], obj: str) -> None:
        """Saving a transaction that uses a record someone else has open fails (3180)."""
        for ref in refs:
            if self.faults.take_lock(ref.list_id, ref.full_name):
                raise status.save_failed(
                    obj, f'The record "{ref.full_name}" is in use by another QuickBooks user.'
                )

    def resolve(self, ref: etree._Element, targets: tuple[str, ...]) -> Reference:
        """Find what a ``<XRef>`` names (ListID first, else FullName); 3140 if nothing."""
        list_id = child_text(ref, "ListID")
        full_name = child_text(ref, "FullName")
        row: Row | None = None
        if list_id:
            row = self.store.list_by_id(list_id, targets)
        elif full_name:
            row = self.store.list_by_name(targets, full_name)
        label = _target_label(str(ref.tag), targets)
        if row is None:
            raise status.bad_reference(label, list_id or full_name or "", self.obj)
        rule = ACCOUNT_RULES.get(str(ref.tag))
        if rule is not None and not ({_account_type(row), _special_type(row)} & set(rule)):
            raise status.bad_reference(
                label,
                list_id or full_name or "",
                self.obj,
                f"QuickBooks error message: The account must be of type {' or '.join(rule)}.",
            )
        return Reference(str(ref.tag), row["list_id"], row["full_name"], row["kind"])

    def resolve_all(self, element: etree._Element) -> list[Reference]:
        """Resolve every known ``*Ref`` in ``element`` (itself included; ``ParentRef`` is the
        caller's) and rewrite each as QuickBooks answers it: ``ListID`` then ``FullName``."""
        found: list[Reference] = []
        for ref in list(iter_refs(element)):
            reference = self.resolve(ref, REF_TARGETS[str(ref.tag)])
            write_ref(ref, reference.list_id, reference.full_name)
            found.append(reference)
        return found

    def default_ref(self, ret: etree._Element, tag: str, full_name: str) -> Reference | None:
        """QuickBooks fills some references in (the A/R account of an invoice ...)."""
        if ret.find(tag) is not None:
            return None
        row = self.store.list_by_name(REF_TARGETS[tag], full_name)
        if row is None:
            return None
        write_ref(etree.SubElement(ret, tag), row["list_id"], row["full_name"])
        return Reference(tag, row["list_id"], row["full_name"], row["kind"])


def write_ref(ref: etree._Element, list_id: str, full_name: str) -> None:
    for child in list(ref):
        ref.remove(child)
    etree.SubElement(ref, "ListID").text = list_id
    etree.SubElement(ref, "FullName").text = full_name


def iter_refs(element: etree._Element) -> Iterator[etree._Element]:
    for node in element.iter():
        if isinstance(node.tag, str) and node.tag in REF_TARGETS:
            yield node


def _target_label(tag: str, targets: tuple[str, ...]) -> str:
    if len(targets) == 1:
        return targets[0]
    if all(t.startswith("Item") for t in targets):
        return "Item"
    if tag == "TermsRef":
        return "Terms"
    return "Entity"


def _account_type(row: Row) -> str:
    return _element_text(row, "AccountType")


def _special_type(row: Row) -> str:
    return _element_text(row, "SpecialAccountType")


def _element_text(row: Row, tag: str) -> str:
    if row["kind"] != "Account":
        return ""
    return parse_xml(row["ret"]).findtext(tag) or ""
