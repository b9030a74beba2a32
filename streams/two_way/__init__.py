"""Two-way sync, in one place: what QuickBooks changed, back to the apps.

- :mod:`streams.two_way.from_quickbooks`: rules as data (``SHAPES``, mirroring
  ``streams.rules.ENTITY_RULES``): which QuickBooks record becomes which app record, and
  which kinds an import may ask for;
- :mod:`streams.two_way.news`: whether an imported record is news for the app (pure);
- :mod:`streams.two_way._changes`: a batch of imported records read against the store, then
  decided into change events (:func:`read`, then the pure :func:`reconcile`);
- :mod:`streams.two_way.matching`: matching an app's records to records already in the
  company file by id, name or RefNumber (pure; support's ``qbsync map``).

Conflicts (both sides changed a record) are decided by :mod:`core.conflicts`, where the
app's change meets QuickBooks' (the gateway, and :func:`streams.flows.reconcile.held_back`).
"""

from streams.two_way._changes import CHANGE, Change, Guard, Reconciled, Tenanted, read, reconcile
from streams.two_way.news import Deliver, Drop, Version, decide

__all__ = [
    "CHANGE",
    "Change",
    "Deliver",
    "Drop",
    "Guard",
    "Reconciled",
    "Tenanted",
    "Version",
    "decide",
    "read",
    "reconcile",
]
