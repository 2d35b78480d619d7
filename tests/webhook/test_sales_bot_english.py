"""The sales conversation in the owner's language: English for an ``en*`` Telegram client,
Russian (the shop's language) for every other one. Over real HTTP, as test_sales_bot.py."""

from __future__ import annotations

import string
from typing import Any

from booking_webhook.salesbot import texts
from harness.kube import BOOKINGTENANTS, KubeClient
from harness.telegram import SentMessage
from harness.yookassa import FakeYooKassa

from .conftest import OWNER_BOT_TOKEN, SALES_TOKEN, SalesBot, WebhookServer


class Owner:
    """The test's owner, writing and pressing from a client in ``language_code``."""

    def __init__(self, sales: SalesBot, language_code: str) -> None:
        self.sales = sales
        self.user: dict[str, Any] = {"id": sales.owner, "first_name": "Owner", "language_code": language_code}

    async def say(self, text: str) -> SentMessage:
        self.sales.tg.push_message(SALES_TOKEN, self.user, text)
        return await self.sales.next()

    async def press(self, message: SentMessage, button: str) -> SentMessage:
        self.sales.tg.push_callback(SALES_TOKEN, self.user, message, message.button_data(button))
        return await self.sales.next()


def _reply_buttons(message: SentMessage) -> list[str]:
    return [b["text"] for row in (message.reply_markup or {}).get("keyboard") or [] for b in row]


async def test_an_english_owner_is_answered_in_english_from_greeting_to_payment(sales_bot: SalesBot) -> None:
    owner = Owner(sales_bot, "en-GB")
    menu = await owner.say("/start")
    assert menu.text.startswith("Hello! Here you can buy a booking bot")
    ask_company = await owner.press(menu, "1 месяц")  # a plan's title is the shop's setting
    assert ask_company.text == "What is your company called? (up to 128 characters)"
    ask_zone = await owner.say("Aurora Salon")
    assert ask_zone.text.startswith("Which time zone does your business work in?")
    ask_token = await owner.press(ask_zone, "Yekaterinburg (UTC+5)")
    assert ask_token.text.startswith(
        "Time zone: Asia/Yekaterinburg.\n\nSend your bot's token from @BotFather"
    )
    assert _reply_buttons(ask_token) == ["Create a bot without BotFather"]
    found = await owner.say(OWNER_BOT_TOKEN)
    assert (
        found.text == "Found the bot @aurora_salon_bot. The message with the token was deleted from the chat."
    )
    pay = await sales_bot.next()
    assert pay.text.startswith("Order: “Aurora Salon”, plan 1m (30 days), 299.00 RUB.\nPay with the button")
    assert [text for text, _ in pay.buttons] == ["Pay 299.00 RUB"]


async def test_an_english_owners_mistakes_are_explained_in_english(
    sales_bot: SalesBot, yookassa: FakeYooKassa
) -> None:
    owner = Owner(sales_bot, "en")
    ask_company = await owner.press(await owner.say("/start"), "1 месяц")
    assert (await owner.say("x" * 129)).text == "The name must be 1 to 128 characters long. Please try again."
    ask_zone = await owner.say("Aurora Salon")
    await owner.press(ask_zone, "Moscow (UTC+3)")
    refused = await owner.say("1234567:short-secret")
    assert refused.text == "That does not look like a bot token. Send a string like 123456:ABC..."
    rejected = await owner.say("1234567:TEST-not-a-known-token-xyz")
    assert rejected.text.startswith("Telegram did not accept this token.")
    assert ask_company.text.startswith("What is your company called?") and yookassa.created_requests == []


async def test_an_english_owners_status_is_in_english(
    sales_bot: SalesBot, webhook: WebhookServer, yookassa: FakeYooKassa, kube: KubeClient
) -> None:
    owner = Owner(sales_bot, "en")
    await owner.press(await owner.say("/start"), "1 месяц")
    await owner.press(await owner.say("Aurora Salon"), "Moscow (UTC+3)")
    await owner.say(OWNER_BOT_TOKEN)
    await sales_bot.next()  # the payment link
    payment_id = next(iter(yookassa.payments))
    yookassa.succeed(payment_id)
    await webhook.notify(yookassa, "payment.succeeded", payment_id)
    ns = webhook.settings.tenant_namespace
    [tenant] = await kube.list(BOOKINGTENANTS, ns)
    await kube.patch(
        BOOKINGTENANTS,
        ns,
        tenant["metadata"]["name"],
        {"status": {"phase": "Ready", "botUsername": "aurora_salon_bot"}},
        "status",
    )
    ready = await sales_bot.next()  # sent outside the conversation, in the checkout's language
    assert ready.text.startswith("Done! Your bot @aurora_salon_bot is running: https://t.me/aurora_salon_bot")
    status = await owner.say("/status")
    assert status.text.startswith("“Aurora Salon”: plan 1m, status running, paid until ")
    assert status.text.endswith(", bot @aurora_salon_bot")


async def test_a_client_in_another_language_is_answered_in_russian(sales_bot: SalesBot) -> None:
    owner = Owner(sales_bot, "de")
    menu = await owner.say("/start")
    assert menu.text.startswith("Здравствуйте!")
    assert (await owner.press(menu, "1 месяц")).text.startswith("Как называется ваша компания?")


def test_every_text_exists_in_both_languages_with_the_same_placeholders() -> None:
    def fields(template: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name}

    assert texts.RU.keys() == texts.EN.keys()
    assert {k: fields(v) for k, v in texts.EN.items()} == {k: fields(v) for k, v in texts.RU.items()}
