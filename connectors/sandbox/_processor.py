"""QuickBooks' request processor: one qbXML message set in, one response document out.

Each request runs in its own savepoint (a refused request changes nothing); the message set
commits as a whole before it is answered. ``stopOnError`` stops at the first error and
answers only the requests run so far; earlier requests stay applied, as in QuickBooks.

Error recovery (``newMessageSetID``/``oldMessageSetID``), as QuickBooks documents it and as
the sandbox decides where the documentation is thin:

- a message set with ``newMessageSetID="X"`` is run normally; its response is saved with the
  changes, in the same database transaction (so "applied" and "saved" cannot disagree).
  QuickBooks keeps the state of the *last* such message set only; so does the sandbox.
- a message set with ``oldMessageSetID="X"``, when X is the saved one, is not run: the saved
  response is returned (whatever requests it carries). That is how a client that lost an
  answer learns what happened without doing it twice.
- ``oldMessageSetID`` naming anything else: the requests are run as new; with no requests
  (a bare status check) the answer is empty with ``messageSetStatusCode="9002"`` (no saved
  state for that ID).
- ``oldMessageSetID="ClearAllMessageSets"`` forgets the saved state.
"""

from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from connectors.sandbox import _records as records
from connectors.sandbox import _status as status
from connectors.sandbox._catalog import KINDS, QUERY_GROUPS, Kind
from connectors.sandbox._context import Context
from connectors.sandbox._elements import format_time
from connectors.sandbox._errors import QuickBooksCrashed
from connectors.sandbox._faults import Faults
from connectors.sandbox._host import company_ret, host_ret, preferences_ret
from connectors.sandbox._queries import Iterators, deleted_txns, run_query
from connectors.sandbox._render import View, render
from connectors.sandbox._store import Store
from connectors.sandbox._validation import Envelope, read_envelope

__all__ = ["Processor"]

_CLEAR_ALL = "ClearAllMessageSets"
_NO_SAVED_STATE = "9002"
_OPERATIONS = ("Add", "Mod", "Query", "Del")


class Processor:
    """Runs message sets against one store; owns the session's iterators. Not thread-safe:
    :class:`CompanyFile` serialises every call."""

    def __init__(
        self,
        store: Store,
        faults: Faults,
        *,
        clock: Callable[[], float],
        company_name: Callable[[], str],
        versions: tuple[str, ...],
        schema: etree.XMLSchema | None,
    ) -> None:
        self.store = store
        self.faults = faults
        self.iterators = Iterators()
        self._clock = clock
        self._company_name = company_name
        self._versions = versions
        self._schema = schema

    def process(
        self, text: str, *, internal: bool = False, host_versions: tuple[str, ...] = ()
    ) -> str:
        """The response document; :class:`Refused` for a document QuickBooks would not run,
        :class:`QuickBooksCrashed` (after committing) when a crash is armed. ``internal``:
        the Web Connector's own Host/Company/Preferences queries (no faults; the host may
        report ``host_versions``)."""
        envelope = read_envelope(text, supported=self._versions, schema=self._schema)
        old, new = envelope.old_message_set_id, envelope.new_message_set_id
        if old == _CLEAR_ALL:
            self.store.run("delete from message_sets")
            old = None
        if old is not None:
            saved = self.store.one(
                "select response from message_sets where message_set_id = ?", (old,)
            )
            if saved is not None:
                return str(saved[0])
        requests = [r for r in envelope.messages if isinstance(r.tag, str)]
        out_root = etree.Element("QBXML")
        out = etree.SubElement(out_root, "QBXMLMsgsRs")
        if new is not None:
            out.set("newMessageSetID", new)
        if old is not None or new is not None:
            recovery_code = _NO_SAVED_STATE if old is not None and not requests else "0"
            out.set("messageSetStatusCode", recovery_code)
        with self.store.transaction():
            ctx = Context(self.store, self.faults, self._clock(), host_versions=host_versions)
            for request in requests:
                rs = self._one(ctx, request, envelope)
                out.append(rs)
                if envelope.stop_on_error and rs.get("statusSeverity") == "Error":
                    break
            body = etree.tostring(out_root, encoding="unicode", pretty_print=True)
            response = f'<?xml version="1.0" ?>\n{body}'
            if new is not None:
                self.store.run("delete from message_sets")
                self.store.run(
                    "insert into message_sets values (?, ?, ?)",
                    (new, response, format_time(ctx.now)),
                )
        if not internal and self.faults.take_crash():
            raise QuickBooksCrashed(
                f"QuickBooks stopped after applying {len(requests)} request(s), before answering"
            )
        return response

    def _one(self, ctx: Context, request: etree._Element, envelope: Envelope) -> etree._Element:
        name = str(request.tag).removesuffix("Rq")
        request_id = request.get("requestID")
        try:
            with self.store.savepoint():
                rs = self._dispatch(ctx, name, request)
        except status.Failed as failure:
            return status.rs_element(name, request_id, failure.code, failure.message)
        code, message, children, attributes = rs
        element = status.rs_element(name, request_id, code, message)
        for key, value in attributes.items():
            element.set(key, value)
        if envelope.include_data:
            element.extend(children)
        return element

    def _dispatch(
        self, ctx: Context, name: str, request: etree._Element
    ) -> tuple[int, str, list[etree._Element], dict[str, str]]:
        operation = next((op for op in _OPERATIONS if name.endswith(op)), "")
        obj = name.removesuffix(operation)
        if self.faults.is_revoked(name, obj):
            raise status.no_permission()
        ok = (0, "Status OK")
        if name == "HostQuery":
            return (*ok, [host_ret(ctx.host_versions or self._versions)], {})
        if name == "CompanyQuery":
            return (*ok, [company_ret(self._company_name())], {})
        if name == "PreferencesQuery":
            return (*ok, [preferences_ret(self.store.setting("closing_date"))], {})
        if name in ("ListDel", "TxnDel"):
            pairs = records.delete(ctx, "list" if name == "ListDel" else "txn", request)
            return (*ok, _elements(pairs), {})
        if name == "TxnDeletedQuery":
            answer = deleted_txns(self.store, request)
            return answer.code, answer.message, answer.rets, answer.attributes
        kind = KINDS.get(obj)
        if operation == "Query" and (kind is not None or name in QUERY_GROUPS):
            kinds = (kind,) if kind is not None else tuple(KINDS[k] for k in QUERY_GROUPS[name])
            answer = run_query(self.store, name, kinds, request, self.iterators)
            return answer.code, answer.message, answer.rets, answer.attributes
        body = request.find(name)
        if kind is not None and operation in ("Add", "Mod") and body is not None:
            change = records.add if operation == "Add" else records.modify
            record_id = change(ctx, kind, body)
            return (*ok, [self._rendered(kind, record_id)], {})
        raise status.unsupported()

    def _rendered(self, kind: Kind, record_id: str) -> etree._Element:
        table, column = ("lists", "list_id") if kind.family == "list" else ("txns", "txn_id")
        row = self.store.one(f"select * from {table} where {column} = ?", (record_id,))  # noqa: S608
        assert row is not None
        return render(self.store, row, View(lines=True, linked=True))


def _elements(pairs: list[tuple[str, str]]) -> list[etree._Element]:
    out: list[etree._Element] = []
    for name, value in pairs:
        if not value:
            continue
        element = etree.Element(name)
        element.text = value
        out.append(element)
    return out
