"""In its own process a shard runs the garbage collector on a clock of its own (heap.py).

The young generations are collected every tick, a full collection only on the schedule or when
memory grew, and that one waits for a moment with no update in flight. These tests drive the
real collector of the test process through ``Heap.tick`` with a clock and an RSS they set, and
give the process its thresholds back afterwards.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from booking_bot.shard import heap
from harness.telegram import FakeTelegram

from .conftest import MakeTenants, Shards, serve

SCHEDULE = heap.Schedule(full_seconds=300.0, growth_bytes=64 << 20, idle_wait_seconds=1.0, middle_every=10)


class Node:
    """A cycle of one: only the cyclic collector can free it."""

    def __init__(self) -> None:
        self.me = self


class Machine:
    """The clock, the RSS and whether an update is in flight, as the heap sees them."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.rss = 200 << 20
        self.busy = False


@pytest.fixture()
def machine() -> Machine:
    return Machine()


@pytest.fixture()
def own(machine: Machine) -> Iterator[heap.Heap]:
    """A heap that owns the process' collector, as the shard's own process does."""
    h = heap.Heap(
        own_process=True,
        schedule=SCHEDULE,
        busy=lambda: machine.busy,
        clock=lambda: machine.now,
        rss=lambda: machine.rss,
    )
    h.watch()
    try:
        yield h
    finally:
        h.close()


def _young_garbage() -> weakref.ref[Node]:
    node = Node()
    return weakref.ref(node)


def _old_garbage() -> weakref.ref[Node]:
    """Garbage that sits in generation 2: it survived a collection of generation 1 while alive."""
    node = Node()
    gc.collect(1)  # moves the survivors of the young generations, node among them, to generation 2
    return weakref.ref(node)


def _ticks(h: heap.Heap, n: int) -> None:
    for _ in range(n):
        h.tick()


def test_young_garbage_is_freed_by_the_next_tick(own: heap.Heap) -> None:
    gone = _young_garbage()
    assert gone() is not None
    own.tick()
    assert gone() is None


def test_old_garbage_waits_for_the_full_collection(own: heap.Heap, machine: Machine) -> None:
    gone = _old_garbage()
    _ticks(own, 2 * SCHEDULE.middle_every)  # young and middle collections: none walks generation 2
    assert gone() is not None
    machine.now += SCHEDULE.full_seconds
    own.tick()
    assert gone() is None


def test_memory_growth_brings_the_full_collection_forward(own: heap.Heap, machine: Machine) -> None:
    gone = _old_garbage()
    machine.rss += SCHEDULE.growth_bytes - 1
    own.tick()
    assert gone() is not None
    machine.rss += 1
    own.tick()
    assert gone() is None


def test_growth_counts_from_the_memory_after_the_last_full_collection(
    own: heap.Heap, machine: Machine
) -> None:
    """Memory that stays (live data, not garbage) does not make every tick a full collection."""
    machine.rss += SCHEDULE.growth_bytes
    own.tick()  # full collection; the RSS stays where it is
    gone = _old_garbage()
    own.tick()
    assert gone() is not None


def test_a_due_full_collection_waits_for_a_moment_between_updates(own: heap.Heap, machine: Machine) -> None:
    gone = _old_garbage()
    machine.now += SCHEDULE.full_seconds
    machine.busy = True
    own.tick()
    machine.now += SCHEDULE.idle_wait_seconds / 2
    own.tick()
    assert gone() is not None
    machine.busy = False
    own.tick()
    assert gone() is None


def test_a_due_full_collection_waits_no_longer_than_its_limit(own: heap.Heap, machine: Machine) -> None:
    gone = _old_garbage()
    machine.now += SCHEDULE.full_seconds
    machine.busy = True
    own.tick()
    machine.now += SCHEDULE.idle_wait_seconds
    own.tick()
    assert gone() is None


def test_the_schedule_restarts_after_a_full_collection(own: heap.Heap, machine: Machine) -> None:
    machine.now += SCHEDULE.full_seconds
    own.tick()
    gone = _old_garbage()
    machine.now += SCHEDULE.full_seconds - 1
    own.tick()
    assert gone() is not None


def test_cpython_itself_starts_only_young_collections_in_a_shard_process(own: heap.Heap) -> None:
    seen: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            seen.append(info["generation"])

    gc.callbacks.append(record)
    try:
        kept: list[list[int]] = [[] for _ in range(30 * heap.SAFETY_THRESHOLD)]  # no tick interrupts it
    finally:
        gc.callbacks.remove(record)
    assert len(kept) == 30 * heap.SAFETY_THRESHOLD
    assert seen and set(seen) == {0}


def test_closing_gives_the_process_its_collector_back(machine: Machine) -> None:
    before = gc.get_threshold()
    h = heap.Heap(own_process=True, schedule=SCHEDULE, clock=lambda: machine.now, rss=lambda: machine.rss)
    h.watch()
    assert gc.get_threshold() != before
    h.close()
    assert gc.get_threshold() == before


def test_a_shard_inside_another_process_leaves_its_thresholds_alone(machine: Machine) -> None:
    before = gc.get_threshold()
    h = heap.Heap(schedule=SCHEDULE, clock=lambda: machine.now, rss=lambda: machine.rss)
    h.watch()
    try:
        assert gc.get_threshold() == before
    finally:
        h.close()


async def test_a_shard_process_collects_young_garbage_on_its_own(
    tg: FakeTelegram, shards: Shards, make_tenants: MakeTenants
) -> None:
    shard = await shards.new("shard-own", own_process=True)
    (a,) = await make_tenants(1)
    await serve(tg, shard, a)
    gone = _young_garbage()
    for _ in range(50):
        if gone() is None:
            break
        await asyncio.sleep(heap.Schedule().young_seconds)
    assert gone() is None
