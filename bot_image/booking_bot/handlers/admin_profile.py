"""The owner edits the business profile (address, phone, map location) and the time zone."""

from __future__ import annotations

import logging

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from booking_bot import keyboards, profile
from booking_bot.callbacks import Admin
from booking_bot.customers import clean_phone
from booking_bot.i18n import Texts
from booking_bot.profile import TenantZone
from booking_bot.views import show

log = logging.getLogger("booking_bot.admin")

FIELDS = ("address", "phone", "location", "timezone")


class ProfileInput(StatesGroup):
    address = State()
    phone = State()
    location = State()
    timezone = State()


async def profile_view(
    event: CallbackQuery | Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, zone: TenantZone
) -> None:
    await state.clear()
    current = await profile.load_profile(pool)
    location = f"{current.latitude:.5f}, {current.longitude:.5f}" if current.has_location else "—"
    tz = current.timezone or texts("admin.profile.tz_default", zone=zone.default)
    text = texts(
        "admin.profile",
        address=current.address or "—",
        phone=current.phone or "—",
        location=location,
        timezone=tz,
    )
    items = [(texts(f"admin.profile.btn.{name}"), "profile_set", i) for i, name in enumerate(FIELDS)]
    await show(event, text, keyboards.admin_list(texts, items))


async def profile_button(
    query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts, zone: TenantZone
) -> None:
    await profile_view(query, state, pool, texts, zone)


async def field_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    if not 0 <= callback_data.arg < len(FIELDS):
        await show(query, texts("not_found"), keyboards.admin_back(texts, "profile"))
        return
    name = FIELDS[callback_data.arg]
    await state.set_state(getattr(ProfileInput, name))
    await show(query, texts(f"admin.profile.prompt.{name}"), keyboards.admin_back(texts, "profile"))


async def text_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, zone: TenantZone
) -> None:
    current = await state.get_state()
    text = (message.text or "").strip()
    back = keyboards.admin_back(texts, "profile")
    if current == ProfileInput.address.state:
        if len(text) > 300:
            await message.answer(texts("admin.bad_text"), reply_markup=back)
            return
        await profile.set_text(pool, "address", "" if text == "-" else text)
    elif current == ProfileInput.phone.state:
        phone = "" if text == "-" else clean_phone(text)
        if phone is None:
            await message.answer(texts("admin.profile.bad_phone"), reply_markup=back)
            return
        await profile.set_text(pool, "phone", phone)
    elif current == ProfileInput.timezone.state:
        name = None if text == "-" else text
        if name is not None and not profile.valid_timezone(name):
            await message.answer(texts("admin.profile.bad_timezone"), reply_markup=back)
            return
        await profile.set_text(pool, "timezone", name)
        applied = zone.apply(name)
        log.info("timezone changed", extra={"event": "timezone_changed", "timezone": applied})
    else:
        await message.answer(texts("admin.profile.prompt.location"), reply_markup=back)
        return
    await profile_view(message, state, pool, texts, zone)


async def location_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, zone: TenantZone
) -> None:
    if message.location is None:  # the filter lets only locations through
        return
    await profile.set_location(pool, message.location.latitude, message.location.longitude)
    await profile_view(message, state, pool, texts, zone)


def create_router() -> Router:
    router = Router(name="admin_profile")
    router.callback_query.register(profile_button, Admin.filter(F.action == "profile"))
    router.callback_query.register(field_prompt, Admin.filter(F.action == "profile_set"))
    router.message.register(location_input, StateFilter(ProfileInput.location), F.location)
    router.message.register(
        text_input,
        StateFilter(ProfileInput.address, ProfileInput.phone, ProfileInput.timezone, ProfileInput.location),
        F.text,
    )
    return router
