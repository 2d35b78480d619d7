"""Checking an owner's bot token with getMe before anything is paid for."""

from __future__ import annotations

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from booking_contract.telegram import BotIdentity, TelegramClient

CHECK_TIMEOUT = 10.0  # seconds: the owner is waiting for the answer in the chat


def session(api_url: str | None) -> AiohttpSession:
    """The sales bot's own aiogram session: the public Bot API, or the one configured."""
    if api_url:
        return AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return AiohttpSession()


async def check_token(token: str, api_url: str | None) -> BotIdentity:
    """getMe with the owner's token (never logged); raises TokenRejected or TelegramUnavailable."""
    async with TelegramClient(api_url, timeout=CHECK_TIMEOUT) as telegram:
        return await telegram.get_me(token)
