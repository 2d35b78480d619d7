"""/start, the main menu, and what is left when nothing else matched."""

from __future__ import annotations

import contextlib

import asyncpg
from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from booking_bot import keyboards, profile
from booking_bot.callbacks import Menu, Noop
from booking_bot.config import Settings
from booking_bot.i18n import Texts
from booking_bot.views import show


def greeting(t: Texts, settings: Settings) -> str:
    return t("greeting", business=settings.business_name)


async def welcome(
    pool: asyncpg.Pool, t: Texts, settings: Settings, is_admin: bool
) -> tuple[str, InlineKeyboardMarkup]:
    """The greeting with the business's address and phone, and a map button once there is a location."""
    current = await profile.load_profile(pool)
    text = greeting(t, settings)
    contact = profile.contact_text(current, t)
    markup = keyboards.main_menu(t, is_admin=is_admin, where=current.has_location)
    return (f"{text}\n{contact}" if contact else text), markup


async def start(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, settings: Settings, is_admin: bool
) -> None:
    await state.clear()
    text, markup = await welcome(pool, texts, settings, is_admin)
    await message.answer(text, reply_markup=markup)


async def home(
    query: CallbackQuery,
    state: FSMContext,
    pool: asyncpg.Pool,
    texts: Texts,
    settings: Settings,
    is_admin: bool,
) -> None:
    await state.clear()
    text, markup = await welcome(pool, texts, settings, is_admin)
    await show(query, text, markup)


async def where(query: CallbackQuery, pool: asyncpg.Pool, texts: Texts, settings: Settings) -> None:
    """The business on the map, as a venue (pin, name and address) in the customer's chat."""
    current = await profile.load_profile(pool)
    if current.latitude is None or current.longitude is None or query.bot is None or query.from_user is None:
        await show(query, texts("not_found"), keyboards.only_home(texts))
        return
    await query.bot.send_venue(
        query.from_user.id,
        latitude=current.latitude,
        longitude=current.longitude,
        title=settings.business_name,
        address=current.address or settings.business_name,
    )
    with contextlib.suppress(TelegramBadRequest):
        await query.answer()


async def help_command(message: Message, texts: Texts) -> None:
    await message.answer(texts("help"), reply_markup=keyboards.only_home(texts))


async def cancel_input(
    message: Message, state: FSMContext, texts: Texts, settings: Settings, is_admin: bool
) -> None:
    await state.clear()
    await message.answer(
        greeting(texts, settings), reply_markup=keyboards.main_menu(texts, is_admin=is_admin)
    )


async def noop(query: CallbackQuery, callback_data: Noop, texts: Texts) -> None:
    hint = {"closed": texts("calendar.closed_hint"), "full": texts("calendar.full_hint")}.get(
        callback_data.why
    )
    with contextlib.suppress(TelegramBadRequest):
        await query.answer(hint)


async def unknown_text(message: Message, texts: Texts, is_admin: bool) -> None:
    await message.answer(texts("unknown"), reply_markup=keyboards.main_menu(texts, is_admin=is_admin))


async def stale_button(query: CallbackQuery, texts: Texts) -> None:
    with contextlib.suppress(TelegramBadRequest):
        await query.answer(texts("stale_button"), show_alert=True)


def create_router() -> Router:
    router = Router(name="common")
    router.message.register(start, CommandStart())
    router.message.register(help_command, Command("help"))
    router.message.register(cancel_input, Command("cancel"))
    router.callback_query.register(home, Menu.filter(F.action == "home"))
    router.callback_query.register(where, Menu.filter(F.action == "where"))
    router.callback_query.register(noop, Noop.filter())
    return router


def create_fallback_router() -> Router:
    """Last in line: unknown text gets the menu, unknown buttons a short note."""
    router = Router(name="fallback")
    router.message.register(unknown_text)
    router.callback_query.register(stale_button)
    return router
