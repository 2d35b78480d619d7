"""A tenant's connections: open across a conversation, closed once it idles, and closing an idle
one never cuts one that an update is using."""

from __future__ import annotations

import asyncio
import json

from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from booking_bot.shard.config import parse_entry
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.postgres import PgServer
from harness.redis import RedisServer
from harness.telegram import FakeTelegram

from ..conftest import admin_connect
from ..test_redis_isolation import _acl_user
from .conftest import MakeTenants, Shards, entry, new_token, say, serve, wait_state

ANN = 1001


async def test_closing_idle_redis_connections_never_cuts_one_a_command_has_taken(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, redis_server: RedisServer
) -> None:
    """The janitor decides a tenant is idle, then closes its pooled connections; an update
    arriving in between takes one of them from the pool. Before, the close went through with
    the command on it: ``ConnectionError: ... Connection lost`` and the user got the error answer
    (seen in the benchmark: a tenant's update arriving exactly when its idle time ran out)."""
    (a,) = await make_tenants(1)
    admin = Redis.from_url(redis_server.admin_url)
    try:
        url = await _acl_user(admin, redis_server, a.client_id)
    finally:
        await admin.aclose()
    token = new_token(tg, a)
    shard.apply({a.client_id: entry(a, token, REDIS_URL=url)})
    await wait_state(shard, a.client_id, State.SERVING)
    await say(tg, token, ANN, "/start")
    runner = shard.registry.runners[a.client_id]
    assert runner.services is not None
    storage = runner.services.storage
    key = StorageKey(bot_id=runner.services.bot.id, chat_id=ANN, user_id=ANN)
    closed = []
    for head_start in range(8):  # every interleaving of the close with the command's steps
        await storage.get_state(key)  # a connected connection, back in the pool
        closing = asyncio.create_task(runner.close_idle_connections(postgres=0, redis=0))
        for _ in range(head_start):
            await asyncio.sleep(0)
        assert await storage.get_state(key) is None  # not "Connection lost"
        closed.append(await closing)
    assert any(closed), "the idle connection was never closed: the race was not exercised"


async def _backends(pg: PgServer, role: str) -> list[tuple[int, object]]:
    """The tenant role's server connections: process id and start time of each."""
    admin = await admin_connect(pg)
    try:
        rows = await admin.fetch(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE usename = $1 ORDER BY pid", role
        )
    finally:
        await admin.close()
    return [(row["pid"], row["backend_start"]) for row in rows]


async def test_a_tenants_next_update_in_a_conversation_reuses_its_connection(
    tg: FakeTelegram, shards: Shards, make_tenants: MakeTenants, pg_server: PgServer
) -> None:
    """A customer's next tap, seconds later, finds the connection the last one opened."""
    shard = await shards.new(shard_db_idle_seconds=30)
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, shard, a)
    await say(tg, token, ANN, "/start")
    opened = await _backends(pg_server, a.client_id)
    await asyncio.sleep(1.5)
    assert "Salon" in (await say(tg, token, ANN, "/start")).text
    assert opened and await _backends(pg_server, a.client_id) == opened


async def test_a_tenant_idle_for_the_shards_idle_time_holds_no_postgresql_connection(
    tg: FakeTelegram, shards: Shards, make_tenants: MakeTenants, pg_server: PgServer
) -> None:
    """``SHARD_DB_IDLE_SECONDS`` is what closes them, not the dedicated bot's 10 s default."""
    shard = await shards.new(shard_db_idle_seconds=1.5)
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, shard, a)
    await say(tg, token, ANN, "/start")
    assert await _backends(pg_server, a.client_id)
    deadline = asyncio.get_running_loop().time() + 7
    while await _backends(pg_server, a.client_id):
        assert asyncio.get_running_loop().time() < deadline, "the idle tenant kept its connection"
        await asyncio.sleep(0.2)


async def test_a_tenant_that_has_not_talked_since_it_started_holds_no_postgresql_connection(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, pg_server: PgServer
) -> None:
    """Its start-up queries (profile, admins) opened one; a shard starting hundreds of tenants
    would otherwise hold one per tenant started in the last ``SHARD_DB_IDLE_SECONDS`` (60)."""
    (a,) = await make_tenants(1)
    await serve(tg, shard, a)
    deadline = asyncio.get_running_loop().time() + 7  # the janitor looks every 5 s
    while await _backends(pg_server, a.client_id):
        assert asyncio.get_running_loop().time() < deadline, "the start-up connection was kept"
        await asyncio.sleep(0.2)


def _raw_entry(**extra: object) -> str:
    return json.dumps(
        {"BOT_TOKEN": "123:abc", "DATABASE_URL": "postgresql://client_001:pw@db/booking", **extra}
    )


def test_an_entry_without_an_idle_time_gets_the_shards() -> None:
    parsed = parse_entry("client_001", _raw_entry(), None, db_idle_seconds=60)
    assert parsed.settings is not None and parsed.settings.db_idle_seconds == 60


def test_an_entrys_own_idle_time_wins_over_the_shards() -> None:
    parsed = parse_entry("client_001", _raw_entry(DB_IDLE_SECONDS=5), None, db_idle_seconds=60)
    assert parsed.settings is not None and parsed.settings.db_idle_seconds == 5
