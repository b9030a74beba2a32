"""Carrying out a :class:`~streams.flows.Step` in the event loop: produce records, park
and release entries, remember what the apps were told once Kafka has it. Only here do the
agents touch the parking table (it is not thread-safe); every decision is a flow's, planned
in a thread through ``offload``: what a step releases (a mapped record's waiting events, a
dead record's followers, a requested sync's held events) is planned again there.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from streams._pipeline import Pipeline
from streams.flows import Record, Step
from streams.parking import Parked, ParkingLot, record_key
from streams.two_way import Change

__all__ = ["Offload", "carry_out", "release", "sweep_once"]

Offload = Callable[..., Awaitable[Any]]


async def carry_out(
    step: Step,
    pipeline: Pipeline,
    lot: ParkingLot,
    send: Callable[[Record], Awaitable[Any]],
    offload: Offload,
) -> None:
    """Do what a step says, in the event loop (the table is not thread-safe). Entries it
    releases are planned through ``offload`` (a thread: the store blocks), and their steps
    are carried out in turn, so a customer's result releases its invoice, whose result
    releases its payment."""
    for record in step.send:
        await send(record)
    changes = [c for c in step.changes if not pipeline.held_back(c, _parked(lot, c))]
    if changes:
        sent = [await send(change.record) for change in changes]
        # Remembered only once Kafka acknowledged them (``send`` may hand back the
        # delivery's future): a crash in between re-delivers, never loses.
        await asyncio.gather(*(s for s in sent if inspect.isawaitable(s)))
        await offload(pipeline.remember, changes)
    for key in step.unpark:
        lot.remove(key)
    for entry in step.park:
        lot.park(entry)
    for entry in step.touch:
        lot.touch(entry)
    for tenant_id, dependency in step.mapped:
        for entry in lot.waiting_on(tenant_id, dependency):
            if entry.kind != "manual":  # held until a sync is requested, mapped or not
                await release(entry, pipeline.replan, pipeline, lot, send, offload)
    for tenant_id, dependency in step.requested:
        entity, _, entity_id = dependency.partition(":")
        itself = lot.get(record_key(tenant_id, entity, entity_id))
        held = [itself] if itself is not None else []
        held += lot.waiting_on(tenant_id, dependency)
        for entry in held:
            if entry.kind == "manual":
                planner = partial(pipeline.replan, requested=True)
                await release(entry, planner, pipeline, lot, send, offload)
    for tenant_id, dependency, dead_letter_id in step.dead:
        for entry in lot.waiting_on(tenant_id, dependency):
            planner = partial(
                pipeline.blocked, dependency=dependency, dead_letter_id=dead_letter_id
            )
            await release(entry, planner, pipeline, lot, send, offload)


async def release(
    entry: Parked,
    planner: Callable[[Parked], Step],
    pipeline: Pipeline,
    lot: ParkingLot,
    send: Callable[[Record], Awaitable[Any]],
    offload: Offload,
) -> None:
    """Plan a parked entry again (in a thread) and carry out the result, unless the entry
    was released or replaced by a newer event of its record meanwhile: the other agent runs
    while this one waits for the thread, and the newer version must win."""

    def unchanged() -> bool:
        current = lot.get(entry.record)
        return current is not None and (current.kind, current.value) == (entry.kind, entry.value)

    if not unchanged():
        return
    follow = await offload(planner, entry)
    if unchanged():
        await carry_out(follow, pipeline, lot, send, offload)


async def sweep_once(
    pipeline: Pipeline,
    lot: ParkingLot,
    send: Callable[[Record], Awaitable[Any]],
    offload: Offload,
) -> None:
    """One tick of the clock: due retries sent, expired waits dead-lettered, stale waiting
    and paused entries planned again."""
    step, recheck = pipeline.sweep(lot)
    await carry_out(step, pipeline, lot, send, offload)
    for entry in recheck:
        await release(entry, pipeline.replan, pipeline, lot, send, offload)


def _parked(lot: ParkingLot, change: Change) -> Parked | None:
    return None if change.guard is None else lot.get(change.guard.record)
