"""Showing a screen: edit the message behind a pressed button, or send a new one."""

from __future__ import annotations

import contextlib

from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def show(event: Message | CallbackQuery, text: str, markup: InlineKeyboardMarkup | None = None) -> None:
    if isinstance(event, CallbackQuery):
        message = event.message
        if isinstance(message, Message):
            try:
                await message.edit_text(text, reply_markup=markup)
            except TelegramBadRequest as exc:
                if "not modified" not in str(exc):
                    await message.answer(text, reply_markup=markup)
        elif event.from_user and event.bot:
            await event.bot.send_message(event.from_user.id, text, reply_markup=markup)
        with contextlib.suppress(TelegramBadRequest):
            await event.answer()
        return
    await event.answer(text, reply_markup=markup)


async def alert(query: CallbackQuery, text: str) -> None:
    with contextlib.suppress(TelegramBadRequest):
        await query.answer(text, show_alert=True)
