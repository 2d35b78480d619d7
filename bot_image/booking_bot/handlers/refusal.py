"""What a non-admin gets when reaching for the admin surface: a refusal, and nothing changes.

Admin routers sit before this one behind the admin filter, so only non-admins get here.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from booking_bot.callbacks import Admin, Menu, StaffAdmin
from booking_bot.i18n import Texts
from booking_bot.users import Person
from booking_bot.views import alert

log = logging.getLogger("booking_bot.admin")


async def refuse_command(message: Message, texts: Texts, person: Person) -> None:
    log.info("admin command refused", extra={"event": "admin_refused", "user_id": person.telegram_id})
    await message.answer(texts("not_admin"))


async def refuse_button(query: CallbackQuery, texts: Texts, person: Person) -> None:
    log.info("admin button refused", extra={"event": "admin_refused", "user_id": person.telegram_id})
    await alert(query, texts("not_admin"))


def create_router() -> Router:
    router = Router(name="refusal")
    router.message.register(refuse_command, Command("admin"))
    router.callback_query.register(refuse_button, Admin.filter())
    router.callback_query.register(refuse_button, StaffAdmin.filter())
    router.callback_query.register(refuse_button, Menu.filter(F.action == "admin"))
    return router
