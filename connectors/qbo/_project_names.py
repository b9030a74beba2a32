"""A project's name when another record in QuickBooks Online already has it.

QBO keeps one ``DisplayName`` per name across customers, vendors and employees, projects
(sub-customers) included: two clients each with a project "Phase 1" cannot both be called
that, and the second is refused with 6240. QuickBooks Desktop has no such rule (a job's name
is unique under its customer: ``Client A:Phase 1`` and ``Client B:Phase 1`` live side by side),
so the apps publish such projects and expect them to land.

What the sender does (decided here, sent by :class:`connectors.qbo.QboSender`):

- a project refused as a duplicate name is written again as ``"<name> (<client's name>)"``,
  the client's ``DisplayName`` read from QBO, under its own ``requestid`` (a re-drain after
  a crash sends the same two writes and Intuit answers the second from its first time). The
  name is deterministic, so the project's later updates (refused the same way) land under
  the same qualified name, and the result's message says which name QBO holds;
- ``match_existing`` adopts a record of the same name only when it is a project of the same
  client (:func:`same_project`): adopting another client's "Phase 1" would put this client's
  invoices under the wrong customer. A name held by anything else is qualified as above.

Read back (jobs Get), a project named ``"<name> (<client>)"`` under that client reaches the
apps as ``<name>`` (:func:`unqualified`, in ``connectors.qbo._imports``): the name qbsync
gave is QBO's constraint, not the app's data, and the app renaming its project to the
qualified name would only qualify it again. A bookkeeper who names a project that way by
hand is read the same way (the suffix repeats the client, which the app has as the
project's parent anyway).

Why qualify rather than dead-letter: the issue's integration syncs projects and
sub-customers, and two clients with the same project name is ordinary data for the apps
(a default job name format of the project's name, or a number reused per client). A tenant
who wants a different scheme puts the client in their job name format instead; then no
name collides and nothing here happens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from connectors.qbo._records import QboEntityRequest

__all__ = [
    "DISPLAY_NAME_MAX",
    "client_id",
    "is_project",
    "qualified",
    "same_project",
    "unqualified",
]

# Intuit: a Customer's DisplayName holds at most 500 characters.
DISPLAY_NAME_MAX = 500


def _ref_value(ref: object) -> str | None:
    value = ref.get("value") if isinstance(ref, Mapping) else None
    return None if value is None else str(value)


def is_project(request: QboEntityRequest) -> bool:
    """A project (sub-customer) write: a ``Customer`` with ``Job`` true under a client."""
    return (
        request.entity == "Customer"
        and request.body.get("Job") is True
        and client_id(request) is not None
    )


def client_id(request: QboEntityRequest) -> str | None:
    """The QBO Id of the project's client (its ``ParentRef``)."""
    return _ref_value(request.body.get("ParentRef"))


def same_project(request: QboEntityRequest, found: Mapping[str, Any]) -> bool:
    """Whether ``found`` (a record QBO has under the request's name) is this client's project,
    the only record a project may adopt."""
    return found.get("Job") is True and _ref_value(found.get("ParentRef")) == client_id(request)


def qualified(request: QboEntityRequest, client_name: str) -> QboEntityRequest:
    """The project's write under ``"<name> (<client>)"``; the name keeps its client part whole
    and shortens the project's own part when the two exceed :data:`DISPLAY_NAME_MAX`."""
    name = str(request.body.get("DisplayName") or "").strip()
    suffix = f" ({client_name.strip()})"
    room = max(DISPLAY_NAME_MAX - len(suffix), 1)
    renamed = f"{name[:room].rstrip()}{suffix}"[:DISPLAY_NAME_MAX]
    note = (
        f"named {renamed!r} in QuickBooks Online: {name!r} is another customer's, vendor's or "
        "employee's name there (display names are unique across them)"
    )
    return replace(
        request, body={**request.body, "DisplayName": renamed}, notes=(*request.notes, note)
    )


def unqualified(display_name: str, fully_qualified: str) -> tuple[str, str]:
    """A project's ``(name, full name)`` as the app has them: ``"Phase 1 (Birch Homes)"``
    under ``Birch Homes`` (``FullyQualifiedName`` ``"Birch Homes:Phase 1 (Birch Homes)"``)
    is ``("Phase 1", "Birch Homes:Phase 1")``; any other name is as QBO holds it. The client
    is the full name's part before the project's (display names make up QBO's full names)."""
    parent, sep, _own = fully_qualified.rpartition(":")
    client = parent.rpartition(":")[2]
    suffix = f" ({client})"
    if not sep or not client or not display_name.endswith(suffix):
        return display_name, fully_qualified
    name = display_name[: -len(suffix)].rstrip()
    if not name:
        return display_name, fully_qualified
    return name, f"{parent}:{name}"
