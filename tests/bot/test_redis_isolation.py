"""FSM state in Redis DB 0: every key under ``<CLIENT_ID>:``, two tenants never meet."""

from __future__ import annotations

import secrets

import pytest
from aiogram.fsm.storage.base import StorageKey
from redis.asyncio import Redis
from redis.exceptions import NoPermissionError

from booking_bot.storage import create_storage
from booking_operator import redis_acl
from harness.postgres import PgServer
from harness.redis import RedisServer
from harness.telegram import FakeTelegram

from .conftest import OWNER, Tenant, create_tenant, drop_tenant, run_bot, seed


async def _scan(redis: Redis, pattern: str = "*") -> list[str]:
    return sorted([key.decode() async for key in redis.scan_iter(match=pattern, count=500)])


async def _acl_user(redis: Redis, server: RedisServer, client_id: str) -> str:
    """Exactly what the operator does: its allow-list ACL user, limited to the tenant's key prefix."""
    password = secrets.token_hex(16)
    user = await redis_acl.ensure_user(redis, client_id, password)
    return f"redis://{user}:{password}@{server.host}:{server.port}/0"


async def test_fsm_keys_start_with_the_client_id_and_carry_the_bot_id(
    telegram: FakeTelegram, seeded_tenant: Tenant, redis_server: RedisServer, redis_admin: Redis
) -> None:
    url = await _acl_user(redis_admin, redis_server, seeded_tenant.client_id)
    async with run_bot(telegram, seeded_tenant, owner=OWNER, redis_url=url, bot_id=4242000001) as bot:
        panel = await bot.say(OWNER, "/admin")
        services = await bot.press(OWNER, panel, "Services")
        await bot.press(OWNER, services, "Add a service")  # FSM state set: waiting for a name
        await bot.say(OWNER, "Nails")  # FSM data written
        keys = await _scan(redis_admin, f"{seeded_tenant.client_id}:*")
        ttls = [await redis_admin.ttl(key) for key in keys]
    assert keys, "the bot wrote no FSM keys"
    assert all(ttl > 0 for ttl in ttls), "every key the bot writes expires (SETEX), none is kept for ever"
    prefix = f"{seeded_tenant.client_id}:fsm:4242000001:{OWNER}:{OWNER}:"
    assert all(key.startswith(prefix) for key in keys), keys
    assert {key.rsplit(":", 1)[1] for key in keys} >= {"state", "data"}


async def test_a_tenants_new_connection_sends_redis_no_command_it_refuses(
    seeded_tenant: Tenant, redis_server: RedisServer, redis_admin: Redis
) -> None:
    """redis-py sends ``CLIENT SETINFO`` twice and ``CLIENT MAINT_NOTIFICATIONS`` once on every
    new connection; the tenant's allow-list refuses them. Redis 7.2 and later answer NOPERM and
    write each refusal to the ACL log (where an operator looks for a tenant trying what it may
    not), this machine's 7.0 does not know the subcommands; either way three errors per
    connection and round trips on each tenant's first update after idling. Counted as the
    server's error replies while only this storage talks to it."""
    url = await _acl_user(redis_admin, redis_server, seeded_tenant.client_id)
    storage = create_storage(url, redis_acl.key_prefix(seeded_tenant.client_id))
    errors_before = (await redis_admin.info("stats"))["total_error_replies"]
    try:
        await storage.set_state(StorageKey(bot_id=1, chat_id=2, user_id=2), "booking:picking")
        assert await storage.get_state(StorageKey(bot_id=1, chat_id=2, user_id=2)) == "booking:picking"
    finally:
        await storage.close()
    assert (await redis_admin.info("stats"))["total_error_replies"] == errors_before


async def test_two_tenants_on_one_redis_never_see_each_others_keys(
    telegram: FakeTelegram,
    seeded_tenant: Tenant,
    pg_server: PgServer,
    redis_server: RedisServer,
    redis_admin: Redis,
) -> None:
    other = await create_tenant(pg_server)
    try:
        await seed(other)
        url_one = await _acl_user(redis_admin, redis_server, seeded_tenant.client_id)
        url_two = await _acl_user(redis_admin, redis_server, other.client_id)
        async with (
            run_bot(telegram, seeded_tenant, owner=OWNER, redis_url=url_one) as one,
            run_bot(telegram, other, owner=OWNER, redis_url=url_two) as two,
        ):
            for bot in (one, two):
                services = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services")
                await bot.press(OWNER, services, "Add a service")
            # The same Telegram user is mid-conversation with both bots; each bot sees its own state.
            assert "minutes" in (await one.say(OWNER, "One")).text
            assert "minutes" in (await two.say(OWNER, "Two")).text
            keys_one = await _scan(redis_admin, f"{seeded_tenant.client_id}:*")
            keys_two = await _scan(redis_admin, f"{other.client_id}:*")
            everything = await _scan(redis_admin)
        assert keys_one and keys_two
        assert not set(keys_one) & set(keys_two)
        tenant_keys = [
            k for k in everything if k.startswith((f"{seeded_tenant.client_id}:", f"{other.client_id}:"))
        ]
        assert sorted(tenant_keys) == sorted(keys_one + keys_two)
        # A tenant's Redis user cannot read the other tenant's keys at all.
        tenant_one = Redis.from_url(url_one)
        try:
            with pytest.raises(NoPermissionError):
                await tenant_one.get(keys_two[0])
        finally:
            await tenant_one.aclose()
    finally:
        await drop_tenant(pg_server, other.client_id)


async def test_without_redis_url_the_bot_keeps_state_in_memory(
    telegram: FakeTelegram, seeded_tenant: Tenant, redis_admin: Redis
) -> None:
    async with run_bot(telegram, seeded_tenant, owner=OWNER) as bot:
        services = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services")
        await bot.press(OWNER, services, "Add a service")
        assert "minutes" in (await bot.say(OWNER, "Nails")).text
    assert await _scan(redis_admin, f"{seeded_tenant.client_id}:*") == []
