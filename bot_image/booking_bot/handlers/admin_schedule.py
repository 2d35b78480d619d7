"""The owner manages working hours per weekday, breaks and days off."""

from __future__ import annotations

import datetime as dt

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from booking_bot import keyboards, schedule, slots
from booking_bot.callbacks import Admin, pack_day, unpack_day
from booking_bot.config import Settings
from booking_bot.handlers.admin import parse_date
from booking_bot.handlers.booking import Clock
from booking_bot.i18n import Texts
from booking_bot.views import show

CLOSED_WORDS = frozenset({"off", "closed", "выходной", "нет", "-", "0"})


class ScheduleInput(StatesGroup):
    hours = State()
    break_time = State()
    day_off = State()


def _interval(t: Texts, interval: schedule.Interval) -> str:
    return f"{interval.start:%H:%M}–{interval.end:%H:%M}"


async def hours_view(query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    await state.clear()
    current = await schedule.load_schedule(pool)
    items = []
    for weekday in range(1, 8):
        hours = current.hours.get(weekday)
        value = _interval(texts, hours) if hours else texts("admin.closed")
        items.append((f"{texts.weekday(weekday, short=False)}: {value}", "hours_day", weekday))
    await show(query, texts("admin.hours"), keyboards.admin_list(texts, items))


async def hours_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ScheduleInput.hours)
    await state.update_data(weekday=callback_data.arg)
    await show(
        query,
        texts("admin.prompt.hours", weekday=texts.weekday(callback_data.arg, short=False)),
        keyboards.admin_back(texts, "hours"),
    )


async def hours_input(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    text = (message.text or "").strip().lower()
    interval = None if text in CLOSED_WORDS else schedule.parse_interval(text)
    if not 1 <= weekday <= 7 or (interval is None and text not in CLOSED_WORDS):
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "hours"))
        return
    await schedule.set_hours(pool, weekday, interval)
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "hours"))


async def breaks_view(query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    await state.clear()
    items = [
        (f"❌ {texts.weekday(weekday)} {_interval(texts, interval)}", "break_del", break_id)
        for break_id, weekday, interval in await schedule.list_breaks(pool)
    ]
    await show(
        query,
        texts("admin.breaks"),
        keyboards.admin_list(texts, items, extra=[("admin.btn.add_break", "break_add", 0)]),
    )


async def break_weekday(query: CallbackQuery, texts: Texts) -> None:
    items = [(texts.weekday(weekday, short=False), "break_wd", weekday) for weekday in range(1, 8)]
    await show(query, texts("admin.pick_weekday"), keyboards.admin_list(texts, items, back="breaks"))


async def break_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ScheduleInput.break_time)
    await state.update_data(weekday=callback_data.arg)
    await show(
        query,
        texts("admin.prompt.break", weekday=texts.weekday(callback_data.arg, short=False)),
        keyboards.admin_back(texts, "breaks"),
    )


async def break_input(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    interval = schedule.parse_interval(message.text or "")
    if interval is None or not 1 <= weekday <= 7:
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "breaks"))
        return
    await schedule.add_break(pool, weekday, interval)
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "breaks"))


async def break_delete(
    query: CallbackQuery, callback_data: Admin, state: FSMContext, pool: asyncpg.Pool, texts: Texts
) -> None:
    await schedule.delete_break(pool, callback_data.arg)
    await breaks_view(query, state, pool, texts)


async def days_off_view(
    query: CallbackQuery,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    clock: Clock,
) -> None:
    await state.clear()
    today = slots.today_local(clock(), settings.timezone)
    items = [
        (f"❌ {texts.date(day)}", "dayoff_del", pack_day(day))
        for day in await schedule.list_days_off(pool, today)
    ]
    await show(
        query,
        texts("admin.days_off"),
        keyboards.admin_list(texts, items, extra=[("admin.btn.add_day_off", "dayoff_add", 0)]),
    )


async def day_off_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ScheduleInput.day_off)
    await show(query, texts("admin.prompt.day_off"), keyboards.admin_back(texts, "days_off"))


async def day_off_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, settings: Settings, texts: Texts, clock: Clock
) -> None:
    text = (message.text or "").strip()
    first_text, _, last_text = text.partition(" - ") if " - " in text else (text, "", text)
    first, last = parse_date(first_text), parse_date(last_text or first_text)
    today = slots.today_local(clock(), settings.timezone)
    if first is None or last is None or last < first or first < today or (last - first).days > 366:
        await message.answer(texts("admin.bad_date"), reply_markup=keyboards.admin_back(texts, "days_off"))
        return
    day = first
    while day <= last:
        await schedule.add_day_off(pool, day)
        day += dt.timedelta(days=1)
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "days_off"))


async def day_off_delete(
    query: CallbackQuery,
    callback_data: Admin,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    clock: Clock,
) -> None:
    await schedule.remove_day_off(pool, unpack_day(callback_data.arg))
    await days_off_view(query, state, pool, settings, texts, clock)


def create_router() -> Router:
    router = Router(name="admin_schedule")
    router.callback_query.register(hours_view, Admin.filter(F.action == "hours"))
    router.callback_query.register(hours_prompt, Admin.filter(F.action == "hours_day"))
    router.message.register(hours_input, StateFilter(ScheduleInput.hours), F.text)
    router.callback_query.register(breaks_view, Admin.filter(F.action == "breaks"))
    router.callback_query.register(break_weekday, Admin.filter(F.action == "break_add"))
    router.callback_query.register(break_prompt, Admin.filter(F.action == "break_wd"))
    router.message.register(break_input, StateFilter(ScheduleInput.break_time), F.text)
    router.callback_query.register(break_delete, Admin.filter(F.action == "break_del"))
    router.callback_query.register(days_off_view, Admin.filter(F.action == "days_off"))
    router.callback_query.register(day_off_prompt, Admin.filter(F.action == "dayoff_add"))
    router.message.register(day_off_input, StateFilter(ScheduleInput.day_off), F.text)
    router.callback_query.register(day_off_delete, Admin.filter(F.action == "dayoff_del"))
    return router
