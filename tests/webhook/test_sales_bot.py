"""The sales bot, end to end over real HTTP: fake Telegram, fake YooKassa, the emulated
Kubernetes API, real PostgreSQL and the webhook served by uvicorn."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from booking_webhook.salesbot.deps import SalesDeps
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.telegram import SentMessage
from harness.yookassa import FakeYooKassa

from .conftest import OWNER_BOT_TOKEN, SALES_TOKEN, Platform, SalesBot, WebhookServer


def _pay_url(message: SentMessage) -> str:
    rows = (message.reply_markup or {}).get("inline_keyboard") or []
    return str(rows[0][0]["url"])


async def _buy(
    sales: SalesBot, plan_button: str = "1 месяц", company: str = "Салон Аврора", zone: str = "Москва"
) -> SentMessage:
    menu = await sales.say("/start")
    ask_company = await sales.press(menu, plan_button)
    assert "компания" in ask_company.text
    ask_zone = await sales.say(company)
    assert "часовом поясе" in ask_zone.text
    ask_token = await sales.press(ask_zone, zone)
    assert "BotFather" in ask_token.text
    found = await sales.say(OWNER_BOT_TOKEN)
    assert "@aurora_salon_bot" in found.text
    return await sales.next()


async def _operator_reports_ready(kube: KubeClient, namespace: str, name: str, username: str) -> None:
    await kube.patch(
        BOOKINGTENANTS, namespace, name, {"status": {"phase": "Ready", "botUsername": username}}, "status"
    )


async def test_the_whole_purchase_ends_with_the_ready_message(
    sales_bot: SalesBot,
    webhook: WebhookServer,
    yookassa: FakeYooKassa,
    kube: KubeClient,
    crd_errors: Callable[..., list[str]],
) -> None:
    pay = await _buy(sales_bot)
    assert "299.00 RUB" in pay.text and _pay_url(pay).startswith("https://yoomoney.ru/checkout/")

    [request] = yookassa.created_requests
    assert request["capture"] is True and request["confirmation"]["type"] == "redirect"
    assert "/pay/return/" in request["confirmation"]["return_url"]
    assert OWNER_BOT_TOKEN not in str(request)
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    status, body = await webhook.notify(yookassa, "payment.succeeded", payment_id)
    assert (status, body["outcome"]) == (200, "created")

    ns = webhook.settings.tenant_namespace
    [tenant] = await kube.list(BOOKINGTENANTS, ns)
    assert crd_errors(tenant) == []
    assert tenant["spec"]["companyName"] == "Салон Аврора"
    assert tenant["spec"]["ownerTelegramId"] == sales_bot.owner
    assert OWNER_BOT_TOKEN not in str(tenant)
    ref = tenant["spec"]["botTokenSecretRef"]
    secret = await kube.get("v1/secrets", ref["namespace"], ref["name"])
    assert base64.b64decode(secret["data"][ref["key"]]).decode() == OWNER_BOT_TOKEN

    await _operator_reports_ready(kube, ns, tenant["metadata"]["name"], "aurora_salon_bot")
    ready = await sales_bot.next()
    assert "@aurora_salon_bot" in ready.text and "https://t.me/aurora_salon_bot" in ready.text


async def test_the_owner_token_message_is_deleted_from_the_chat(sales_bot: SalesBot) -> None:
    await _buy(sales_bot)
    deleted = sales_bot.tg.calls_of("deleteMessage", SALES_TOKEN)
    assert len(deleted) == 1


async def test_a_token_too_short_to_be_real_is_refused_by_its_shape(
    sales_bot: SalesBot, yookassa: FakeYooKassa
) -> None:
    # The platform's one token pattern (booking_contract.telegram): the legacy tool refuses it too.
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    await sales_bot.press(await sales_bot.say("Компания"), "Москва")
    refused = await sales_bot.say("1234567:short-secret")
    assert "не похоже на токен" in refused.text
    assert yookassa.created_requests == []


async def test_an_unknown_bot_token_is_refused_before_any_payment(
    sales_bot: SalesBot, yookassa: FakeYooKassa
) -> None:
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    await sales_bot.press(await sales_bot.say("Компания"), "Москва")
    refused = await sales_bot.say("1234567:TEST-not-a-known-token-xyz")
    assert "не принял" in refused.text
    assert yookassa.created_requests == []


async def test_status_shows_plan_phase_and_paid_until(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    await _buy(sales_bot)
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    [tenant] = await kube.list(BOOKINGTENANTS, webhook.settings.tenant_namespace)
    await _operator_reports_ready(
        kube, webhook.settings.tenant_namespace, tenant["metadata"]["name"], "aurora_salon_bot"
    )
    await sales_bot.next()  # the ready message

    status = await sales_bot.say("/status")
    assert "тариф 1m" in status.text and "работает" in status.text and "@aurora_salon_bot" in status.text
    assert "оплачено до" in status.text


async def test_renewal_through_the_bot_extends_the_paid_period(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    await _buy(sales_bot)
    first_payment = next(iter(yookassa.payments))
    yookassa.succeed(first_payment)
    await webhook.notify(yookassa, "payment.succeeded", first_payment)
    ns = webhook.settings.tenant_namespace
    [before] = await kube.list(BOOKINGTENANTS, ns)

    menu = await sales_bot.say("/start")
    plans = await sales_bot.press(menu, "Продлить")
    pay = await sales_bot.press(plans, "3 месяца")
    assert "799.00 RUB" in pay.text
    renewal_payment = next(p for p in yookassa.payments if p != first_payment)
    yookassa.succeed(renewal_payment)
    status, body = await webhook.notify(yookassa, "payment.succeeded", renewal_payment)
    assert (status, body["outcome"]) == (200, "extended")
    renewed = await sales_bot.next()
    assert "продлена" in renewed.text
    after = await kube.get(BOOKINGTENANTS, ns, before["metadata"]["name"])
    assert len(after["spec"]["payments"]) == 2 and after["spec"]["paidUntil"] > before["spec"]["paidUntil"]


async def test_a_canceled_payment_is_told_to_the_owner(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa
) -> None:
    await _buy(sales_bot)
    payment_id = next(iter(yookassa.payments))
    yookassa.cancel(payment_id, reason="insufficient_funds")
    status, _ = await webhook.notify(yookassa, "payment.canceled", payment_id)
    assert status == 200
    told = await sales_bot.next()
    assert "не прошёл" in told.text and "insufficient_funds" in told.text


async def test_yookassa_down_offers_a_retry_that_reuses_the_payment(
    sales_bot: SalesBot, yookassa: FakeYooKassa
) -> None:
    yookassa.fail = True
    unavailable = await _buy(sales_bot)
    assert "недоступен" in unavailable.text
    yookassa.fail = False
    pay = await sales_bot.press(unavailable, "Повторить")
    assert _pay_url(pay).startswith("https://yoomoney.ru/")
    again = await sales_bot.press(unavailable, "Повторить")
    assert _pay_url(again) == _pay_url(pay)
    assert len(yookassa.payments) == 1


async def test_a_managed_bot_replaces_the_botfather_token(
    sales_bot: SalesBot, yookassa: FakeYooKassa
) -> None:
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    ask_token = await sales_bot.press(await sales_bot.say("Компания"), "Москва")
    keyboard: dict[str, Any] = ask_token.reply_markup or {}
    assert keyboard["keyboard"][0][0]["request_managed_bot"]["request_id"] == 1
    sales_bot.tg.set_result("getManagedBotToken", OWNER_BOT_TOKEN, SALES_TOKEN)
    sales_bot.tg.push_update(
        SALES_TOKEN,
        {
            "message": {
                "message_id": 100,
                "date": 0,
                "chat": {"id": sales_bot.owner, "type": "private"},
                "from": {"id": sales_bot.owner, "is_bot": False, "first_name": "Owner"},
                "managed_bot_created": {
                    "bot": {
                        "id": 7770001,
                        "is_bot": True,
                        "first_name": "Aurora",
                        "username": "aurora_salon_bot",
                    }
                },
            }
        },
    )
    found = await sales_bot.next()
    assert "@aurora_salon_bot" in found.text
    pay = await sales_bot.next()
    assert _pay_url(pay).startswith("https://yoomoney.ru/")
    call = sales_bot.tg.calls_of("getManagedBotToken", SALES_TOKEN)[0]
    assert call.params["user_id"] == 7770001


async def test_receipt_data_is_sent_when_the_shop_needs_receipts(
    sales_bot: SalesBot, yookassa: FakeYooKassa, platform: Platform
) -> None:
    object.__setattr__(sales_bot.settings, "yookassa_receipt_enabled", True)  # the bot's deps share it
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    await sales_bot.press(await sales_bot.say("Салон Аврора"), "Москва")
    await sales_bot.say(OWNER_BOT_TOKEN)
    ask_email = await sales_bot.next()
    assert "e-mail" in ask_email.text
    assert "не похоже" in (await sales_bot.say("not-an-email")).text
    pay = await sales_bot.say("owner@example.com")
    assert _pay_url(pay).startswith("https://yoomoney.ru/")
    [request] = yookassa.created_requests
    assert request["receipt"]["customer"] == {"email": "owner@example.com"}
    [item] = request["receipt"]["items"]
    assert item["amount"] == {"value": "299.00", "currency": "RUB"} and item["payment_mode"] == "full_payment"


async def test_status_shows_a_refund(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa
) -> None:
    await _buy(sales_bot)
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    refund_id = yookassa.refund(payment_id, "299.00")
    assert (await webhook.notify(yookassa, "refund.succeeded", refund_id))[1]["outcome"] == "refunded"
    status = await sales_bot.say("/status")
    assert "возвращено 299.00 RUB" in status.text


async def test_an_abandoned_checkout_loses_its_token_secret(
    sales_bot: SalesBot, platform: Platform, kube: KubeClient, yookassa: FakeYooKassa
) -> None:
    from booking_webhook.salesbot.notifier import remove_abandoned_tokens

    await _buy(sales_bot)
    abandoned_payment = next(iter(yookassa.payments))
    yookassa.cancel(abandoned_payment)  # YooKassa cancels a payment nobody confirmed
    paid_checkout, paid = await platform.new_checkout(owner=sales_bot.owner)
    yookassa.succeed(paid)
    checkout = await platform.store.latest_checkout(sales_bot.owner)
    assert checkout is not None and checkout.id == paid_checkout.id
    await platform.store.mark_applied(paid_checkout.id, paid)
    ns = platform.kube.token_namespace
    secrets = [s["metadata"]["name"] for s in await kube.list("v1/secrets", ns)]
    assert len(secrets) == 2

    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)
    assert await remove_abandoned_tokens(deps, older_than_seconds=0) >= 1

    left = [s["metadata"]["name"] for s in await kube.list("v1/secrets", ns)]
    assert left == [paid_checkout.token_secret_name]


async def test_start_offers_the_pending_payment_again(sales_bot: SalesBot, yookassa: FakeYooKassa) -> None:
    pay = await _buy(sales_bot)
    menu = await sales_bot.say("/start")
    urls = [b.get("url") for row in (menu.reply_markup or {})["inline_keyboard"] for b in row]
    assert _pay_url(pay) in urls
    assert len(yookassa.payments) == 1


async def test_a_rotated_managed_bot_token_reaches_the_tenant_secret(
    sales_bot: SalesBot, kube: KubeClient, platform: Platform
) -> None:
    await _buy(sales_bot)
    checkout = await platform.store.latest_checkout(sales_bot.owner)
    assert checkout is not None and checkout.bot_id == 7770001 and checkout.token_secret_name
    rotated = "7770001:TEST-rotated-token-abcdef"
    sales_bot.tg.set_result("getManagedBotToken", rotated, SALES_TOKEN)
    sales_bot.tg.push_update(
        SALES_TOKEN,
        {
            "managed_bot": {
                "user": {"id": sales_bot.owner, "is_bot": False, "first_name": "Owner"},
                "bot": {
                    "id": 7770001,
                    "is_bot": True,
                    "first_name": "Aurora",
                    "username": "aurora_salon_bot",
                },
            }
        },
    )
    ns = platform.kube.token_namespace
    for _ in range(100):
        secret = await kube.get("v1/secrets", ns, checkout.token_secret_name)
        if base64.b64decode(secret["data"]["token"]).decode() == rotated:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the Secret still holds the old token")


async def test_the_retry_button_of_a_paid_checkout_says_it_is_paid(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform
) -> None:
    yookassa.fail = True
    unavailable = await _buy(sales_bot)
    yookassa.fail = False
    await sales_bot.press(unavailable, "Повторить")
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"

    again = await sales_bot.press(unavailable, "Повторить")

    assert "уже оплачен" in again.text
    checkout = await platform.store.latest_checkout(sales_bot.owner)
    assert checkout is not None and checkout.status == "applied"
    assert len(yookassa.payments) == 1


async def test_an_old_retry_button_asks_to_start_again(
    sales_bot: SalesBot, yookassa: FakeYooKassa, platform: Platform, webhook_dsn: str
) -> None:
    import asyncpg

    yookassa.fail = True
    unavailable = await _buy(sales_bot)
    yookassa.fail = False
    conn = await asyncpg.connect(webhook_dsn)
    try:
        await conn.execute(
            "UPDATE platform.checkouts SET created_at = now() - interval '3 days'"
            " WHERE telegram_user_id = $1",
            sales_bot.owner,
        )
    finally:
        await conn.close()

    stale = await sales_bot.press(unavailable, "Повторить")

    assert "/start" in stale.text and "устарел" in stale.text
    assert yookassa.payments == {}


async def test_a_receipt_can_go_to_a_phone_number(sales_bot: SalesBot, yookassa: FakeYooKassa) -> None:
    object.__setattr__(sales_bot.settings, "yookassa_receipt_enabled", True)  # the bot's deps share it
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    await sales_bot.press(await sales_bot.say("Салон Аврора"), "Москва")
    await sales_bot.say(OWNER_BOT_TOKEN)
    assert "телефон" in (await sales_bot.next()).text

    await sales_bot.say("+7 (900) 123-45-67")

    [request] = yookassa.created_requests
    assert request["receipt"]["customer"] == {"phone": "79001234567"}
