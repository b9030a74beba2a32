"""What QuickBooks' status codes and the Web Connector's HRESULTs mean, and what to do.

One table, so the pipeline (retry or not), the gateway (what ``getLastError`` says) and
support (what the sync log shows) all give the same answer. Each entry has a class:

- ``ok``: nothing to do (0 OK, 1 "found nothing", and warnings: the request was processed);
- ``transient``: nothing is wrong with the request; QuickBooks was busy, locked or not
  reachable. Retry later, with backoff; the remedy says what a person can do if it lasts;
- ``fix-then-retry``: qbsync can fix it by itself, then send again: refresh the
  EditSequence (``action="refresh-edit-sequence"``), create the missing reference first
  (``"create-reference"``), or negotiate a lower qbXML version (``"renegotiate-version"``);
- ``permanent``: a person has to act (in QuickBooks or in the source app) before a retry
  can work; the remedy is written for the accountant.

The explanations paraphrase Intuit's SDK status-code appendix and the Web Connector
programmer's guide; the remedies include the seed products' own advice.

Some codes mean different things depending on the message: 3170 and 3180 (a Mod or an Add
failed) are transient only when the message says the record is in use, and 3140 (invalid
reference) can only be fixed by qbsync when the reference is missing, not when it points at
the wrong kind of account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = ["CATALOG", "HRESULTS", "VARIANTS", "Category", "Explanation", "Variant", "explain"]


class Category(StrEnum):
    OK = "ok"
    TRANSIENT = "transient"
    FIX_THEN_RETRY = "fix-then-retry"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Explanation:
    """The catalog's answer for one code (and message)."""

    code: str  # "3200", or "0x80040408" for an HRESULT
    category: Category
    title: str
    explanation: str
    remedy: str
    action: str | None = None  # for fix-then-retry: what qbsync does before retrying
    known: bool = True  # False: not in the catalog; explained from its range

    @property
    def retry(self) -> bool:
        """Whether sending again can succeed without a person."""
        return self.category in (Category.TRANSIENT, Category.FIX_THEN_RETRY)

    def describe(self) -> str:
        """One line for a log, a dead letter or ``getLastError``."""
        return f"{self.code} {self.title}: {self.explanation} {self.remedy}".strip()


def _e(
    code: str,
    category: Category,
    title: str,
    explanation: str,
    remedy: str,
    action: str | None = None,
) -> Explanation:
    return Explanation(code, category, title, explanation, remedy, action)


OK, TRANSIENT, FIX, PERMANENT = (
    Category.OK,
    Category.TRANSIENT,
    Category.FIX_THEN_RETRY,
    Category.PERMANENT,
)

_IN_USE = (
    "Someone has the record open or QuickBooks has it locked: close the record's window in "
    "QuickBooks (and any open dialog); qbsync tries again by itself."
)

