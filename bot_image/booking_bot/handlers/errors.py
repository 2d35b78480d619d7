"""A failing handler never takes the bot down: log it (no user data), tell the user, move on."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Router
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError
from aiogram.types import ErrorEvent

from booking_bot.i18n import I18n

log = logging.getLogger("booking_bot.errors")


async def on_error(event: ErrorEvent, i18n: I18n) -> bool:
    exc = event.exception
    update = event.update
    if isinstance(exc, TelegramForbiddenError):
        log.info("user blocked the bot", extra={"event": "user_blocked", "update_id": update.update_id})
        return True
    log.error(
        "handler failed",
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"event": "handler_failed", "update_id": update.update_id, "error": type(exc).__name__},
    )
    user = None
    if update.message and update.message.from_user:
        user = update.message.from_user
    elif update.callback_query:
        user = update.callback_query.from_user
    if user is not None and event.update.bot is not None:
        t = i18n.for_user(user.language_code)
        with contextlib.suppress(TelegramAPIError):
            if update.callback_query:
                await update.callback_query.answer(t("error.generic"), show_alert=True)
            else:
                await event.update.bot.send_message(user.id, t("error.generic"))
    return True


def create_router() -> Router:
    router = Router(name="errors")
    router.errors.register(on_error)
    return router
