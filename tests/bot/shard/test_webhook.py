"""Webhook mode: Telegram POSTs each tenant's updates to one shared endpoint of the shard.

The fake Bot API models ``setWebhook`` as Telegram does: updates are then POSTed to the URL
with the ``secret_token`` in ``X-Telegram-Bot-Api-Secret-Token`` (and retried until answered
200), and ``getUpdates`` is refused with 409 while a webhook is set.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from booking_bot.shard.config import ShardSettings
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.telegram import FakeTelegram

from ..conftest import Clock, person
from .conftest import MakeTenants, entry, new_token, say, serve, wait_state

ANN, BOB = 1001, 1002


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture()
async def webhook_shard(tg: FakeTelegram) -> AsyncIterator[Shard]:
    port = _free_port()
    settings = ShardSettings(
        shard_name="shard-hook",
        shard_tenants_dir=Path("/nonexistent"),
        telegram_api_url=tg.url,
        health_port=port,
        shard_webhook_url=f"http://127.0.0.1:{port}",
    )
    shard = Shard(settings, clock=Clock())
    await shard.start()
    try:
        yield shard
    finally:
        await shard.close()


async def test_updates_of_two_tenants_arrive_through_one_endpoint(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, webhook_shard, a, b)
    port = webhook_shard.settings.health_port
    assert tg.webhooks[token_a][0] == f"http://127.0.0.1:{port}/telegram/{token_a.split(':')[0]}"
    assert tg.webhooks[token_a][1] != tg.webhooks[token_b][1]  # a secret per tenant
    assert f"Salon {a.client_id}" in (await say(tg, token_a, ANN, "/start")).text
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text
    assert not tg.calls_of("getUpdates", token_a)


async def test_an_update_without_the_tenants_secret_is_refused(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, webhook_shard, a, b)
    url, _ = tg.webhooks[token_a]
    forged = {
        "update_id": 1,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": ANN, "type": "private"},
            "from": person(ANN),
            "text": "/start",
        },
    }
    async with aiohttp.ClientSession() as http:
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": tg.webhooks[token_b][1] or ""}):
            async with http.post(url, json=forged, headers=headers) as resp:
                assert resp.status == 403
    assert not tg.sent_messages(token_a, ANN)


async def test_a_removed_tenant_takes_its_webhook_away_so_a_poller_can_follow(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    token = new_token(tg, a)
    webhook_shard.apply({a.client_id: entry(a, token)})
    await wait_state(webhook_shard, a.client_id, State.SERVING)
    webhook_shard.apply({})
    await webhook_shard.registry.wait_stopped(a.client_id)
    assert token not in tg.webhooks
    async with aiohttp.ClientSession() as http, http.post(f"{tg.url}/bot{token}/getUpdates") as resp:
        assert resp.status == 200  # a dedicated bot (or another shard's poller) can take over