_STATUSES: tuple[Explanation, ...] = (
    _e("0", OK, "OK", "QuickBooks processed the request.", ""),
    _e(
        "1",
        OK,
        "Nothing found",
        "The query found no matching record. That is an answer, not an error.",
        "",
    ),
    _e(
        "500",
        OK,
        "Some records not found",
        "The query was answered, but some of the records it asked for by id or name do not "
        "exist in QuickBooks.",
        "Check whether the missing records were deleted or renamed in QuickBooks.",
    ),
    _e(
        "530",
        OK,
        "Element ignored",
        "The request was processed, but QuickBooks ignored an element it does not support in "
        "this edition or version.",
        "No action needed; if a value is missing in QuickBooks, enter it there by hand.",
    ),
    _e(
        "3000",
        PERMANENT,
        "Invalid id",
        "An id in the request (ListID or TxnID) is not a valid QuickBooks id, often because "
        "it belongs to another company file.",
        "Check that the Web Connector opens the right company file; then unlink and sync the "
        "record again.",
    ),
    _e(
        "3100",
        PERMANENT,
        "Name already in use",
        "A record with this name already exists in QuickBooks. Names are unique, ignoring "
        "case, across customers, jobs, vendors, employees and other names.",
        "Rename the record in the app (or the existing one in QuickBooks), or link qbsync to "
        "the existing QuickBooks record; then retry.",
    ),
    _e(
        "3120",
        PERMANENT,
        "Record not found",
        "The record the request points at (by its QuickBooks id) no longer exists in this "
        "company file: it was deleted, or the file is not the one synced before.",
        "If it was deleted on purpose, unlink it in qbsync so it is added again; otherwise "
        "make sure the Web Connector opens the right company file.",
    ),
    _e(
        "3130",
        FIX,
        "Parent not found",
        "The parent named in the request (the customer of a job, the parent of a sub-item, "
        "account or class) does not exist in QuickBooks.",
        "qbsync adds the parent first and tries again; if the parent is not one qbsync "
        "manages, create it in QuickBooks with exactly that name.",
        action="create-reference",
    ),
    _e(
        "3140",
        FIX,
        "Missing reference",
        "The request refers to a record (customer, vendor, item, account, class, terms, "
        "sales tax code ...) that QuickBooks cannot find under that name or id.",
        "When it is a record qbsync synced (a customer, job, vendor or item deleted or "
        "merged in QuickBooks since), qbsync forgets the old id, asks the app to publish the "
        "record again, creates it and then sends the request again by itself. Otherwise "
        "create it in QuickBooks with exactly the same name, then retry.",
        action="create-reference",
    ),
    _e(
        "3150",
        PERMANENT,
        "Required element missing",
        "QuickBooks needs an element the request did not have (for example an item on a line).",
        "Complete the record in the app (a line without an item, a payment without a "
        "customer) and sync it again; if it keeps happening, report it to support.",
    ),
    _e(
        "3160",
        PERMANENT,
        "Record cannot be changed",
        "QuickBooks will not change or remove this record because other records depend on "
        "it: typically a payment that has already been included in a deposit (a summary "
        "deposit).",
        "In QuickBooks, remove the payment from the deposit (or change it by hand), then retry.",
    ),
    _e(
        "3170",
        PERMANENT,
        "QuickBooks refused the change",
        "QuickBooks could not save the change to an existing record; its own message says "
        "why (for example a missing sales tax code).",
        "Read QuickBooks' message: if a sales tax code is missing, give the customer or item a "
        "tax code in QuickBooks (or map one in qbsync); then retry.",
    ),
    _e(
        "3171",
        PERMANENT,
        "Closed period",
        "The transaction's date is on or before the company's closing date, so QuickBooks "
        "will not add or change it.",
        "Ask the accountant to move the closing date (Company > Set Closing Date) or change "
        "the transaction's date in the app; then replay it.",
    ),
    _e(
        "3175",
        TRANSIENT,
        "Record in use",
        "QuickBooks could not lock the record: someone has it open, a dialog is showing, or "
        "another user is working in the file.",
        "Close open windows and dialogs in QuickBooks; for large syncs, switch to single-user "
        "mode. qbsync tries again by itself.",
    ),
    _e(
        "3176",
        TRANSIENT,
        "List in use",
        "QuickBooks could not lock the list or record it needed, because another user or "
        "window is using it.",
        "Close open windows in QuickBooks or have other users pause; qbsync tries again by itself.",
    ),
    _e(
        "3180",
        PERMANENT,
        "QuickBooks refused the record",
        "QuickBooks could not save the new record; its own message says why.",
        "Read QuickBooks' message, correct the record in the app or the setting in QuickBooks, "
        "then retry.",
    ),
    _e(
        "3200",
        FIX,
        "Changed meanwhile",
        "The record changed in QuickBooks since qbsync last read it (someone edited it, or "
        "another export ran at the same time).",
        "qbsync reads the record again and resends the change. If it keeps happening, make "
        "sure another export to this company file is not running at the same time.",
        action="refresh-edit-sequence",
    ),
    _e(
        "3210",
        PERMANENT,
        "Invalid value",
        "A value in the request is not acceptable to QuickBooks here (for example a payment "
        "amount that does not match what it is applied to).",
        "Read QuickBooks' message, correct the value in the app, then retry.",
    ),
    _e(
        "3250",
        PERMANENT,
        "Feature turned off",
        "The request uses a feature that is turned off or not available in this QuickBooks "
        "edition (class tracking, inventory, multiple currencies, sales tax, estimates ...).",
        "Turn the feature on in QuickBooks (Edit > Preferences), or turn the matching option "
        "off in qbsync; then retry.",
    ),
    _e(
        "3260",
        PERMANENT,
        "Not allowed",
        "The QuickBooks user the Web Connector logs in as may not do this.",
        "In QuickBooks, as the administrator, give that user the needed rights "
        "(Company > Users > Set Up Users), then retry.",
    ),
    _e(
        "3261",
        PERMANENT,
        "No access to personal data",
        "qbsync was not allowed to read or write personal data (such as social security "
        "numbers) when it was authorised.",
        "In QuickBooks, as the administrator: Edit > Preferences > Integrated Applications > "
        "qbsync > Properties, allow access to personal data; then retry.",
    ),
    _e(
        "9001",
        PERMANENT,
        "Internal check failed",
        "QuickBooks reported an internal consistency error (an invalid checksum) while "
        "processing the request.",
        "Run File > Utilities > Verify Data in QuickBooks (and Rebuild Data if it finds "
        "problems), then retry; if it persists, contact support.",
    ),
)

