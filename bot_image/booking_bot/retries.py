"""Telegram errors at the HTTP layer: flood control and transient network/server failures.

A request middleware on the bot's session retries ``TelegramRetryAfter`` after the
``retry_after`` Telegram asks for (up to a cap), and network/5xx errors with a short backoff.
Blocked-by-user (403) is not retried: callers handle it (``notify.Notifier``).
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import TelegramNetworkError, TelegramRetryAfter, TelegramServerError
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response, TelegramType

log = logging.getLogger("booking_bot.telegram")

MAX_ATTEMPTS = 4
MAX_RETRY_AFTER = 60
BACKOFF = (0.5, 1.0, 2.0)


class RetryMiddleware(BaseRequestMiddleware):
    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        if method.__api_method__ == "getUpdates":  # the polling loop has its own backoff
            return await make_request(bot, method)
        attempt = 0
        while True:
            attempt += 1
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                if attempt >= MAX_ATTEMPTS or exc.retry_after > MAX_RETRY_AFTER:
                    raise
                log.warning(
                    "flood control",
                    extra={
                        "event": "telegram_flood",
                        "method": method.__api_method__,
                        "retry_after": exc.retry_after,
                    },
                )
                await asyncio.sleep(exc.retry_after)
            except (TelegramNetworkError, TelegramServerError) as exc:
                if attempt >= MAX_ATTEMPTS:
                    raise
                log.warning(
                    "telegram request failed, retrying",
                    extra={
                        "event": "telegram_retry",
                        "method": method.__api_method__,
                        "error": type(exc).__name__,
                    },
                )
                await asyncio.sleep(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)])


def install(bot: Bot) -> None:
    bot.session.middleware(RetryMiddleware())
