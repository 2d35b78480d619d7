"""Tenants come and go in a running shard, live, without touching the other tenants."""

from __future__ import annotations

import asyncio
import json

from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.telegram import FakeTelegram

from .conftest import MakeTenants, entry, new_token, report, say, serve, wait_state

ANN, BOB = 1001, 1002
POLLING_TIMEOUT = 1  # the shards of these tests long-poll for one second


async def test_a_tenant_added_to_a_running_shard_answers_within_five_seconds(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = new_token(tg, a), new_token(tg, b)
    shard.apply({b.client_id: entry(b, token_b)})
    await wait_state(shard, b.client_id, State.SERVING)
    serving_b = shard.registry.runners[b.client_id]

    started = asyncio.get_running_loop().time()
    shard.apply({b.client_id: entry(b, token_b), a.client_id: entry(a, token_a)})
    first = await say(tg, token_a, ANN, "/start")
    assert f"Salon {a.client_id}" in first.text
    assert asyncio.get_running_loop().time() - started < 5.0
    # The tenant already there was not restarted: same runner, one getMe ever.
    assert shard.registry.runners[b.client_id] is serving_b
    assert len(tg.calls_of("getMe", token_b)) == 1


async def test_a_removed_tenant_stops_polling_and_the_others_stay(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, shard, a, b)

    shard.apply({b.client_id: entry(b, token_b)})
    await shard.registry.wait_stopped(a.client_id)
    assert report(shard, a.client_id) is None  # no longer reported: its token is free
    polls = len(tg.calls_of("getUpdates", token_a))
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
    await asyncio.sleep(POLLING_TIMEOUT + 0.5)  # longer than one long poll: a would have polled again
    assert len(tg.calls_of("getUpdates", token_a)) == polls


async def test_a_changed_entry_replaces_only_that_tenant_with_never_two_pollers(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, shard, a, b)
    serving_b = shard.registry.runners[b.client_id]

    shard.apply({a.client_id: entry(a, token_a, BUSINESS_NAME="Renamed"), b.client_id: entry(b, token_b)})
    await shard.registry.wait_stopped(a.client_id)
    await wait_state(shard, a.client_id, State.SERVING)
    assert "Renamed" in (await say(tg, token_a, ANN, "/start")).text
    assert shard.registry.runners[b.client_id] is serving_b
    assert tg.conflicts == []


async def test_two_entries_with_one_token_give_one_poller(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    # The first by client id serves, the other is refused.
    a, b = sorted(await make_tenants(2), key=lambda t: t.client_id)
    token = new_token(tg, a)
    shard.apply({a.client_id: entry(a, token), b.client_id: entry(b, token)})
    await wait_state(shard, a.client_id, State.SERVING)
    duplicate = await wait_state(shard, b.client_id, State.FAILED)
    assert a.client_id in duplicate.reason
    assert f"Salon {a.client_id}" in (await say(tg, token, ANN, "/start")).text
    assert tg.conflicts == []


async def test_the_status_lists_every_tenant_without_credentials(
    tg: FakeTelegram, shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    token = new_token(tg, a)
    shard.apply({a.client_id: entry(a, token)})
    serving = await wait_state(shard, a.client_id, State.SERVING)
    status = shard.board.as_json()
    assert status[a.client_id]["username"] == f"{a.client_id}_bot"
    assert status[a.client_id]["config"] == serving.config
    text = json.dumps(status)
    assert token not in text and a.password not in text
