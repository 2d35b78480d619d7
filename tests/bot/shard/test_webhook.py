"""Webhook mode: Telegram POSTs each tenant's updates to one shared endpoint of the shard.

The fake Bot API models ``setWebhook`` as Telegram does: updates are then POSTed to the URL
over real HTTP with the ``secret_token`` in ``X-Telegram-Bot-Api-Secret-Token`` (and retried
until answered 200), and ``getUpdates`` is refused with 409 while a webhook is set.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from booking_bot.shard import runner as runner_module
from booking_bot.shard.config import ShardSettings
from booking_bot.shard.runner import State
from booking_bot.shard.runtime import Shard
from harness.telegram import FakeTelegram

from ..conftest import Clock, person
from .conftest import MakeTenants, entry, new_token, say, serve, wait_state

ANN, BOB = 1001, 1002
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# The public base URL has a path, as behind the chart's Ingress (one prefix per shard).
PREFIX = "/shards/shard-hook"


def _settings(tg: FakeTelegram, *, webhook: bool) -> ShardSettings:
    port = _free_port()
    return ShardSettings(
        shard_name="shard-hook",
        shard_tenants_dir=Path("/nonexistent"),
        telegram_api_url=tg.url,
        health_port=_free_port(),
        shard_webhook_url=f"http://127.0.0.1:{port}{PREFIX}" if webhook else None,
        shard_webhook_port=port,
    )


@pytest.fixture()
async def webhook_shard(tg: FakeTelegram) -> AsyncIterator[Shard]:
    shard = Shard(_settings(tg, webhook=True), clock=Clock())
    await shard.start()
    try:
        yield shard
    finally:
        await shard.close()


def _update(user: int, update_id: int = 1) -> dict[str, object]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": 1,
            "date": 0,
            "chat": {"id": user, "type": "private"},
            "from": person(user),
            "text": "/start",
        },
    }


async def test_updates_of_two_tenants_arrive_through_one_endpoint(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, webhook_shard, a, b)
    port = webhook_shard.settings.shard_webhook_port
    assert tg.webhooks[token_a][0] == f"http://127.0.0.1:{port}{PREFIX}/telegram/{token_a.split(':')[0]}"
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
    async with aiohttp.ClientSession() as http:
        for headers in (
            {},
            {SECRET_HEADER: tg.webhooks[token_b][1] or ""},  # another tenant's secret
            {SECRET_HEADER: "0" * 64},
        ):
            async with http.post(url, json=_update(ANN), headers=headers) as resp:
                assert resp.status == 401
    assert not tg.sent_messages(token_a, ANN)


async def test_the_secret_token_is_in_no_report_and_no_log_line(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    secret = tg.webhooks[token][1]
    assert secret and len(secret) >= 32
    assert secret not in json.dumps(webhook_shard.board.as_json())
    assert secret not in caplog.text and token not in caplog.text


async def test_an_update_for_a_bot_the_shard_does_not_serve_is_not_found(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    url, secret = tg.webhooks[token]
    async with aiohttp.ClientSession() as http:
        for other in (url.rsplit("/", 1)[0] + "/4242", url.rsplit("/", 1)[0] + "/not-a-number"):
            async with http.post(other, json=_update(ANN), headers={SECRET_HEADER: secret or ""}) as resp:
                assert resp.status == 404


async def test_a_malformed_update_is_refused_and_the_tenant_keeps_serving(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    url, secret = tg.webhooks[token]
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=b"{not json", headers={SECRET_HEADER: secret or ""}) as resp:
            assert resp.status == 400
        async with http.post(url, json={"update_id": "x"}, headers={SECRET_HEADER: secret or ""}) as resp:
            assert resp.status == 400
    assert f"Salon {a.client_id}" in (await say(tg, token, ANN, "/start")).text


async def test_a_removed_tenant_takes_its_webhook_away_so_a_poller_can_follow(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    url, secret = tg.webhooks[token]
    webhook_shard.apply({})
    await webhook_shard.registry.wait_stopped(a.client_id)
    assert token not in tg.webhooks
    async with aiohttp.ClientSession() as http:
        # The shard's endpoint takes nothing more for it, even with its secret ...
        async with http.post(url, json=_update(ANN), headers={SECRET_HEADER: secret or ""}) as resp:
            assert resp.status == 404
        # ... and its updates wait for the next receiver: a dedicated bot or another shard can poll.
        tg.push_message(token, person(ANN), "/start")
        async with http.post(f"{tg.url}/bot{token}/getUpdates") as resp:
            assert resp.status == 200
            assert len((await resp.json())["result"]) == 1
    assert not tg.sent_messages(token, ANN)


async def test_a_polling_shard_takes_over_a_token_whose_webhook_is_still_set(
    tg: FakeTelegram, make_tenants: MakeTenants
) -> None:
    """The switch back to long polling (chart value off): the shard deletes the webhook first."""
    (a,) = await make_tenants(1)
    token = new_token(tg, a)
    tg.webhooks[token] = ("https://gone.example/shards/x/telegram/1", "old-secret")
    shard = Shard(_settings(tg, webhook=False), clock=Clock(), polling_timeout=1)
    await shard.start()
    try:
        shard.apply({a.client_id: entry(a, token)})
        await wait_state(shard, a.client_id, State.SERVING)
        assert token not in tg.webhooks
        assert f"Salon {a.client_id}" in (await say(tg, token, ANN, "/start")).text
        assert not tg.conflicts
    finally:
        await shard.close()


async def test_a_tenant_moving_between_webhook_shards_always_has_one_receiver(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants
) -> None:
    """The operator's order: out of the first shard (its webhook deleted), then into the next."""
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    first_url = tg.webhooks[token][0]
    second = Shard(_settings(tg, webhook=True), clock=Clock())
    await second.start()
    try:
        webhook_shard.apply({})
        await webhook_shard.registry.wait_stopped(a.client_id)
        second.apply({a.client_id: entry(a, token)})
        await wait_state(second, a.client_id, State.SERVING)
        assert tg.webhooks[token][0] != first_url
        assert f"Salon {a.client_id}" in (await say(tg, token, ANN, "/start")).text
    finally:
        await second.close()


async def test_a_revoked_token_is_noticed_in_webhook_mode_and_the_others_keep_serving(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "WEBHOOK_CHECK_SECONDS", 0.05)
    a, b = await make_tenants(2)
    token_a, token_b = await serve(tg, webhook_shard, a, b)
    tg.remove_bot(token_a)
    failed = await wait_state(webhook_shard, a.client_id, State.FAILED)
    assert "401" in failed.reason
    assert f"Salon {b.client_id}" in (await say(tg, token_b, BOB, "/start")).text


async def test_a_webhook_taken_by_another_receiver_is_reported_as_a_conflict(
    tg: FakeTelegram, webhook_shard: Shard, make_tenants: MakeTenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner_module, "WEBHOOK_CHECK_SECONDS", 0.05)
    (a,) = await make_tenants(1)
    (token,) = await serve(tg, webhook_shard, a)
    async with aiohttp.ClientSession() as http, http.post(f"{tg.url}/bot{token}/deleteWebhook") as resp:
        assert resp.status == 200  # e.g. a dedicated bot started by hand for the same token
    conflict = await wait_state(webhook_shard, a.client_id, State.CONFLICT)
    assert "another receiver" in conflict.reason
    assert token not in tg.webhooks  # the shard does not fight for the token
