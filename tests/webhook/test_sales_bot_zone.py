"""The business's time zone, from the sales conversation to the slots its new bot offers.

The chain: the owner picks a zone in the sales bot -> the payment creates the BookingTenant with
``spec.timezone`` -> the operator's own manifests turn it into the bot's TENANT_TIMEZONE (the
dedicated Deployment's env, and the shard entry built from it) -> the bot, in either runtime,
offers and stores times in that zone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from bot.conftest import create_tenant, drop_tenant, run_bot, seed
from pydantic import SecretStr

from booking_operator import manifests, shard_manifests
from booking_operator.config import OperatorSettings
from booking_webhook.checkout import Buyer, CheckoutError, start_new
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.postgres import PgServer
from harness.yookassa import FakeYooKassa

from .conftest import OWNER_BOT_TOKEN, SALES_TOKEN, Platform, SalesBot, WebhookServer
from .test_sales_bot import _buy

CUSTOMER = 1001


def _operator_env(spec: dict[str, Any], runtime: str) -> dict[str, str]:
    """What the operator hands the bot for this spec: the Deployment's env, or the shard entry."""
    settings = OperatorSettings(
        operator_database_url=SecretStr("postgresql://op:pw@db:5432/booking"),
        operator_redis_url=SecretStr("redis://:pw@redis:6379/0"),
        bot_image="booking-bot:1",
    )
    deployment = manifests.deployment(settings, "salon", "tenants", spec, replicas=1, secret_hash="x")
    if runtime == "shared":
        credentials = manifests.secret_data(settings, spec["clientId"], "db-pw", "redis-pw")
        entry: dict[str, str] = json.loads(shard_manifests.tenant_entry(deployment, credentials, "1:t"))
        return entry
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


async def _pay(sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient) -> Any:
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "created")
    [tenant] = await kube.list(BOOKINGTENANTS, webhook.settings.tenant_namespace)
    return tenant


@pytest.mark.parametrize("runtime", ["dedicated", "shared"])
async def test_the_zone_chosen_when_buying_is_where_the_new_bot_offers_its_slots(
    runtime: str,
    sales_bot: SalesBot,
    webhook: WebhookServer,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    crd_errors: Callable[..., list[str]],
    pg_server: PgServer,
) -> None:
    await _buy(sales_bot, zone="Екатеринбург")
    tenant = await _pay(sales_bot, webhook, yookassa, kube)
    assert tenant["spec"]["timezone"] == "Asia/Yekaterinburg" and crd_errors(tenant) == []
    env = _operator_env(tenant["spec"], runtime)
    assert env["TENANT_TIMEZONE"] == "Asia/Yekaterinburg"

    schema = await create_tenant(pg_server)
    try:
        await seed(schema)
        async with run_bot(
            sales_bot.tg, schema, owner=sales_bot.owner, timezone=env["TENANT_TIMEZONE"], runtime=runtime
        ) as bot:
            menu = await bot.say(CUSTOMER, "/start")
            calendar = await bot.press(CUSTOMER, await bot.press(CUSTOMER, menu, "Book"), "Haircut")
            day = await bot.press(CUSTOMER, calendar, "5", exact=True)
            assert day.buttons[0][0] == "10:00"  # the salon opens at 10:00 in Yekaterinburg
            confirm = await bot.press(CUSTOMER, day, "11:00", exact=True)
            await bot.book(CUSTOMER, confirm)
            starts = await bot.pool.fetchval("SELECT starts_at FROM bookings")
            assert starts == dt.datetime(2030, 3, 5, 6, 0, tzinfo=dt.UTC)  # 11:00 at UTC+5
    finally:
        await drop_tenant(pg_server, schema.client_id)


async def test_an_english_owner_types_a_zone_that_is_checked_first(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    owner = {"id": sales_bot.owner, "is_bot": False, "first_name": "Owner", "language_code": "en"}

    async def say(text: str) -> Any:
        sales_bot.tg.push_message(SALES_TOKEN, owner, text)
        return await sales_bot.next()

    menu = await say("/start")
    await sales_bot.press(menu, "1 месяц")
    ask_zone = await say("Aurora Salon")
    assert "Which time zone" in ask_zone.text and "Yekaterinburg (UTC+5)" in [t for t, _ in ask_zone.buttons]
    for wrong in ("Mars/Olympus", "MSK", "+05:00"):
        refused = await say(wrong)
        assert "Unknown time zone" in refused.text, wrong
    ask_token = await say("Asia/Novosibirsk")
    assert "Time zone: Asia/Novosibirsk" in ask_token.text and "BotFather" in ask_token.text
    await say(OWNER_BOT_TOKEN)
    await sales_bot.next()  # the payment link
    tenant = await _pay(sales_bot, webhook, yookassa, kube)
    assert tenant["spec"]["timezone"] == "Asia/Novosibirsk"


async def test_a_checkout_without_a_zone_makes_a_tenant_with_the_crds_default(
    webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient, platform: Platform
) -> None:
    """Checkouts started before the question existed carry no zone: the CRD's default applies."""
    _, payment_id = await platform.new_checkout()
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[0] == 200
    [tenant] = await kube.list(BOOKINGTENANTS, webhook.settings.tenant_namespace)
    assert "timezone" not in tenant["spec"]


async def test_a_checkout_with_an_unknown_zone_is_refused_before_any_secret(
    platform: Platform, kube: KubeClient
) -> None:
    buyer = Buyer(telegram_user_id=42, chat_id=42, company_name="Salon", time_zone="Mars/Olympus")
    with pytest.raises(CheckoutError, match="time zone"):
        await start_new(platform.store, platform.kube, platform.settings, buyer, "1m", "42:TEST-token-zone")
    assert await kube.list("v1/secrets", platform.settings.tenant_namespace) == []
