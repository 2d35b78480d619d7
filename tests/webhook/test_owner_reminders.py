"""The owner hears before the bot stops: 3 days and 1 day before paidUntil and when it is
suspended for non-payment, once per period each, with one button that renews."""

from __future__ import annotations

import datetime

from booking_contract.times import format_time
from booking_webhook.salesbot import texts
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.notifier import human_date
from booking_webhook.salesbot.reminders import due_reminder, remind_once
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import SALES_TOKEN, Platform, SalesBot, WebhookServer

NOW = datetime.datetime(2026, 6, 1, 12, 0, tzinfo=datetime.UTC)


def test_the_most_urgent_reminder_is_the_one_due() -> None:
    assert due_reminder(NOW + datetime.timedelta(days=10), "Ready", NOW) is None
    assert due_reminder(NOW + datetime.timedelta(days=2, hours=23), "Ready", NOW) == "expires_in_3_days"
    assert due_reminder(NOW + datetime.timedelta(hours=20), "Ready", NOW) == "expires_in_1_day"
    assert due_reminder(NOW - datetime.timedelta(minutes=1), "Ready", NOW) == "suspended"
    assert due_reminder(NOW + datetime.timedelta(days=5), "Expired", NOW) == "suspended"
    assert due_reminder(None, "Ready", NOW) is None  # never expires


async def _owned_tenant(
    sales_bot: SalesBot,
    platform: Platform,
    webhook: WebhookServer,
    yookassa: FakeYooKassa,
    language: str | None = None,
) -> str:
    checkout, payment_id = await platform.new_checkout(
        owner=sales_bot.owner, company="Салон Аврора", language=language
    )
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"
    return str(checkout.tenant_name)


async def _set_paid_until(kube: KubeClient, namespace: str, name: str, moment: datetime.datetime) -> None:
    await kube.patch(BOOKINGTENANTS, namespace, name, {"spec": {"paidUntil": format_time(moment)}})


async def test_three_days_before_the_end_the_owner_gets_one_reminder_with_a_renew_button(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name = await _owned_tenant(sales_bot, platform, webhook, yookassa)
    ns = sales_bot.settings.tenant_namespace
    await _set_paid_until(kube, ns, name, datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2))
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)
    bot = sales_bot.bot

    assert await remind_once(bot, deps) == 1
    assert await remind_once(bot, deps) == 0  # once per period

    reminder = await sales_bot.next()
    assert "Салон Аврора" in reminder.text and "меньше 3 дней" in reminder.text
    assert [text for text, _ in reminder.buttons] == ["Продлить: 1 месяц — 299.00 RUB"]


async def test_an_owner_who_bought_in_english_is_reminded_in_english(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name = await _owned_tenant(sales_bot, platform, webhook, yookassa, language="en-US")
    ns = sales_bot.settings.tenant_namespace
    await _set_paid_until(kube, ns, name, datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2))
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)

    assert await remind_once(sales_bot.bot, deps) == 1

    reminder = await sales_bot.next()
    assert reminder.text == texts.text(
        "en",
        "expires_in_3_days",
        company="Салон Аврора",
        paid_until=human_date((await kube.get(BOOKINGTENANTS, ns, name))["spec"]["paidUntil"], "en"),
    )
    assert [text for text, _ in reminder.buttons] == ["Renew: 1 месяц — 299.00 RUB"]  # a title is the shop's


async def test_an_owner_who_renewed_in_english_is_reminded_in_english(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    """Bought from a Russian Telegram client, renewed later from an English one."""
    first, payment_id = await platform.new_checkout(owner=sales_bot.owner, company="Салон Аврора")
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"
    name = str(first.tenant_name)
    _, renewal_id = await platform.renewal_checkout(first, language="en")
    yookassa.succeed(renewal_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", renewal_id))[1]["outcome"] == "extended"
    ns = sales_bot.settings.tenant_namespace
    # The renewal's own notice comes first, from the sales bot's notifier loop, whenever it runs.
    renewed = await sales_bot.next()
    assert renewed.text == texts.text(
        "en",
        "renewed",
        company="Салон Аврора",
        paid_until=human_date((await kube.get(BOOKINGTENANTS, ns, name))["spec"]["paidUntil"], "en"),
    )
    await _set_paid_until(kube, ns, name, datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(days=2))
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)

    assert await remind_once(sales_bot.bot, deps) == 1

    reminder = await sales_bot.next()
    assert [text for text, _ in reminder.buttons] == ["Renew: 1 месяц — 299.00 RUB"]
    assert reminder.text == texts.text(
        "en",
        "expires_in_3_days",
        company="Салон Аврора",
        paid_until=human_date((await kube.get(BOOKINGTENANTS, ns, name))["spec"]["paidUntil"], "en"),
    )


async def test_the_renew_button_of_a_reminder_leads_straight_to_the_payment_link(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name = await _owned_tenant(sales_bot, platform, webhook, yookassa)
    ns = sales_bot.settings.tenant_namespace
    end = datetime.datetime.now(tz=datetime.UTC) + datetime.timedelta(hours=20)
    await _set_paid_until(kube, ns, name, end)
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)
    await remind_once(sales_bot.bot, deps)
    reminder = await sales_bot.next()
    assert "меньше суток" in reminder.text

    pay = await sales_bot.press(reminder, "Продлить")

    assert "299.00 RUB" in pay.text
    renewal = next(p for p, body in yookassa.payments.items() if body["metadata"].get("kind") == "renewal")
    yookassa.succeed(renewal)
    assert (await webhook.notify(yookassa, "payment.succeeded", renewal))[1]["outcome"] == "extended"
    tenant = await kube.get(BOOKINGTENANTS, ns, name)
    assert tenant["spec"]["paidUntil"] == format_time(end + datetime.timedelta(days=30))


async def test_a_suspended_bot_is_told_once_that_its_data_is_kept(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name = await _owned_tenant(sales_bot, platform, webhook, yookassa)
    ns = sales_bot.settings.tenant_namespace
    await _set_paid_until(
        kube, ns, name, datetime.datetime.now(tz=datetime.UTC) - datetime.timedelta(hours=1)
    )
    await kube.patch(BOOKINGTENANTS, ns, name, {"status": {"phase": "Expired"}}, "status")
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)

    assert await remind_once(sales_bot.bot, deps) == 1
    assert await remind_once(sales_bot.bot, deps) == 0

    told = await sales_bot.next()
    assert "приостановлен" in told.text and "данные сохранены" in told.text.lower()


async def test_a_renewed_period_gets_its_own_reminders(
    sales_bot: SalesBot, platform: Platform, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    name = await _owned_tenant(sales_bot, platform, webhook, yookassa)
    ns = sales_bot.settings.tenant_namespace
    deps = SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)
    now = datetime.datetime.now(tz=datetime.UTC)
    await _set_paid_until(kube, ns, name, now + datetime.timedelta(days=2))
    assert await remind_once(sales_bot.bot, deps) == 1

    await _set_paid_until(kube, ns, name, now + datetime.timedelta(days=32))  # renewed
    assert await remind_once(sales_bot.bot, deps) == 0
    assert await remind_once(sales_bot.bot, deps, now=now + datetime.timedelta(days=30)) == 1
    assert len(sales_bot.tg.calls_of("sendMessage", SALES_TOKEN)) >= 2
