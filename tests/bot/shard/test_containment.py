"""A tenant's failure stays that tenant's: the others in its shard keep answering."""

from __future__ import annotations

import asyncio
import json

import asyncpg
from redis.asyncio import Redis

from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from booking_operator import redis_acl
from harness.redis import RedisServer
from harness.telegram import FakeTelegram

from ..conftest import create_tenant, drop_tenant
from ..test_redis_isolation import _acl_user
from .conftest import MakeTenants, entry, new_token, report, say, serve, wait_state

ANN, BOB = 1001, 1002


async def test_a_revoked_token_fails_its_tenant_and_the_others_keep_answering(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, shard, a, b)
    serving_b = shard.registry.runners[b.client_id]

    tg.remove_bot(token_a)
    failed = await wait_state(shard, a.client_id, State.FAILED)
    assert "401" in failed.reason

    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
    assert shard.registry.runners[b.client_id] is serving_b
    assert report(shard, b.client_id) is not None and report(shard, b.client_id).state == State.SERVING  # type: ignore[union-attr]


async def test_a_tenant_whose_token_is_rejected_at_start_does_not_hold_up_the_others(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_b = new_token(tg, b)
    shard.apply({a.client_id: entry(a, "123:never-issued"), b.client_id: entry(b, token_b)})
    assert "401" in (await wait_state(shard, a.client_id, State.FAILED)).reason
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text


async def test_a_tenant_whose_migrations_fail_does_not_stop_the_others(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, pg_server: object
) -> None:
    from harness.postgres import PgServer

    assert isinstance(pg_server, PgServer)
    (b,) = await make_tenants(1)
    broken = await create_tenant(pg_server)
    try:
        conn = await asyncpg.connect(broken.dsn)
        try:  # something in the way of migration 0001
            await conn.execute("CREATE TABLE services (id int)")
        finally:
            await conn.close()
        token_broken, token_b = new_token(tg, broken), new_token(tg, b)
        shard.apply({broken.client_id: entry(broken, token_broken), b.client_id: entry(b, token_b)})
        failed = await wait_state(shard, broken.client_id, State.FAILED)
        assert "migrations failed" in failed.reason and "services" in failed.reason
        assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
        assert not tg.calls_of("getUpdates", token_broken)  # never polled: nothing to serve with
    finally:
        await shard.registry.close()
        await drop_tenant(pg_server, broken.client_id)


async def test_a_tenant_whose_handlers_raise_does_not_affect_the_others(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    conn = await asyncpg.connect(a.dsn)
    try:  # every update of tenant a now fails in the middleware that records the user
        await conn.execute("ALTER TABLE users RENAME TO users_gone")
    finally:
        await conn.close()
    token_a, token_b = await serve(tg, shard, a, b)

    assert (await say(tg, token_a, ANN, "/start")).text == "Something went wrong. Please try again."
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
    assert (await say(tg, token_a, ANN, "/start")).text == "Something went wrong. Please try again."
    assert report(shard, a.client_id).state == State.SERVING  # type: ignore[union-attr]


async def test_a_flood_limited_tenant_does_not_slow_the_others(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, shard, a, b)

    tg.fail_next("sendMessage", token_a, error_code=429, retry_after=3)
    tg.push_message(token_a, ANN, "/start")
    await tg.wait_for_call("sendMessage", token_a)  # a is now waiting out its flood control
    started = asyncio.get_running_loop().time()
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
    assert asyncio.get_running_loop().time() - started < 1.5
    # ...and a itself answers once its retry_after has passed.
    assert f"Salon {a.client_id}" in (await tg.next_message(token_a, ANN, timeout=10)).text


async def test_a_bad_entry_fails_alone_with_a_reason_that_shows_no_secret(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b, c = await make_tenants(3)
    token_a, token_b = new_token(tg, a), new_token(tg, b)
    wrong_scheme = json.loads(entry(a, token_a))
    wrong_scheme["DATABASE_URL"] = "mysql://someone:hunter2-password@db/x"
    shard.apply(
        {
            a.client_id: json.dumps(wrong_scheme),
            b.client_id: entry(b, token_b),
            c.client_id: "{not json",
        }
    )
    bad_a = await wait_state(shard, a.client_id, State.FAILED)
    assert "DATABASE_URL must be a postgresql:// URL" in bad_a.reason
    assert "hunter2" not in json.dumps(shard.board.as_json()) and token_a not in json.dumps(
        shard.board.as_json()
    )
    assert "not JSON" in (await wait_state(shard, c.client_id, State.FAILED)).reason
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text


async def test_an_idle_tenant_holds_no_redis_connection(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, redis_server: RedisServer
) -> None:
    (a,) = await make_tenants(1)
    admin = Redis.from_url(redis_server.admin_url)
    try:
        url = await _acl_user(admin, redis_server, a.client_id)
        token = new_token(tg, a)
        shard.apply({a.client_id: entry(a, token, REDIS_URL=url, DB_IDLE_SECONDS=1)})
        await wait_state(shard, a.client_id, State.SERVING)
        await say(tg, token, ANN, "/start")

        async def connections() -> int:
            clients = await admin.client_list()
            return sum(1 for c in clients if c.get("user") == redis_acl.acl_username(a.client_id))

        assert await connections() >= 1
        deadline = asyncio.get_running_loop().time() + 15
        while await connections():
            assert asyncio.get_running_loop().time() < deadline, "the idle tenant kept its Redis connection"
            await asyncio.sleep(0.2)
        # ...and the next update reconnects as if nothing happened.
        assert f"Salon {a.client_id}" in (await say(tg, token, ANN, "/start")).text
    finally:
        await admin.aclose()


async def test_a_tenant_whose_redis_refuses_it_answers_with_the_error_message(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants, redis_server: RedisServer
) -> None:
    """A failure before the tenant's own middleware (the FSM lock in Redis) still gets an answer."""
    a, b = await make_tenants(2)
    wrong = f"redis://{a.client_id}:not-the-password@{redis_server.host}:{redis_server.port}/0"
    token_a = new_token(tg, a)
    (token_b,) = await serve(tg, shard, b)
    shard.apply({a.client_id: entry(a, token_a, REDIS_URL=wrong), b.client_id: entry(b, token_b)})
    await wait_state(shard, a.client_id, State.SERVING)
    assert (await say(tg, token_a, ANN, "/start")).text == "Something went wrong. Please try again."
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