_HRESULTS: tuple[Explanation, ...] = (
    _e(
        "0x80040400",
        PERMANENT,
        "Request not understood",
        "QuickBooks could not read the request document at all, so nothing in it was done.",
        "Nothing to do in QuickBooks: this is qbsync's error; support has the details.",
    ),
    _e(
        "0x80040408",
        TRANSIENT,
        "Could not start QuickBooks",
        "The Web Connector could not start QuickBooks on its computer.",
        "On the Web Connector's computer, open QuickBooks with the company file and log in; "
        "close any dialog QuickBooks shows at start-up. The next scheduled update retries.",
    ),
    _e(
        "0x8004040A",
        TRANSIENT,
        "Another company file is open",
        "QuickBooks has a different company file open than the one qbsync syncs.",
        "Open the synced company file in QuickBooks (or close QuickBooks); the next scheduled "
        "update retries.",
    ),
    _e(
        "0x80040410",
        TRANSIENT,
        "Wrong file mode",
        "The company file is open in a mode (single-user or multi-user) that does not allow "
        "this connection.",
        "Switch the file to the other mode (File > Switch to Single-user / Multi-user mode), "
        "or close QuickBooks and let the Web Connector open it.",
    ),
    _e(
        "0x80040414",
        TRANSIENT,
        "A dialog is open",
        "A window or message box is open in QuickBooks, so it cannot take requests.",
        "Close open dialogs in QuickBooks; the next scheduled update retries.",
    ),
    _e(
        "0x80040418",
        PERMANENT,
        "Not yet authorised",
        "qbsync has never been given access to this company file; only the QuickBooks "
        "administrator can grant it the first time.",
        "Log in to QuickBooks as the administrator, open the company file in single-user "
        "mode, run the Web Connector update and allow access when QuickBooks asks.",
    ),
    _e(
        "0x8004041A",
        PERMANENT,
        "Access refused",
        "qbsync is not allowed to access this company file.",
        "As the QuickBooks administrator: Edit > Preferences > Integrated Applications > "
        "Company Preferences, allow qbsync; then retry.",
    ),
    _e(
        "0x8004041B",
        TRANSIENT,
        "Company file locked",
        "QuickBooks could not lock what it needs to let qbsync in, usually because someone "
        "else is doing something that needs the file to themselves.",
        "Wait for the other user to finish (or close QuickBooks on other computers); the next "
        "scheduled update retries.",
    ),
    _e(
        "0x8004041D",
        PERMANENT,
        "Automatic login not allowed",
        "qbsync may access the file only while someone is logged in; it is not allowed to log "
        "in by itself.",
        "As the QuickBooks administrator: Edit > Preferences > Integrated Applications > "
        "qbsync > Properties, allow automatic login and choose the user; then retry.",
    ),
    _e(
        "0x80040420",
        PERMANENT,
        "Access denied by the user",
        "Someone answered No when QuickBooks asked whether qbsync may access the file.",
        "Run the Web Connector update again while logged in as the administrator and allow access.",
    ),
    _e(
        "0x80040422",
        TRANSIENT,
        "Single-user access needed",
        "The connection needs the file to itself, but another application is connected to it.",
        "Close the other integrated application (or wait for it to finish); the next scheduled "
        "update retries.",
    ),
    _e(
        "0x80040423",
        FIX,
        "qbXML version not supported",
        "This QuickBooks does not understand the qbXML version of the request.",
        "qbsync negotiates a lower version with the Web Connector and resends; if it persists, "
        "update QuickBooks.",
        action="renegotiate-version",
    ),
    _e(
        "0x80040424",
        TRANSIENT,
        "QuickBooks still starting",
        "QuickBooks has not finished starting up.",
        "Nothing to do; the next scheduled update retries.",
    ),
)

CATALOG: dict[str, Explanation] = {e.code: e for e in _STATUSES + _HRESULTS}
HRESULTS: dict[str, Explanation] = {e.code: e for e in _HRESULTS}

