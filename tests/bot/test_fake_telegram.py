"""The fake Bot API speaks the wire protocol aiogram uses (other components rely on it)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from harness.telegram import FakeTelegram


def _bot(tg: FakeTelegram, token: str) -> Bot:
    return Bot(token, session=AiohttpSession(api=TelegramAPIServer.from_base(tg.url)))


async def test_get_me_answers_per_token_identity(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA", username="first_bot")
    telegram.add_bot("1002:BBB", username="second_bot")
    async with _bot(telegram, "1001:AAA") as one, _bot(telegram, "1002:BBB") as two:
        assert (await one.get_me()).username == "first_bot"
        assert (await two.get_me()).id == 1002


async def test_unknown_token_gets_401(telegram: FakeTelegram) -> None:
    async with aiohttp.ClientSession() as http, http.post(f"{telegram.url}/bot999:NOPE/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
    async with _bot(telegram, "999:NOPE") as bot:
        with pytest.raises(TelegramUnauthorizedError):
            await bot.get_me()


async def test_get_updates_long_polls_until_an_update_is_pushed(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as bot:
        poll = asyncio.create_task(bot.get_updates(offset=0, timeout=5))
        await telegram.wait_for_call("getUpdates", "1001:AAA")  # the poll is waiting at the server
        assert not poll.done()
        telegram.push_message("1001:AAA", 42, "/start")
        updates = await asyncio.wait_for(poll, 2)
        assert updates[0].message is not None and updates[0].message.text == "/start"
        # Confirming with offset drops the update.
        assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=0) == []


async def test_send_and_edit_are_recorded_per_chat(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    markup = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="Yes", callback_data="y:1")]])
    async with _bot(telegram, "1001:AAA") as bot:
        sent = await bot.send_message(42, "hello", reply_markup=markup)
        await bot.edit_message_text(text="edited", chat_id=42, message_id=sent.message_id)
    first = await telegram.next_message("1001:AAA", 42)
    assert (first.text, first.button_data("Yes")) == ("hello", "y:1")
    second = await telegram.next_message("1001:AAA", 42)
    assert (second.method, second.text, second.message_id) == ("editMessageText", "edited", sent.message_id)
    with pytest.raises(TimeoutError):
        await telegram.next_message("1001:AAA", 42, timeout=0.1)


async def test_simulated_flood_control_and_blocked_user(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    telegram.fail_next("sendMessage", "1001:AAA", error_code=429, retry_after=3)
    telegram.block_user("1001:AAA", 77)
    async with _bot(telegram, "1001:AAA") as bot:
        with pytest.raises(TelegramRetryAfter) as flood:
            await bot.send_message(42, "x")
        assert flood.value.retry_after == 3
        await bot.send_message(42, "x")
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(77, "x")


async def test_stubbed_result_for_any_method(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    telegram.set_result("getManagedBotToken", "5005:MANAGED", "1001:AAA")
    url = f"{telegram.url}/bot1001:AAA/getManagedBotToken"
    async with aiohttp.ClientSession() as http, http.post(url, json={"user_id": 5}) as resp:
        assert await resp.json() == {"ok": True, "result": "5005:MANAGED"}
    assert telegram.calls_of("getManagedBotToken")[0].params == {"user_id": 5}


async def test_telegram_limits_are_enforced(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as bot:
        with pytest.raises(TelegramBadRequest, match="too long"):
            await bot.send_message(42, "x" * 4097)
        with pytest.raises(TelegramBadRequest, match="empty"):
            await bot.send_message(42, " ")
        many = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text=str(i), callback_data=str(i))] for i in range(101)]
        )
        with pytest.raises(TelegramBadRequest, match="too many"):
            await bot.send_message(42, "x", reply_markup=many)


async def test_a_second_poller_ends_the_first_with_409(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as one, _bot(telegram, "1001:AAA") as two:
        first = asyncio.create_task(one.get_updates(timeout=5))
        await telegram.wait_for_call("getUpdates", "1001:AAA")  # the first poller is registered
        second = asyncio.create_task(two.get_updates(timeout=1))
        with pytest.raises(TelegramConflictError):
            await asyncio.wait_for(first, 2)
        assert await second == []


async def test_an_overlapping_poller_is_recorded_as_a_conflict(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as one, _bot(telegram, "1001:AAA") as two:
        first = asyncio.create_task(one.get_updates(timeout=5))
        await telegram.wait_for_call("getUpdates", "1001:AAA")
        await two.get_updates(timeout=0)
        with pytest.raises(TelegramConflictError):
            await asyncio.wait_for(first, 2)
    assert telegram.conflicts == ["1001:AAA"]


async def test_a_poller_that_hung_up_is_no_conflict(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as one, _bot(telegram, "1001:AAA") as two:
        first = asyncio.create_task(one.get_updates(timeout=5))
        await telegram.wait_for_call("getUpdates", "1001:AAA")
        first.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first
        await one.session.close()  # the connection is gone, as when a process stops polling
        await telegram.wait_for_hang_up("1001:AAA")
        assert await two.get_updates(timeout=0) == []
    assert telegram.conflicts == []


async def test_get_updates_is_refused_while_a_webhook_is_set(telegram: FakeTelegram) -> None:
    telegram.add_bot("1001:AAA")
    async with _bot(telegram, "1001:AAA") as bot:
        await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
        with pytest.raises(TelegramConflictError, match="webhook is active"):
            await bot.get_updates(timeout=0)
        await bot.delete_webhook()
        assert await bot.get_updates(timeout=0) == []
