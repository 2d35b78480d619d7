"""One poller per token while a tenant moves: between shards, and between Dedicated and Shared.

The order that makes it safe is the operator's (docs/shared-runtime.md): stop the old poller,
wait until it is gone, then start the new one. The fake Bot API records every getUpdates that
overlapped another one still connected (what Telegram answers with 409), so these tests see a
second poller if there ever is one; the last test shows that they would.
"""

from __future__ import annotations

from redis.asyncio import Redis

from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.redis import RedisServer
from harness.telegram import FakeTelegram, SentMessage

from ..conftest import Tenant, person, run_bot
from ..test_redis_isolation import _acl_user
from .conftest import MakeTenants, Shards, entry, new_token, wait_state

OWNER = 500


async def _say(tg: FakeTelegram, token: str, text: str) -> SentMessage:
    tg.push_message(token, person(OWNER), text)
    answer: SentMessage = await tg.next_message(token, OWNER)
    return answer


async def _press(tg: FakeTelegram, token: str, message: SentMessage, label: str) -> SentMessage:
    tg.push_callback(token, person(OWNER), message, message.button_data(label))
    answer: SentMessage = await tg.next_message(token, OWNER)
    return answer


async def _start_adding_a_service(tg: FakeTelegram, token: str) -> None:
    """The owner starts a conversation whose state lives in the FSM storage (Redis)."""
    panel = await _say(tg, token, "/admin")
    services = await _press(tg, token, panel, "Services")
    assert "name" in (await _press(tg, token, services, "Add a service")).text


async def _redis_url(redis_server: RedisServer, tenant: Tenant) -> str:
    admin = Redis.from_url(redis_server.admin_url)
    try:
        return await _acl_user(admin, redis_server, tenant.client_id)
    finally:
        await admin.aclose()


async def test_a_tenant_moved_between_shards_keeps_its_conversation_and_one_poller(
    tg: FakeTelegram, shards: Shards, make_tenants: MakeTenants, redis_server: RedisServer
) -> None:
    (a,) = await make_tenants(1)
    token = new_token(tg, a)
    one, two = await shards.new("shard-one"), await shards.new("shard-two")
    tenant_entry = entry(a, token, REDIS_URL=await _redis_url(redis_server, a), OWNER_TELEGRAM_ID=OWNER)
    one.apply({a.client_id: tenant_entry})
    await wait_state(one, a.client_id, State.SERVING)
    await _start_adding_a_service(tg, token)

    one.apply({})
    await one.registry.wait_stopped(a.client_id)
    two.apply({a.client_id: tenant_entry})
    await wait_state(two, a.client_id, State.SERVING)
    assert "minutes" in (await _say(tg, token, "Beard trim")).text  # the next step of the same dialogue
    assert tg.conflicts == []


async def test_dedicated_to_shared_and_back_keeps_the_conversation_and_one_poller(
    tg: FakeTelegram, make_tenants: MakeTenants, redis_server: RedisServer
) -> None:
    (a,) = await make_tenants(1)
    url = await _redis_url(redis_server, a)
    same = {"bot_id": 3_100_000_001, "redis_url": url, "owner": OWNER}
    async with run_bot(tg, a, runtime="dedicated", **same) as dedicated:  # type: ignore[arg-type]
        await _start_adding_a_service(tg, dedicated.token)
    async with run_bot(tg, a, runtime="shared", **same) as shared:  # type: ignore[arg-type]
        assert "minutes" in (await _say(tg, shared.token, "Beard trim")).text
    async with run_bot(tg, a, runtime="dedicated", **same) as again:  # type: ignore[arg-type]
        assert "price" in (await _say(tg, again.token, "30")).text
    assert tg.conflicts == []


async def test_two_pollers_of_one_token_are_seen_and_reported(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    """The control: skip the handover order and the overlap shows (409), and the shard says so."""
    (a,) = await make_tenants(1)
    bot_id = 3_100_000_002
    async with run_bot(tg, a, bot_id=bot_id, runtime="dedicated") as dedicated:
        shard.apply({a.client_id: entry(a, dedicated.token)})
        await wait_state(shard, a.client_id, State.CONFLICT)
    assert dedicated.token in tg.conflicts