_IN_USE_MESSAGE = re.compile(
    r"\bin use\b|being used|\blocked\b|\block\b|another user"
    r"|currently (being )?(edited|modified)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Variant:
    """One message QuickBooks sends with a code that changes what the code means: when
    ``pattern`` matches the message (and ``kind``, if given, matches the record kind the
    message names: ``invalid reference to QuickBooks <kind>``), the entry's fields named in
    ``changes`` replace the code's own. The first matching variant of a code wins."""

    codes: tuple[str, ...]
    pattern: re.Pattern[str]
    changes: dict[str, object]
    kind: re.Pattern[str] | None = None
    name: str = ""  # what the variant is, for tests and docs


def _re(text: str) -> re.Pattern[str]:
    return re.compile(text, re.IGNORECASE)


# References qbsync matches by exact name and never creates: a 3140 about them needs a person.
_NEVER_CREATED = _re(
    r"^(Account|AR Account|AP Account|Class|SalesTaxCode|Sales Tax Code|ItemSalesTax|"
    r"ItemSalesTaxGroup|Terms|StandardTerms|DateDrivenTerms|PaymentMethod|Payment Method)$"
)
_REFERENCE = re.compile(r"invalid reference to QuickBooks ([A-Za-z /]+?) \"", re.IGNORECASE)
_ANY = _re(r"")

# Audited against the messages QuickBooks sends (the SDK's status appendix, the captured
# messages of integrations' users, and the sandbox, which sends them the same way): each
# variant names its cause and a remedy that fixes that cause.
VARIANTS: tuple[Variant, ...] = (
    Variant(
        ("3000",),
        _re(r"iteratorID"),
        {
            "category": TRANSIENT,
            "title": "Import iterator expired",
            "explanation": "QuickBooks no longer knows the iterator an import was reading "
            "pages with: iterators end with the Web Connector session that opened them.",
            "remedy": "Nothing to do: the import starts again from its watermark at the "
            "file's next session.",
        },
        name="iterator",
    ),
    Variant(
        ("3140",),
        _re(r"must be of type|of the wrong type|account type|must be deposited to|current asset"),
        {
            "category": PERMANENT,
            "action": None,
            "title": "Wrong kind of account",
            "explanation": "QuickBooks has the account, but an account of that type cannot "
            "be used there: a payment's deposit account must be a bank (or other current "
            "asset) account or Undeposited Funds, an invoice's AR account of type Accounts "
            "Receivable, a bill's AP account Accounts Payable. QuickBooks' message names the "
            "type it needs.",
            "remedy": "Point the reference at an account of the type QuickBooks names: map "
            "the app's account to one (`qbsync map match --entity account`) or change the "
            "tenant's deposit setting (`qbsync tenant set T deposit_to=account "
            "deposit_account='<bank account>'`); creating an "
            "account does not help. Then replay.",
        },
        name="wrong-account-type",
    ),
    Variant(
        ("3140",),
        _re(r"currency"),
        {
            "category": PERMANENT,
            "action": None,
            "title": "Currency does not match",
            "explanation": "Multicurrency is on and the referenced customer or account uses a "
            "currency that is neither the home currency nor the transaction's.",
            "remedy": "Use a customer and accounts in the transaction's (or the home) "
            "currency: change the customer's currency in QuickBooks or map the app's record "
            "to the right one, then replay.",
        },
        name="currency",
    ),
    Variant(
        ("3140",),
        _re(r"\binactive\b|is not active|has been made inactive"),
        {
            "category": PERMANENT,
            "action": None,
            "title": "Record inactive",
            "explanation": "The referenced record exists in QuickBooks but is inactive, and "
            "QuickBooks does not let new transactions use it.",
            "remedy": "Make it active again in QuickBooks (its list > Include inactive > Make "
            "Active), or map the app's record to an active one; then replay.",
        },
        name="inactive",
    ),
    Variant(
        ("3140",),
        _ANY,
        {
            "category": PERMANENT,
            "action": None,
            "title": "Name not found in QuickBooks",
            "explanation": "The request names an account, class, sales tax code or item, "
            "terms or payment method that does not exist in QuickBooks under that name. qbsync "
            "matches those by their exact name and never creates them.",
            "remedy": "Create it in QuickBooks under exactly the same name, or map the app's "
            "record to an existing one (`qbsync map match`); then replay.",
        },
        kind=_NEVER_CREATED,
        name="never-created",
    ),
    Variant(
        ("3160",),
        _re(r"deposit"),
        {
            "title": "Payment in a deposit",
            "explanation": "The payment has been deposited: a bookkeeper included it in a "
            "bank deposit from Undeposited Funds (a summary deposit), and QuickBooks does not "
            "let a deposited payment be changed or deleted.",
            "remedy": "In QuickBooks, remove the payment from the deposit (open the deposit, "
            "delete the payment's line, save); replay this dead letter so the change syncs "
            "(`qbsync dlq replay`); then add the payment back to the deposit.",
        },
        name="deposited-payment",
    ),
    Variant(
        ("3170", "3180"),
        _re(r"Sales Tax field|sales tax item"),
        {
            "category": PERMANENT,
            "title": "Sales tax item missing",
            "explanation": "The company file charges sales tax and the transaction names no "
            "sales tax item (ItemSalesTaxRef), and the customer has no default one either.",
            "remedy": "Set the tenant's sales tax item (`qbsync tenant set T "
            "sales_tax_item='<QuickBooks sales tax item or group>'`), or give the customer a "
            "default tax item in QuickBooks (Customer > Sales Tax Settings); then replay.",
        },
        name="sales-tax-item",
    ),
    Variant(
        ("3170", "3180"),
        _re(r"cannot be deleted"),
        {
            "category": PERMANENT,
            "title": "Record in use cannot be deleted",
            "explanation": "QuickBooks will not delete a list record that transactions use.",
            "remedy": "Make it inactive instead (deactivate it in the app: qbsync sends that "
            "as IsActive false).",
        },
        name="cannot-delete",
    ),
    Variant(
        ("3170", "3180"),
        _IN_USE_MESSAGE,
        {"category": TRANSIENT, "title": "Record in use", "remedy": _IN_USE},
        name="in-use",
    ),
    Variant(
        ("3170", "3180"),
        _re(r"tax code|tax"),
        {
            "title": "Sales tax code missing",
            "remedy": "Give the customer, job or item a sales tax code in QuickBooks (or map "
            "one in qbsync's settings), then retry.",
        },
        name="sales-tax-code",
    ),
)
_HEX = re.compile(r"(?:0x)?([0-9a-f]{8})", re.IGNORECASE)


def _normalise(code: int | str) -> str:
    if isinstance(code, int):
        return str(code) if code >= 0 else f"0x{code & 0xFFFFFFFF:08X}"
    text = code.strip()
    # Status codes have at most 4 digits; 8 digits are an HRESULT written without "0x".
    if text.lstrip("-").isdigit() and not (len(text) == 8 and text.startswith("8004")):
        return _normalise(int(text))
    match = _HEX.fullmatch(text)
    return f"0x{match.group(1).upper()}" if match else text


def _by_range(code: str) -> Explanation:
    if code.startswith("0x"):
        return Explanation(
            code,
            PERMANENT,
            "Web Connector error",
            "The Web Connector or QuickBooks' request processor reported an error.",
            "Check that QuickBooks is running with the right company file and that qbsync is "
            "authorised; support has the details.",
            known=False,
        )
    number = int(code) if code.lstrip("-").isdigit() else -1
    if 0 <= number < 500:
        return Explanation(
            code, OK, "Information", "QuickBooks processed the request.", "", known=False
        )
    if 500 <= number < 1000:
        return Explanation(
            code,
            OK,
            "Warning",
            "QuickBooks processed the request, with a warning.",
            "Check the record in QuickBooks.",
            known=False,
        )
    return Explanation(
        code,
        PERMANENT,
        "QuickBooks error",
        "QuickBooks refused the request.",
        "Read QuickBooks' message, correct the record, then retry; if unclear, contact support.",
        known=False,
    )


def explain(code: int | str, message: str | None = "") -> Explanation:
    """The catalog entry for a status code (``3200``, ``"3200"``) or an HRESULT
    (``"0x80040408"``, ``"80040408"``, or the signed int ``-2147220472``), adjusted by
    QuickBooks' message where the message changes the meaning."""
    key = _normalise(code)
    found = CATALOG.get(key) or _by_range(key)
    message = message or ""  # the Web Connector may send no message with an HRESULT
    named = _REFERENCE.search(message)
    for variant in VARIANTS:
        if key not in variant.codes or not variant.pattern.search(message):
            continue
        if variant.kind is not None and (
            named is None or not variant.kind.match(named.group(1).strip())
        ):
            continue
        return replace(found, **variant.changes)  # type: ignore[arg-type]
    return found
