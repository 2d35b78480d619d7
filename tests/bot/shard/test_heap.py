"""A shard keeps its tenants' long-lived objects out of the garbage collector's walks (heap.py).

``Shard._settle_heap`` is what the janitor calls every few seconds; the tests call it directly.
Freezing is process-wide: the tests' shards freeze only where a test asks (``own_process``, as
``python -m booking_bot.shard`` does), and give the heap back when they close.
"""

from __future__ import annotations

import gc
import weakref

import pytest

from booking_bot.shard import heap
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.telegram import FakeTelegram

from .conftest import MakeTenants, Shards, entry, new_token, say, serve, wait_state

ANN = 1001


@pytest.fixture()
async def shard(shards: Shards) -> Shard:
    """A shard that freezes its heap, as the shard's own process does."""
    return await shards.new(own_process=True)


def _frozen(obj: object) -> bool:
    """Frozen objects are in no generation the collector walks."""
    return gc.is_tracked(obj) and not any(o is obj for o in gc.get_objects())


async def test_once_its_tenants_have_started_a_shard_freezes_what_they_keep(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, _ = await serve(tg, shard, a, b)
    services = shard.registry.runners[a.client_id].services
    assert services is not None and not _frozen(services)
    shard._settle_heap()
    assert _frozen(services) and _frozen(services.settings)
    assert f"Salon {a.client_id}" in (await say(tg, token_a, ANN, "/start")).text  # and serves on


async def test_a_shard_does_not_settle_while_a_tenant_is_still_starting(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    gate = shard.registry.shard.start_gate
    await gate.acquire()  # the start of `a` waits here (as behind 8 other starts)
    try:
        token = new_token(tg, a)
        shard.apply({a.client_id: entry(a, token)})
        await wait_state(shard, a.client_id, State.STARTING)
        shard._settle_heap()
        assert gc.get_freeze_count() == 0
    finally:
        gate.release()
    await wait_state(shard, a.client_id, State.SERVING)
    shard._settle_heap()
    assert gc.get_freeze_count() > 0


async def test_freezing_does_not_keep_a_removed_tenants_objects_alive(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    _, token_b = await serve(tg, shard, a, b)
    shard._settle_heap()
    services = shard.registry.runners[a.client_id].services
    assert services is not None
    gone = weakref.ref(services)
    del services
    shard.apply({b.client_id: entry(b, token_b)})
    await shard.registry.wait_stopped(a.client_id)
    shard._settle_heap()
    assert gone() is None
    assert gc.get_freeze_count() > 0  # frozen again afterwards


async def test_a_shard_inside_another_process_leaves_that_process_collector_alone(
    tg: FakeTelegram, shards: Shards, make_tenants: MakeTenants
) -> None:
    """A shard started in-process (the tests', by default) must not freeze the test process."""
    in_process = await shards.new("shard-in-process")
    (a,) = await make_tenants(1)
    await serve(tg, in_process, a)
    in_process._settle_heap()
    assert gc.get_freeze_count() == 0


async def test_a_shard_that_froze_its_heap_gives_it_back_when_it_closes(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    await serve(tg, shard, a)
    shard._settle_heap()
    assert gc.get_freeze_count() > 0
    await shard.close()
    assert gc.get_freeze_count() == 0


def test_a_long_collection_is_logged_as_a_pause_of_the_whole_shard(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(heap, "PAUSE_WARNING_SECONDS", 0.0)  # every collection counts as long
    watched = heap.Heap()
    watched.watch()
    try:
        gc.collect()
    finally:
        watched.close()
    watched.report_pauses()
    pauses = [r for r in caplog.records if getattr(r, "event", None) == "gc_pause"]
    assert pauses and getattr(pauses[0], "generation", None) == 2
