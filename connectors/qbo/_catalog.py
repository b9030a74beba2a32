"""What QuickBooks Online's fault codes mean, and what to do: the qbXML catalog's style
(:mod:`connectors.qbxml._catalog`) and its :class:`Category`/:class:`Explanation`, so the
worker, the dead letters and support read QBO's answers exactly like Desktop's.

Codes are Intuit's ``Fault.Error.code`` values (``../shared/qbo/README.md``, "Errors", from
Intuit's developer documentation); answers without a usable code are keyed by HTTP status
(``http-401`` ...). Actions (for fix-then-retry) name what qbsync does before sending again:
``refresh-token`` (OAuth), ``refresh-sync-token`` (re-read, decide by the overwrite rule,
resend), ``create-reference`` (the referenced record first).
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.qbo._records import QboResponse
from connectors.qbxml import Category, Explanation

__all__ = ["QBO_CATALOG", "explain_code", "explain_fault"]

TRANSIENT, FIX, PERMANENT = Category.TRANSIENT, Category.FIX_THEN_RETRY, Category.PERMANENT


def _e(
    code: str, category: Category, title: str, explanation: str, remedy: str, action: str = ""
) -> Explanation:
    return Explanation(code, category, title, explanation, remedy, action or None)


_RECONNECT = (
    "An administrator of the QuickBooks Online company connects qbsync again (qbsync qbo "
    "connect, or Connect to QuickBooks in the console); nothing waiting is lost meanwhile."
)

_ENTRIES: tuple[Explanation, ...] = (
    _e(
        "120",
        PERMANENT,
        "Authorization failure",
        "The QuickBooks Online user who connected qbsync is no longer an administrator, or "
        "access was removed.",
        _RECONNECT,
        "reconnect",
    ),
    _e(
        "500",
        PERMANENT,
        "Unsupported operation",
        "QuickBooks Online does not support this operation on this entity.",
        "Report it to support with the dead letter's id; the command cannot succeed as it is.",
    ),
    _e(
        "610",
        FIX,
        "Object not found",
        "The record the request points at was deleted in QuickBooks Online, or made inactive.",
        "qbsync forgets the old id and adds the record again; if it was made inactive on "
        "purpose, make it active in QuickBooks Online or unlink it in qbsync.",
        "forget-mapping",
    ),
    _e(
        "2020",
        PERMANENT,
        "Required parameter missing",
        "QuickBooks Online needs a field the request did not have (the detail names it).",
        "Complete the record in the app, then sync it again.",
    ),
    _e(
        "2050",
        PERMANENT,
        "Text too long",
        "A field is longer than QuickBooks Online takes (the detail gives the limit, e.g. "
        "100 characters for a name).",
        "Shorten it in the app, then sync it again.",
    ),
    _e(
        "2170",
        PERMANENT,
        "Invalid enumeration",
        "A field has a value QuickBooks Online does not accept (the detail names it).",
        "Correct the value in the app (or the mapping in qbsync's settings), then replay.",
    ),
    _e(
        "2500",
        FIX,
        "Invalid reference",
        "The request refers to a record (customer, item, account ...) that is inactive or "
        "missing in QuickBooks Online.",
        "qbsync adds the referenced record first when it manages it; otherwise make it active "
        "or create it in QuickBooks Online, then replay.",
        "create-reference",
    ),
    _e(
        "3001",
        TRANSIENT,
        "Throttled",
        "QuickBooks Online refused the request because this company had too many requests "
        "(500 a minute, 10 at a time).",
        "Nothing to do: qbsync waits as long as Intuit asks (Retry-After) and sends again.",
    ),
    _e(
        "3100",
        PERMANENT,
        "Application not authorized",
        "Intuit refused qbsync's access to this company (the app's connection was removed).",
        _RECONNECT,
        "reconnect",
    ),
    _e(
        "3200",
        FIX,
        "Authentication failed",
        "The access token expired or was revoked.",
        "qbsync refreshes the token by itself; if the refresh is refused, the company shows "
        "'reconnect needed'. " + _RECONNECT,
        "refresh-token",
    ),
    _e(
        "5010",
        FIX,
        "Stale object",
        "The record changed in QuickBooks Online since qbsync last wrote it (its SyncToken is "
        "newer than the one sent).",
        "qbsync reads the record again and decides by the tenant's overwrite rule (never, "
        "most recent, always); nothing to do unless it keeps happening.",
        "refresh-sync-token",
    ),
    _e(
        "6000",
        PERMANENT,
        "Business validation error",
        "QuickBooks Online refused the record for a business rule; its detail says which.",
        "Read the detail, correct the record in the app (or the setting in QuickBooks Online), "
        "then replay.",
    ),
    _e(
        "6140",
        PERMANENT,
        "Duplicate document number",
        "A transaction with this number already exists in QuickBooks Online.",
        "Link qbsync to the existing transaction (qbsync map match) if it is the same one, or "
        "renumber it in the app; then replay.",
    ),
    _e(
        "6190",
        PERMANENT,
        "Invalid company status",
        "The QuickBooks Online subscription ended or has a billing problem; Intuit refuses "
        "writes to the company.",
        "The company's owner resolves the subscription with Intuit; then replay the dead "
        "letters of this company.",
    ),
    _e(
        "6210",
        PERMANENT,
        "Books closed",
        "The transaction's date is in a period closed in QuickBooks Online.",
        "Ask the accountant to move the closing date (Account and settings > Advanced > "
        "Close the books) or change the transaction's date in the app; then replay.",
    ),
    _e(
        "6240",
        PERMANENT,
        "Duplicate name",
        "Another customer, vendor or employee in QuickBooks Online already has this display "
        "name; display names are unique across the three.",
        "Rename the record in the app (or the existing one in QuickBooks Online), or link "
        "qbsync to the existing record (qbsync map match); then replay.",
    ),
    _e(
        "6540",
        PERMANENT,
        "Deposited transaction",
        "The transaction is part of a deposit and cannot be changed.",
        "Remove it from the deposit in QuickBooks Online, then replay.",
    ),
    _e(
        "10000",
        TRANSIENT,
        "Intuit application error",
        "QuickBooks Online had an internal error.",
        "Nothing to do: qbsync tries again later; if it lasts, check status.developer.intuit.com.",
    ),
    _e(
        "http-401",
        FIX,
        "Authentication failed",
        "The access token expired or was revoked.",
        "qbsync refreshes the token by itself. " + _RECONNECT,
        "refresh-token",
    ),
    _e(
        "http-403",
        PERMANENT,
        "Forbidden",
        "Intuit refused access to this company with this connection.",
        _RECONNECT,
        "reconnect",
    ),
    _e(
        "http-429",
        TRANSIENT,
        "Throttled",
        "Too many requests to this company (500 a minute, at most 10 at a time).",
        "Nothing to do: qbsync honours Retry-After and sends again.",
    ),
    _e(
        "http-500",
        TRANSIENT,
        "Intuit server error",
        "QuickBooks Online answered with a server error.",
        "Nothing to do: qbsync tries again with the same request id, so nothing is applied twice.",
    ),
    _e(
        "http-503",
        TRANSIENT,
        "Unavailable",
        "QuickBooks Online is unavailable or overloaded.",
        "Nothing to do: qbsync backs off and sends again with the same request id.",
    ),
    # qbsync's own refusals, checked against the company before a write (connectors.qbo._checks).
    _e(
        "-41",
        PERMANENT,
        "Before the company's start date",
        "The transaction is dated before the QuickBooks Online company's start date; qbsync "
        "does not send it (nothing was written).",
        "Date the transaction on or after the start date in the app, or move the company's "
        "start date in QuickBooks Online (Account and settings), then replay.",
    ),
    _e(
        "-42",
        PERMANENT,
        "More than 24 hours in one day",
        "With this entry the person's time in QuickBooks Online for that day would be more "
        "than 24 hours; qbsync does not send it (nothing was written).",
        "Correct the day's time entries in the app (or in QuickBooks Online), then replay.",
    ),
    _e(
        "-43",
        PERMANENT,
        "No such account in the company",
        "A reference given by name (a configured deposit account, an item's account or the "
        "tenant's default for it) names nothing in the QuickBooks Online company; nothing "
        "was written.",
        "Create it in QuickBooks Online, or correct the setting the message names "
        "(`qbsync tenant set`), then replay.",
    ),
    _e(
        "-44",
        PERMANENT,
        "No per-project item",
        "The project has its own income account (qbo_project_defaults.<job id>."
        "income_account), so each invoice line goes through a per-project copy of its item; "
        "that copy could not be made (an inventory item, or QuickBooks Online refused it); "
        "nothing was written.",
        "Use a service or non-inventory item on the project's invoices, or unset the "
        "setting (`qbsync tenant set`), then replay.",
    ),
)

QBO_CATALOG: Mapping[str, Explanation] = {entry.code: entry for entry in _ENTRIES}


def explain_code(code: str) -> Explanation:
    """The entry for one code (leading zeros dropped: ``003001`` is ``3001``); an unknown
    code is a permanent error whose remedy asks for the detail to be read."""
    key = (code.lstrip("0") or "0") if code.isdigit() else code
    found = QBO_CATALOG.get(key)
    if found is not None:
        return found
    return Explanation(
        key,
        PERMANENT,
        "QuickBooks Online refused the request",
        f"QuickBooks Online answered with code {key}, which qbsync does not know.",
        "Read QuickBooks Online's message in the dead letter, correct the record, then replay.",
        known=False,
    )


def explain_fault(response: QboResponse) -> Explanation:
    """The entry for a failed answer: its first error's code, else its HTTP status."""
    if response.status in (429, 503) or response.status >= 500:
        by_status = QBO_CATALOG.get(f"http-{response.status}") or QBO_CATALOG["http-500"]
        if response.status == 429 or not response.errors:
            return by_status
    if response.status == 401:
        return QBO_CATALOG["http-401"]
    for error in response.errors:
        if error.code:
            return explain_code(error.code)
    return QBO_CATALOG.get(f"http-{response.status}") or explain_code(f"http-{response.status}")
