"""The command menus Telegram shows: /start and /help for everyone, /admin only in admins' chats."""

from __future__ import annotations

import contextlib
import logging

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError
from aiogram.types import BotCommand, BotCommandScopeChat, BotCommandScopeDefault

from booking_bot.i18n import I18n

log = logging.getLogger("booking_bot.commands")


async def set_default_commands(bot: Bot, i18n: I18n) -> None:
    try:
        for lang in ("ru", "en"):
            t = i18n[lang]
            commands = [
                BotCommand(command="start", description=t("cmd.start")),
                BotCommand(command="help", description=t("cmd.help")),
            ]
            await bot.set_my_commands(
                commands, scope=BotCommandScopeDefault(), language_code=None if lang == i18n.default else lang
            )
    except (TelegramAPIError, TelegramNetworkError) as exc:
        log.warning(
            "cannot set commands", extra={"event": "set_commands_failed", "error": type(exc).__name__}
        )


async def set_admin_commands(bot: Bot, i18n: I18n, admin_id: int) -> None:
    """Show /admin in one admin's chat (fails quietly if they never opened the bot)."""
    t = i18n[i18n.default]
    commands = [
        BotCommand(command="start", description=t("cmd.start")),
        BotCommand(command="admin", description=t("cmd.admin")),
        BotCommand(command="help", description=t("cmd.help")),
    ]
    with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
        await bot.set_my_commands(commands, scope=BotCommandScopeChat(chat_id=admin_id))


async def clear_admin_commands(bot: Bot, admin_id: int) -> None:
    with contextlib.suppress(TelegramAPIError, TelegramNetworkError):
        await bot.delete_my_commands(scope=BotCommandScopeChat(chat_id=admin_id))
