"""The customer's phone number, shared once after the first booking (or skipped)."""

from __future__ import annotations

import logging

import asyncpg
from aiogram import F, Router
from aiogram.types import Message, ReplyKeyboardRemove

from booking_bot import keyboards
from booking_bot.config import Settings
from booking_bot.handlers.common import greeting
from booking_bot.i18n import I18n, Texts
from booking_bot.notify import Notifier
from booking_bot.users import Person, set_phone

log = logging.getLogger("booking_bot.contact")


async def shared(
    message: Message,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    is_admin: bool,
    notifier: Notifier,
) -> None:
    contact = message.contact
    if contact is None or contact.user_id != person.telegram_id:
        await message.answer(texts("phone.not_yours"), reply_markup=ReplyKeyboardRemove())
        return
    await set_phone(pool, person.telegram_id, contact.phone_number)
    log.info("phone shared", extra={"event": "phone_shared", "user_id": person.telegram_id})
    notifier.later(notifier.release_for(person.telegram_id))
    await message.answer(texts("phone.thanks"), reply_markup=ReplyKeyboardRemove())
    await message.answer(
        greeting(texts, settings), reply_markup=keyboards.main_menu(texts, is_admin=is_admin)
    )


async def skipped(
    message: Message, settings: Settings, texts: Texts, person: Person, is_admin: bool, notifier: Notifier
) -> None:
    notifier.later(notifier.release_for(person.telegram_id))
    await message.answer(texts("phone.skipped"), reply_markup=ReplyKeyboardRemove())
    await message.answer(
        greeting(texts, settings), reply_markup=keyboards.main_menu(texts, is_admin=is_admin)
    )


def create_router(i18n: I18n) -> Router:
    router = Router(name="contact")
    router.message.register(shared, F.contact)
    router.message.register(skipped, F.text.in_({i18n[lang]("phone.skip") for lang in ("ru", "en")}))
    return router
