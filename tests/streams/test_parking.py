"""The parking lot's own logic: serialization, the dependency index, recovery."""

from __future__ import annotations

from dataclasses import replace

from streams.parking import Parked, ParkingLot, record_key


def entry(entity_id: str, *waiting_on: str, kind: str = "waiting", **changes: object) -> Parked:
    base = Parked(
        kind="waiting",
        tenant_id="t-1",
        entity="invoice",
        entity_id=entity_id,
        value=b"\x00\xc3event",
        key=b"t-1",
        source_topic="qbsync.events",
        partition=3,
        offset=int(entity_id.split("-")[1]),
        parked_at=100.0,
        checked_at=100.0,
        reason="waiting",
        waiting_on=waiting_on,
    )
    return replace(base, kind=kind, **changes)  # type: ignore[arg-type]


def test_an_entry_survives_its_bytes() -> None:
    parked = entry("i-1", "customer:c-1|job:c-1", due_at=5.0, first_failed_at=1.5, key=None)
    assert Parked.loads(parked.dumps()) == parked


def test_alternatives_each_release_and_writes_go_to_the_entrys_partition() -> None:
    writes: list[tuple[int, bytes, bytes | None]] = []
    lot = ParkingLot({}, lambda p, k, v: writes.append((p, k, v)))
    lot.park(entry("i-1", "customer:c-1|job:c-1", "item:x"))
    assert [e.entity_id for e in lot.waiting_on("t-1", "job:c-1")] == ["i-1"]
    assert [e.entity_id for e in lot.waiting_on("t-1", "item:x")] == ["i-1"]
    assert lot.waiting_on("t-2", "job:c-1") == []  # another tenant's job
    lot.remove(record_key("t-1", "invoice", "i-1"))
    assert lot.waiting_on("t-1", "job:c-1") == []
    assert [(p, v is None) for p, _, v in writes] == [(3, False), (3, True)]
    assert lot.remove(record_key("t-1", "invoice", "i-1")) is None  # twice: nothing


def test_a_recovered_store_is_indexed_before_it_is_used() -> None:
    """What a restarted worker sees: the store filled from the changelog, not by park()."""
    first = ParkingLot({}, lambda *_: None)
    recovered: dict[bytes, bytes] = {}
    for parked in (entry("i-1", "customer:c-1"), entry("i-2", "customer:c-1")):
        recovered[parked.record] = parked.dumps()
    first.park(entry("i-9", "customer:c-9"))
    lot = ParkingLot(recovered, lambda *_: None)
    assert [e.entity_id for e in lot.waiting_on("t-1", "customer:c-1")] == ["i-1", "i-2"]
    recovered.clear()  # partitions revoked behind its back
    assert lot.waiting_on("t-1", "customer:c-1") == []


class _NoWalk(dict[bytes, bytes]):
    """A store that fails the test if the lot walks its keys."""

    walking_allowed = True

    def __iter__(self):  # type: ignore[no-untyped-def]
        assert self.walking_allowed, "the lot walked the store's keys"
        return super().__iter__()

    def keys(self):  # type: ignore[no-untyped-def]
        assert self.walking_allowed, "the lot walked the store's keys"
        return super().keys()

    def items(self):  # type: ignore[no-untyped-def]
        assert self.walking_allowed, "the lot walked the store's keys"
        return super().items()


def test_using_the_lot_does_not_walk_the_store() -> None:
    store = _NoWalk()
    lot = ParkingLot(store, lambda *_: None)
    for n in range(1, 50):
        lot.park(entry(f"i-{n}", "customer:c-1"))
    store.walking_allowed = False
    lot.remove(record_key("t-1", "invoice", "i-49"))  # the probe itself
    lot.remove(record_key("t-1", "invoice", "i-3"))
    lot.touch(entry("i-5", "customer:c-1", checked_at=200.0))
    assert len(lot) == 47
    assert lot.get(record_key("t-1", "invoice", "i-5")).checked_at == 200.0  # type: ignore[union-attr]
    assert len(lot.waiting_on("t-1", "customer:c-1")) == 47


def test_a_store_refilled_behind_its_back_is_read_again() -> None:
    """Recovery of the same size: other keys, or the same keys with other values."""
    store: dict[bytes, bytes] = {}
    lot = ParkingLot(store, lambda *_: None)
    lot.park(entry("i-1", "customer:c-1"))
    lot.park(entry("i-2", "customer:c-1"))
    store.clear()
    for parked in (entry("i-7", "customer:c-7"), entry("i-8", "customer:c-7")):
        store[parked.record] = parked.dumps()
    assert lot.waiting_on("t-1", "customer:c-1") == []
    assert [e.entity_id for e in lot.waiting_on("t-1", "customer:c-7")] == ["i-7", "i-8"]
    newer = entry("i-8", "customer:c-9")
    store[newer.record] = newer.dumps()  # the changelog's newer value of the probe
    assert [e.entity_id for e in lot.waiting_on("t-1", "customer:c-9")] == ["i-8"]


def test_due_expired_and_stale_pick_by_kind_and_time() -> None:
    lot = ParkingLot({}, lambda *_: None)
    lot.park(entry("i-1", "customer:c-1", parked_at=0.0, checked_at=0.0))
    lot.park(entry("i-2", kind="retry", due_at=50.0))
    lot.park(entry("i-3", kind="paused", parked_at=0.0, checked_at=90.0))
    assert [e.entity_id for e in lot.due(49.0)] == []
    assert [e.entity_id for e in lot.due(50.0)] == ["i-2"]
    assert [e.entity_id for e in lot.expired(101.0, limit_s=100)] == ["i-1"]  # never paused
    assert [e.entity_id for e in lot.stale(100.0, recheck_s=10, limit=5)] == ["i-1", "i-3"]
    assert [e.entity_id for e in lot.stale(100.0, recheck_s=10, limit=1)] == ["i-1"]
    assert lot.counts() == {"waiting": 1, "paused": 1, "retry": 1, "manual": 0}
