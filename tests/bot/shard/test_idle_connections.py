"""Closing an idle tenant's connections never cuts one that an update is using."""

from __future__ import annotations

import asyncio

from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis

from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.redis import RedisServer
from harness.telegram import FakeTelegram

from ..test_redis_isolation import _acl_user
from .conftest import MakeTenants, entry, new_token, say, wait_state

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
        closing = asyncio.create_task(runner.close_idle_connections(0))
        for _ in range(head_start):
            await asyncio.sleep(0)
        assert await storage.get_state(key) is None  # not "Connection lost"
        closed.append(await closing)
    assert any(closed), "the idle connection was never closed: the race was not exercised"
