"""Auto-renewal: the owner opts in, the saved method is charged once per period before the end,
a declined charge is retried a bounded number of times, and the owner can switch it off."""

from __future__ import annotations

import datetime

import pytest

from booking_contract.times import format_time, parse_time
from booking_webhook.autorenewal import MAX_ATTEMPTS, RETRY_AFTER, charge_due
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.reminders import remind_once
from booking_webhook.yookassa_api import YooKassaUnavailable
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.yookassa import FakeYooKassa

from .conftest import OWNER_BOT_TOKEN, Platform, SalesBot, WebhookServer


async def _buy_with_autorenewal(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> str:
    object.__setattr__(sales_bot.settings, "sales_autorenewal", True)  # the bot's deps share it
    menu = await sales_bot.say("/start")
    await sales_bot.press(menu, "1 месяц")
    await sales_bot.press(await sales_bot.say("Салон Аврора"), "Москва")
    await sales_bot.say(OWNER_BOT_TOKEN)
    question = await sales_bot.next()
    assert "автоматически" in question.text
    pay = await sales_bot.press(question, "Да, продлевать автоматически")
    assert "299.00 RUB" in pay.text
    [payment_id] = list(yookassa.payments)
    assert yookassa.created_requests[0]["save_payment_method"] is True
    yookassa.succeed(payment_id)
    assert (await webhook.notify(yookassa, "payment.succeeded", payment_id))[1]["outcome"] == "created"
    [tenant] = await kube.list(BOOKINGTENANTS, webhook.settings.tenant_namespace)
    return str(tenant["metadata"]["name"])


def _deps(sales_bot: SalesBot, platform: Platform) -> SalesDeps:
    return SalesDeps(sales_bot.settings, platform.store, platform.kube, platform.yookassa_client)


async def _ends_in(kube: KubeClient, namespace: str, name: str, delta: datetime.timedelta) -> str:
    end = format_time(datetime.datetime.now(tz=datetime.UTC) + delta)
    await kube.patch(BOOKINGTENANTS, namespace, name, {"spec": {"paidUntil": end}})
    return str(end)


def _charges(yookassa: FakeYooKassa) -> list[str]:
    """The auto-renewal charges the fake received (renewals of the saved method)."""
    return [p for p, body in yookassa.payments.items() if body["metadata"].get("kind") == "renewal"]


async def test_an_opted_in_owner_is_charged_once_before_the_end_and_told(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    ns = sales_bot.settings.tenant_namespace
    end = await _ends_in(kube, ns, name, datetime.timedelta(days=1, hours=12))
    deps = _deps(sales_bot, platform)

    assert await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings) == 1
    [charge] = _charges(yookassa)
    request = yookassa.created_requests[-1]
    assert "confirmation" not in request and request["payment_method_id"]
    assert (await webhook.notify(yookassa, "payment.succeeded", charge))[1]["outcome"] == "extended"
    assert await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings) == 0  # once per period

    tenant = await kube.get(BOOKINGTENANTS, ns, name)
    old_end = parse_time(end)
    assert old_end is not None
    assert tenant["spec"]["paidUntil"] == format_time(old_end + datetime.timedelta(days=30))
    told = await sales_bot.next()
    assert "Автопродление" in told.text and "продлена" in told.text


async def test_a_declined_charge_is_retried_later_and_then_accepted(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    ns = sales_bot.settings.tenant_namespace
    await _ends_in(kube, ns, name, datetime.timedelta(days=1))
    deps = _deps(sales_bot, platform)
    yookassa.decline_saved_method = "insufficient_funds"

    assert await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings) == 1
    [declined] = _charges(yookassa)
    assert (await webhook.notify(yookassa, "payment.canceled", declined))[1]["outcome"] == "canceled"
    told = await sales_bot.next()
    assert "не прошёл" in told.text and "insufficient_funds" in told.text
    assert (
        await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings) == 0
    )  # not before RETRY_AFTER

    yookassa.decline_saved_method = None
    later = datetime.datetime.now(tz=datetime.UTC) + RETRY_AFTER + datetime.timedelta(minutes=1)
    assert await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings, now=later) == 1
    [accepted] = [p for p in _charges(yookassa) if p != declined]
    assert (await webhook.notify(yookassa, "payment.succeeded", accepted))[1]["outcome"] == "extended"
    tenant = await kube.get(BOOKINGTENANTS, ns, name)
    assert [p["id"] for p in tenant["spec"]["payments"]][-1] == accepted


async def test_declines_are_retried_a_bounded_number_of_times(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    await _ends_in(kube, sales_bot.settings.tenant_namespace, name, datetime.timedelta(days=1))
    deps = _deps(sales_bot, platform)
    yookassa.decline_saved_method = "card_expired"
    moment = datetime.datetime.now(tz=datetime.UTC)

    for _ in range(MAX_ATTEMPTS + 2):
        await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings, now=moment)
        for payment_id in _charges(yookassa):
            await webhook.notify(yookassa, "payment.canceled", payment_id)
        moment += RETRY_AFTER + datetime.timedelta(minutes=1)

    assert len(_charges(yookassa)) == MAX_ATTEMPTS


async def test_a_charge_whose_answer_was_lost_is_not_made_twice(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    """The pass dies with the charge made but unanswered; the next pass (a restarted sales bot)
    asks again with the same Idempotence-Key and gets the same payment."""
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    await _ends_in(kube, sales_bot.settings.tenant_namespace, name, datetime.timedelta(days=1))
    deps = _deps(sales_bot, platform)
    yookassa.fail_after_charge = True
    with pytest.raises(YooKassaUnavailable):  # the pass fails, as the notifier's loop would see it
        await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings)
    yookassa.fail_after_charge = False

    await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings)

    assert len(_charges(yookassa)) == 1


async def test_an_owner_who_switches_it_off_is_not_charged(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    listing = await sales_bot.say("/autorenew")
    assert "Салон Аврора" in listing.buttons[0][0]
    done = await sales_bot.press(listing, "Отключить")
    assert "отключено" in done.text
    await _ends_in(kube, sales_bot.settings.tenant_namespace, name, datetime.timedelta(days=1))
    deps = _deps(sales_bot, platform)

    assert await charge_due(deps.store, deps.kube, deps.yookassa, deps.settings) == 0
    assert _charges(yookassa) == []


async def test_the_three_day_reminder_announces_the_charge(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, platform: Platform, kube: KubeClient
) -> None:
    name = await _buy_with_autorenewal(sales_bot, webhook, yookassa, kube)
    await _ends_in(kube, sales_bot.settings.tenant_namespace, name, datetime.timedelta(days=2, hours=20))

    assert await remind_once(sales_bot.bot, _deps(sales_bot, platform)) == 1

    notice = await sales_bot.next()
    assert "автоматически спишем 299.00 RUB" in notice.text and "*4444" in notice.text
    assert "/autorenew" in notice.text and notice.buttons == []
