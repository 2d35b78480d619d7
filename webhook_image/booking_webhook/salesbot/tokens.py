"""Checking an owner's bot token with getMe before anything is paid for."""

from __future__ import annotations

import re

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiogram.types import User

TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{10,100}$")


class TokenRejected(Exception):
    """Telegram does not know this token."""


class TelegramUnavailable(Exception):
    """Telegram could not be asked."""


def session(api_url: str | None) -> AiohttpSession:
    if api_url:
        return AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    return AiohttpSession()


def looks_like_token(text: str) -> bool:
    return bool(TOKEN_RE.fullmatch(text.strip()))


async def check_token(token: str, api_url: str | None) -> User:
    """getMe with the owner's token; the token is never logged."""
    bot = Bot(token.strip(), session=session(api_url))
    try:
        return await bot.get_me(request_timeout=10)
    except TelegramUnauthorizedError:
        raise TokenRejected from None
    except (TelegramNetworkError, TelegramServerError):
        raise TelegramUnavailable from None
    finally:
        await bot.session.close()
