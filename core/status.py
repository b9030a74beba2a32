"""qbsync's own status codes, beside QuickBooks' (which are >= 0) in a result's
``status_code``: one enum, so the gateway, the QBO sender and the worker agree on them."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["Status"]


class Status(IntEnum):
    """A result QuickBooks did not give: qbsync's reason, as a negative code."""

    # QuickBooks returned no answer for the request (or one that could not be read).
    NO_ANSWER = -1
    # Held back because a record it depends on failed; sent once that record is fixed.
    BLOCKED = -2
    # Not written: QuickBooks' change to the same record wins under the tenant's policy.
    CONFLICT = -3
    # QuickBooks Online, refused before sending (connectors/qbo/_checks.py): a transaction
    # dated before the company's start date; an employee's day over 24 hours.
    BEFORE_START = -41
    OVER_A_DAY = -42
    # QuickBooks Online: a reference the command gives by name (a configured deposit or
    # item account, a tax code) names nothing in the company.
    UNKNOWN_NAME = -43
    # QuickBooks Online: a project's own income account needs a per-project copy of an
    # invoice line's item, which cannot be made (an inventory item, or QBO refused it).
    NO_PROJECT_ITEM = -44
