"""The batch planner (pure logic): which of a drain's commands go together through QBO's
batch endpoint. Each expectation follows from Intuit's rules (at most 30 items, items
independent and unordered, an item blind to what another created) and the sender's
guarantees (order per record, dependencies first), not from the implementation."""

from __future__ import annotations

from typing import Any

from connectors.qbo import QboEntityRequest, QboOperation
from connectors.qbo._batching import Batch, Planned, Single, plan


def create(
    entity_id: str,
    body: dict[str, Any] | None = None,
    *,
    entity: str = "Customer",
    tenant: str = "t-1",
    checks: tuple[str, ...] = (),
    depends_on: tuple[str, ...] = (),
    match_existing: bool = False,
) -> Planned:
    request = QboEntityRequest(
        QboOperation.CREATE, entity, body or {"DisplayName": entity_id}, checks
    )
    return Planned((tenant, entity.lower(), entity_id), request, depends_on, match_existing)


def other(operation: QboOperation, entity_id: str) -> Planned:
    request = QboEntityRequest(operation, "Customer", {"Id": "7", "SyncToken": "0"})
    return Planned(("t-1", "customer", entity_id), request)


def covers_each_index_once_in_order(steps: list[Single | Batch], count: int) -> None:
    seen = [i for s in steps for i in (s.indices if isinstance(s, Batch) else (s.index,))]
    assert seen == list(range(count))


def test_a_run_of_creates_goes_in_batches_of_at_most_30() -> None:
    items = [create(f"c-{n}") for n in range(100)]
    steps = plan(items)
    covers_each_index_once_in_order(steps, 100)
    assert [len(s.indices) for s in steps if isinstance(s, Batch)] == [30, 30, 30, 10]
    assert all(isinstance(s, Batch) for s in steps)


def test_anything_but_a_plain_create_goes_alone_and_splits_the_run() -> None:
    items = [
        create("a"),
        create("b"),
        other(QboOperation.UPDATE, "x"),  # 2
        create("c"),
        create("d"),
        other(QboOperation.SPARSE, "y"),  # 5
        other(QboOperation.ENSURE, "z"),  # 6
        other(QboOperation.DELETE, "w"),  # 7
        create("e", checks=("start-date",)),  # 8: asks QBO first
        create("f", entity="Invoice", body={"DocNumber": "1"}, match_existing=True),  # 9
        Planned(("", "", "#10"), None),  # 10: not a QBO request
        create("g"),
    ]
    steps = plan(items)
    covers_each_index_once_in_order(steps, len(items))
    assert steps == [
        Batch((0, 1)),
        Single(2),
        Batch((3, 4)),
        Single(5),
        Single(6),
        Single(7),
        Single(8),
        Single(9),
        Single(10),
        Single(11),  # a run of one is no batch
    ]


def test_a_customer_matched_by_name_is_still_batched() -> None:
    # Adopted on a 6240 answer, which a batch item gets as well: no read before the write.
    steps = plan([create("a", match_existing=True), create("b", match_existing=True)])
    assert steps == [Batch((0, 1))]


def test_a_record_written_twice_or_a_dependency_starts_a_new_batch() -> None:
    items = [
        create("a", {"DisplayName": "A"}),
        create("b", {"DisplayName": "B"}),
        create("a", {"DisplayName": "A 2"}),  # the same record again: after the first
        create("i-1", {"DocNumber": "I1"}, entity="Invoice", depends_on=("customer:b",)),
        create("c", {"DisplayName": "C"}),
    ]
    steps = plan(items)
    covers_each_index_once_in_order(steps, len(items))
    # "a" again closes the first batch; the invoice depends on "b" (in the first batch,
    # already closed), so it joins the second.
    assert steps == [Batch((0, 1)), Batch((2, 3, 4))]
    dependent = [create("b"), create("i-1", entity="Invoice", depends_on=("customer:b",))]
    assert plan(dependent) == [Single(0), Single(1)]


def test_a_dependency_of_another_tenant_does_not_split() -> None:
    items = [
        create("b", tenant="t-2"),
        create("i-1", entity="Invoice", body={"DocNumber": "1"}, depends_on=("customer:b",)),
    ]
    assert plan(items) == [Batch((0, 1))]


def test_names_qbo_keeps_unique_are_not_in_one_batch_twice() -> None:
    items = [
        create("c-1", {"DisplayName": "Acme"}),
        create("v-1", {"DisplayName": "ACME "}, entity="Vendor"),  # shared across lists
        create("i-1", {"Name": "Acme"}, entity="Item"),  # Name: per entity, no clash
        create("i-2", {"Name": "acme"}, entity="Item"),
        create("n-1", {"DocNumber": "7"}, entity="Invoice"),
        create("b-1", {"DocNumber": "7"}, entity="Bill"),  # another entity's number
    ]
    assert plan(items) == [Single(0), Batch((1, 2)), Batch((3, 4, 5))]


def test_the_plan_of_fewer_commands_is_the_same_up_to_the_last_batch() -> None:
    """What a re-drain that read fewer commands composes (the sender's requestid relies on
    batches starting at the same offsets)."""
    items = [create(f"c-{n}") for n in range(12)]
    items.insert(5, other(QboOperation.UPDATE, "x"))
    full = plan(items, max_items=4)
    for count in range(1, len(items) + 1):
        part = plan(items[:count], max_items=4)
        starts = [s.indices[0] if isinstance(s, Batch) else s.index for s in part]
        full_starts = [s.indices[0] if isinstance(s, Batch) else s.index for s in full]
        assert starts == full_starts[: len(starts)]


def test_batching_off_sends_each_alone() -> None:
    items = [create("a"), create("b")]
    assert plan(items, max_items=0) == [Single(0), Single(1)]
