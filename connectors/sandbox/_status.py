"""QuickBooks' status codes with its own wording (from its answers and Intuit's code table).

Clients match on the code, people read the message: both should look like the real thing, so
a support engineer who has seen QuickBooks' "The provided edit sequence ... is out-of-date"
recognises it here.
"""

from __future__ import annotations

from lxml import etree

from connectors.sandbox._errors import SandboxError

__all__ = [
    "HRESULT_PARSE",
    "HRESULT_UNAVAILABLE",
    "PARSE_MESSAGE",
    "Failed",
    "bad_iterator",
    "bad_parent",
    "bad_reference",
    "cannot_delete",
    "closed_period",
    "empty_transaction",
    "list_in_use",
    "missing_element",
    "name_in_use",
    "no_match",
    "no_permission",
    "not_found",
    "partly_found",
    "rs_element",
    "save_failed",
    "stale_edit_sequence",
    "txn_in_use",
    "unsupported",
]

HRESULT_PARSE = "0x80040400"
HRESULT_UNAVAILABLE = "0x80040408"
PARSE_MESSAGE = "QuickBooks found an error when parsing the provided XML text stream."

_INVALID = (
    "QuickBooks error message: Invalid argument.  The specified record does not exist in the list."
)


class Failed(SandboxError):
    """A request QuickBooks refuses: its status code and message (nothing is changed).

    Control flow inside the request processor, turned into the request's ``*Rs`` status; it
    does not leave :meth:`CompanyFile.process`.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


def severity(code: int) -> str:
    return "Info" if code < 500 else "Warn" if code < 1000 else "Error"


def rs_element(name: str, request_id: str | None, code: int, message: str) -> etree._Element:
    """``<NameRs requestID statusCode statusSeverity statusMessage>``, in QuickBooks' order."""
    rs = etree.Element(f"{name}Rs")
    if request_id is not None:
        rs.set("requestID", request_id)
    rs.set("statusCode", str(code))
    rs.set("statusSeverity", severity(code))
    rs.set("statusMessage", message)
    return rs


def no_match() -> tuple[int, str]:
    return 1, "A query request did not find a matching object in QuickBooks"


def partly_found(value: str) -> tuple[int, str]:
    return (
        500,
        "The query request has not been fully completed. There was a required element "
        f'("{value}") that could not be found in QuickBooks.',
    )


def name_in_use(name: str) -> Failed:
    return Failed(3100, f'The name "{name}" of the list element is already in use.')


def not_found(identifier: str) -> Failed:
    return Failed(
        3120, f'Object "{identifier}" specified in the request cannot be found.  {_INVALID}'
    )


def bad_parent(kind: str, value: str) -> Failed:
    return Failed(
        3130, f'There is an invalid reference to a parent "{value}" in the {kind} list.  {_INVALID}'
    )


def bad_reference(target: str, value: str, obj: str, reason: str = _INVALID) -> Failed:
    return Failed(
        3140,
        f'There is an invalid reference to QuickBooks {target} "{value}" in the {obj}.  {reason}',
    )


def cannot_delete(kind: str, name: str) -> Failed:
    return Failed(
        3170,
        f'There was an error when deleting a {kind} list, element "{name}".  QuickBooks error '
        "message: This list element is in use and cannot be deleted; make it inactive instead.",
    )


def closed_period(obj: str, action: str) -> Failed:
    return Failed(
        3171,
        f"An attempt was made to {action} a {obj} with a date that is on or before the closing "
        "date of the company.  If you are sure you really want to do this, please ask a "
        "supervisor or your QuickBooks Administrator to change the closing date or to give you "
        "permission to modify transactions on or before the closing date.",
    )


def list_in_use(kind: str, name: str) -> Failed:
    return Failed(
        3175,
        f'There was an error when modifying a {kind} list, element "{name}".  QuickBooks error '
        "message: This record is in use by another QuickBooks user.",
    )


def txn_in_use(obj: str, txn_id: str) -> Failed:
    return Failed(
        3176,
        f'There was an error when modifying a {obj} "{txn_id}".  QuickBooks error message: '
        "This transaction is in use by another QuickBooks user.",
    )


def save_failed(obj: str, reason: str) -> Failed:
    return Failed(
        3180, f"There was an error when saving a {obj}.  QuickBooks error message: {reason}"
    )


def modify_failed(obj: str, reason: str) -> Failed:
    return Failed(
        3170, f"There was an error when modifying a {obj}.  QuickBooks error message: {reason}"
    )


def sales_tax_blank(obj: str, action: str) -> Failed:
    reason = "The Transaction Sales Tax field cannot be left blank."
    return save_failed(obj, reason) if action == "add" else modify_failed(obj, reason)


def in_deposit(obj: str, txn_id: str, action: str) -> Failed:
    verb = "deleting" if action == "delete" else "modifying"
    return Failed(
        3160,
        f'There was an error when {verb} a {obj} "{txn_id}".  QuickBooks error message: This'
        " payment has been deposited and cannot be changed. Remove it from the deposit first.",
    )


def empty_transaction(obj: str) -> Failed:
    return save_failed(obj, "The transaction is empty.")


def stale_edit_sequence(edit_sequence: str) -> Failed:
    return Failed(3200, f'The provided edit sequence "{edit_sequence}" is out-of-date. ')


def unsupported() -> Failed:
    return Failed(
        3250, "This feature is not enabled or not available in this version of QuickBooks."
    )


def no_permission() -> Failed:
    return Failed(3260, "Insufficient permission level to perform this action.")


def missing_element(name: str) -> Failed:
    return Failed(3150, f'There is a missing element: "{name}".')


def bad_iterator(iterator_id: str) -> Failed:
    return Failed(
        3000, f'The given object ID "{iterator_id}" in the field "iteratorID" is invalid.'
    )
