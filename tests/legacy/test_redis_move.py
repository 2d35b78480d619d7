"""Redis DB n -> DB 0: legacy FSM keys of 15 clients (DB 1..15) into the new server's DB 0."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiogram.fsm.storage.base import StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from redis.asyncio import Redis

from booking_bot.storage import STATE_TTL_SECONDS, TenantKeyBuilder
from booking_legacy.redis_keys import RedisTarget, db_url, move_all, new_key
from booking_legacy.tree import read_tree
from harness.redis import RedisServer
from legacy.conftest import LegacyRedis
from legacy.legacy_tree import NO_REDIS, Tree

USERS_PER_CLIENT = 4
STATE = "BookingStates:choose_time"


@dataclass
class Seeded:
    tree: Tree
    target: RedisTarget
    dest: Redis
    source_url: str


async def seed(url: str, tree: Tree, dbs: range) -> None:
    """For each client on one of ``dbs``: state+data per user (TTL on even users), a lock, a stray key."""
    for client in tree.clients.values():
        if client.redis_db is None or client.redis_db not in dbs:
            continue
        legacy = Redis.from_url(db_url(url, client.redis_db))
        try:
            await legacy.flushdb()
            for n, user in enumerate(client.user_ids[:USERS_PER_CLIENT] or [client.index * 1_000_000 + 1]):
                ttl = 3600 if n % 2 == 0 else None
                await legacy.set(f"fsm:{user}:{user}:state", STATE, ex=ttl)
                await legacy.set(f"fsm:{user}:{user}:data", json.dumps({"service_id": n}), ex=ttl)
            await legacy.set(f"fsm:{client.index}:{client.index}:lock", "1", ex=60)
            await legacy.set("stats:visits", "42")
        finally:
            await legacy.aclose()


def expected_keys(tree: Tree, dbs: range) -> int:
    return sum(
        2 * max(1, min(USERS_PER_CLIENT, len(c.user_ids)))
        for c in tree.clients.values()
        if c.redis_db is not None and c.redis_db in dbs
    )


@pytest.fixture()
async def seeded(
    small_tree: Tree, legacy_redis: LegacyRedis, redis_server: RedisServer
) -> AsyncIterator[Seeded]:
    await seed(legacy_redis.admin_url, small_tree, range(1, 16))
    dest = Redis.from_url(redis_server.admin_url)
    try:
        yield Seeded(
            small_tree,
            RedisTarget(target_url=redis_server.admin_url, source_url=legacy_redis.admin_url),
            dest,
            legacy_redis.admin_url,
        )
    finally:
        async for key in dest.scan_iter(match=f"{small_tree.stem}_*", count=500):
            await dest.unlink(key)
        await dest.aclose()


async def prefixed(dest: Redis, client_id: str) -> list[str]:
    return sorted([k.decode() async for k in dest.scan_iter(match=f"{client_id}:*", count=500)])


async def test_fsm_keys_land_in_db0_under_the_prefix_in_the_new_bots_key_format(seeded: Seeded) -> None:
    results = await move_all(read_tree(seeded.tree.root).clients, seeded.target)
    assert all(r.ok for r in results)
    client = seeded.tree.client(5)
    builder = TenantKeyBuilder(f"{client.client_id}:")
    user = client.user_ids[0]
    storage_key = StorageKey(bot_id=client.bot_id, chat_id=user, user_id=user)
    wanted = {builder.build(storage_key, "state"), builder.build(storage_key, "data")}
    assert wanted <= set(await prefixed(seeded.dest, client.client_id))
    assert len(await prefixed(seeded.dest, client.client_id)) == 2 * USERS_PER_CLIENT


async def test_the_new_bot_reads_the_moved_state_and_data(seeded: Seeded) -> None:
    await move_all(read_tree(seeded.tree.root).clients, seeded.target)
    client = seeded.tree.client(6)
    storage = RedisStorage(
        seeded.dest, key_builder=TenantKeyBuilder(f"{client.client_id}:"), state_ttl=STATE_TTL_SECONDS
    )
    user = client.user_ids[1]
    key = StorageKey(bot_id=client.bot_id, chat_id=user, user_id=user)
    assert await storage.get_state(key) == STATE
    assert await storage.get_data(key) == {"service_id": 1}


async def test_counts_per_client_and_every_key_under_its_own_clients_prefix(seeded: Seeded) -> None:
    results = {r.client_id: r for r in await move_all(read_tree(seeded.tree.root).clients, seeded.target)}
    total = 0
    for client in seeded.tree.clients.values():
        result = results[client.client_id]
        keys = await prefixed(seeded.dest, client.client_id)
        assert result.copied == len(keys)
        total += len(keys)
        for key in keys:  # chat/user ids in the key belong to this client's users
            user = int(key.split(":")[3])
            assert user // 1_000_000 == client.index or user == 123456789  # the seed example
            assert key.startswith(f"{client.client_id}:fsm:{client.bot_id}:")
    assert total == expected_keys(seeded.tree, range(1, 16))
    assert results[seeded.tree.client(NO_REDIS).client_id].summary().endswith("nothing to move")


async def test_ttls_are_kept_and_keys_without_ttl_stay_without(seeded: Seeded) -> None:
    await move_all(read_tree(seeded.tree.root).clients, seeded.target)
    client = seeded.tree.client(8)
    with_ttl = new_key(
        f"fsm:{client.user_ids[0]}:{client.user_ids[0]}:state", client.client_id, client.bot_id
    )
    without = new_key(f"fsm:{client.user_ids[1]}:{client.user_ids[1]}:data", client.client_id, client.bot_id)
    assert with_ttl is not None and without is not None
    assert 3590_000 < await seeded.dest.pttl(with_ttl) <= 3600_000
    assert await seeded.dest.pttl(without) == -1


async def test_an_existing_key_in_db0_is_never_overwritten_and_counts_as_skipped(seeded: Seeded) -> None:
    client = seeded.tree.client(9)
    taken = new_key(f"fsm:{client.user_ids[0]}:{client.user_ids[0]}:state", client.client_id, client.bot_id)
    assert taken is not None
    await seeded.dest.set(taken, "NewBotState:already_here")
    (result,) = await move_all(read_tree(seeded.tree.root, [client.client_id]).clients, seeded.target)
    assert (result.copied, result.skipped) == (2 * min(USERS_PER_CLIENT, len(client.user_ids)) - 1, 1)
    assert await seeded.dest.get(taken) == b"NewBotState:already_here"


async def test_rerun_copies_nothing_and_skips_everything(seeded: Seeded) -> None:
    clients = read_tree(seeded.tree.root).clients
    first = await move_all(clients, seeded.target)
    second = await move_all(clients, seeded.target)
    assert sum(r.copied for r in second) == 0
    assert sum(r.skipped for r in second) == sum(r.copied for r in first) > 0


async def test_dry_run_counts_and_writes_nothing(seeded: Seeded) -> None:
    results = await move_all(read_tree(seeded.tree.root).clients, seeded.target, dry_run=True)
    assert sum(r.copied for r in results) == expected_keys(seeded.tree, range(1, 16))
    assert results[0].summary().startswith(f"Would move {seeded.tree.client(1).client_id}: DB 1 -> DB 0")
    assert [k async for k in seeded.dest.scan_iter(match=f"{seeded.tree.stem}_*", count=500)] == []


async def test_locks_are_ignored_and_unrecognised_keys_left_in_place(seeded: Seeded) -> None:
    client = seeded.tree.client(3)
    (result,) = await move_all(read_tree(seeded.tree.root, [client.client_id]).clients, seeded.target)
    assert (result.ignored, result.unrecognised, result.examples) == (1, 1, ["stats:visits"])
    legacy = Redis.from_url(db_url(seeded.source_url, 3))
    try:
        assert await legacy.get("stats:visits") == b"42"
        assert await legacy.dbsize() == 4  # sources kept: state, data (one user), lock, stray key
    finally:
        await legacy.aclose()


async def test_two_clients_on_one_redis_db_both_fail_and_nothing_moves(seeded: Seeded) -> None:
    a, b = seeded.tree.client(4), seeded.tree.client(5)
    env = (b.sqlite.parent / ".env") if b.sqlite else None
    assert env is not None
    env.write_text(env.read_text().replace("REDIS_DB=5", "REDIS_DB=4"))
    results = await move_all(read_tree(seeded.tree.root, [a.client_id, b.client_id]).clients, seeded.target)
    assert [r.ok for r in results] == [False, False]
    assert "shared with another client" in results[0].reason
    assert await prefixed(seeded.dest, a.client_id) == []


async def test_one_server_moves_with_copy_keeping_ttls(small_tree: Tree, redis_server: RedisServer) -> None:
    dbs = range(1, 8)  # the session server has 8 databases
    await seed(redis_server.admin_url, small_tree, dbs)
    ids = [c.client_id for c in small_tree.clients.values() if c.redis_db in dbs]
    target = RedisTarget(target_url=redis_server.admin_url)  # no LEGACY_REDIS_URL: COPY ... DB 0
    dest = Redis.from_url(redis_server.admin_url)
    try:
        results = await move_all(read_tree(small_tree.root, ids).clients, target)
        assert sum(r.copied for r in results) == expected_keys(small_tree, dbs)
        client = small_tree.client(2)
        key = new_key(
            f"fsm:{client.index * 1_000_000 + 1}:{client.index * 1_000_000 + 1}:state",
            client.client_id,
            client.bot_id,
        )
        assert key is not None and 0 < await dest.pttl(key) <= 3600_000
        again = await move_all(read_tree(small_tree.root, ids).clients, target)
        assert sum(r.copied for r in again) == 0
    finally:
        async for k in dest.scan_iter(match=f"{small_tree.stem}_*", count=500):
            await dest.unlink(k)
        for db in dbs:
            legacy = Redis.from_url(db_url(redis_server.admin_url, db))
            await legacy.flushdb()
            await legacy.aclose()
        await dest.aclose()
