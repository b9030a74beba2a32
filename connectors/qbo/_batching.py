"""Which of a drain's commands go to QBO together through the batch endpoint: pure logic,
decided here and only executed by the sender (:mod:`connectors.qbo._sender`).

Intuit's batch (``POST /batch``, ``../shared/qbo/README.md``, "Limits"): at most 30
``BatchItemRequest`` items, each answered on its own by its ``bId``; the items are
independent and unordered, and an item does not see what an earlier item of the same
payload created (Intuit's developer blog, "What are Batch Operations and Why They are
Important to You", 2017-07-27). So a batch may only hold commands whose outcome does not
depend on each other or on their order; :func:`plan` groups the commands of one drain, in
offset order, into steps:

- a :class:`Batch`: a run of at least two consecutive **independent creates** (at most
  ``max_items``). A create is batchable when it is a plain ``CREATE``: no checks against the
  company (``start-date``, ``day-limit``, ``names``: each asks QBO before the write), and not
  a transaction matched by number before it is created (``match_existing`` on an invoice:
  a read first). A batch ends before a command that writes a record already in it (the
  same tenant, entity and id: order per record), that depends on one in it
  (``depends_on``), or that names what one in it names (a ``DisplayName``, unique across
  customers, vendors and employees; a ``Name`` or ``DocNumber`` of the same entity), so the
  outcome is the one the commands would have one by one in offset order;
- a :class:`Single`: everything else (updates, ensures, deletes, voids, checked creates,
  commands that are not QBO requests), sent as today, one request each.

The plan depends only on the commands themselves (their offsets, records and bodies),
never on time or the limiter: a re-drain of the same commands from the same committed
offset composes the same batches (the sender's ``requestid`` of a batch relies on it; a
re-drain that read fewer commands than the first is handled there).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from connectors.qbo._records import QboEntityRequest, QboOperation

__all__ = ["BATCH_ITEMS", "MATCHED_BY_NUMBER", "Batch", "Planned", "Single", "plan"]

# Intuit: at most 30 items per batch request (one newer source says 50: 30 is used).
BATCH_ITEMS = 30
# Transactions looked up by number before they are created when match_existing (a read
# first: never batched).
MATCHED_BY_NUMBER = frozenset({"Invoice"})
# Fields QBO keeps unique, as rules: field -> whether the namespace is shared by every
# entity that has it (DisplayName: customers, vendors and employees) or per entity.
_UNIQUE: Mapping[str, bool] = {"DisplayName": True, "Name": False, "DocNumber": False}


@dataclass(frozen=True)
class Planned:
    """What the planner needs of one fetched command."""

    record: tuple[str, str, str]  # (tenant, entity, entity id): which record it writes
    request: QboEntityRequest | None  # None: not a QBO request (a dead letter)
    depends_on: tuple[str, ...] = ()  # 'entity:entity_id' of the same tenant
    match_existing: bool = False


@dataclass(frozen=True)
class Single:
    index: int  # into the planned commands


@dataclass(frozen=True)
class Batch:
    indices: tuple[int, ...]  # consecutive, in offset order, at least two


Step = Single | Batch


def batchable(item: Planned) -> bool:
    """A plain create QBO can take in a batch: see the module's docstring."""
    request = item.request
    if request is None or request.operation is not QboOperation.CREATE or request.checks:
        return False
    return not (item.match_existing and request.entity in MATCHED_BY_NUMBER)


def _unique_keys(request: QboEntityRequest) -> set[tuple[str, str]]:
    keys = set()
    for name, shared in _UNIQUE.items():
        value = request.body.get(name)
        if isinstance(value, str) and value.strip():
            space = name if shared else f"{request.entity}.{name}"
            keys.add((space, value.strip().casefold()))
    return keys


@dataclass
class _Open:
    """The batch being filled."""

    indices: list[int]
    records: set[tuple[str, str, str]]
    names: set[tuple[str, str]]

    def admits(self, item: Planned, names: set[tuple[str, str]]) -> bool:
        tenant = item.record[0]
        if item.record in self.records or names & self.names:
            return False
        for dependency in item.depends_on:
            entity, _, entity_id = dependency.partition(":")
            if (tenant, entity, entity_id) in self.records:
                return False
        return True

    def add(self, index: int, item: Planned, names: set[tuple[str, str]]) -> None:
        self.indices.append(index)
        self.records.add(item.record)
        self.names |= names


def plan(items: Sequence[Planned], max_items: int = BATCH_ITEMS) -> list[Step]:
    """The steps that send ``items`` (one drain's commands, in offset order): every index
    once, in order; see the module's docstring. ``max_items`` below 2 plans no batch."""
    steps: list[Step] = []
    current: _Open | None = None

    def close() -> None:
        nonlocal current
        if current is not None:
            if len(current.indices) == 1:
                steps.append(Single(current.indices[0]))
            else:
                steps.append(Batch(tuple(current.indices)))
        current = None

    for index, item in enumerate(items):
        if max_items < 2 or not batchable(item):
            close()
            steps.append(Single(index))
            continue
        assert item.request is not None
        names = _unique_keys(item.request)
        if current is not None and (
            len(current.indices) >= max_items or not current.admits(item, names)
        ):
            close()
        if current is None:
            current = _Open([], set(), set())
        current.add(index, item, names)
    close()
    return steps
