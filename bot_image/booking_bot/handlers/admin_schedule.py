"""The owner manages working hours per weekday, breaks and days off."""

from __future__ import annotations

import datetime as dt
import logging

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from booking_bot import keyboards, schedule, slots, staff
from booking_bot.callbacks import Admin, pack_day, unpack_day
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.handlers import closing
from booking_bot.handlers.admin import parse_date
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import Texts
from booking_bot.views import show

log = logging.getLogger("booking_bot.admin")
# Days off per page of the days-off screen (Telegram allows 100 buttons per keyboard).
DAYS_OFF_PAGE = 30

CLOSED_WORDS = frozenset({"off", "closed", "выходной", "нет", "-", "0"})


class ScheduleInput(StatesGroup):
    hours = State()
    break_time = State()
    day_off = State()
    special_day = State()


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


async def hours_input(message: Message, state: FSMContext, texts: Texts, desk: Desk) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    text = (message.text or "").strip().lower()
    interval = None if text in CLOSED_WORDS else schedule.parse_interval(text)
    if not 1 <= weekday <= 7 or (interval is None and text not in CLOSED_WORDS):
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "hours"))
        return
    change = {"kind": "hours", "weekday": weekday, "interval": closing.interval_text(interval)}
    await closing.change(message, state, desk, change)


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


async def break_input(message: Message, state: FSMContext, texts: Texts, desk: Desk) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    interval = schedule.parse_interval(message.text or "")
    if interval is None or not 1 <= weekday <= 7:
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "breaks"))
        return
    change = {"kind": "break", "weekday": weekday, "interval": closing.interval_text(interval)}
    await closing.change(message, state, desk, change)


async def break_delete(
    query: CallbackQuery, callback_data: Admin, state: FSMContext, pool: asyncpg.Pool, texts: Texts
) -> None:
    await schedule.delete_break(pool, callback_data.arg)
    await breaks_view(query, state, pool, texts)


async def days_off_view(
    query: CallbackQuery,
    callback_data: Admin,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    clock: Clock,
) -> None:
    await _days_off_screen(query, callback_data.arg, state, pool, settings, texts, clock)


async def _days_off_screen(
    query: CallbackQuery,
    page: int,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    clock: Clock,
) -> None:
    """One page of the future days off: a long holiday list must not overflow the keyboard."""
    await state.clear()
    today = slots.today_local(clock(), settings.timezone)
    days = await schedule.list_days_off(pool, today)
    pages = max(1, -(-len(days) // DAYS_OFF_PAGE))
    page = max(0, min(page, pages - 1))
    items = [
        (f"❌ {texts.date(day)}", "dayoff_del", pack_day(day))
        for day in days[page * DAYS_OFF_PAGE : (page + 1) * DAYS_OFF_PAGE]
    ]
    title = texts("admin.days_off")
    if pages > 1:
        title += "\n" + texts("admin.page", page=page + 1, pages=pages)
    await show(
        query,
        title,
        keyboards.admin_list(
            texts,
            items,
            extra=[("admin.btn.add_day_off", "dayoff_add", 0), ("admin.btn.special_day", "special_day", 0)],
            pager=("days_off", page, pages),
        ),
    )


async def day_off_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ScheduleInput.day_off)
    await show(query, texts("admin.prompt.day_off"), keyboards.admin_back(texts, "days_off"))


def parse_days(text: str, today: dt.date) -> tuple[dt.date, dt.date] | None:
    """``31.12.2030`` or ``30.12.2030 - 02.01.2031``: today or later, at most a year long."""
    text = text.strip()
    first_text, _, last_text = text.partition(" - ") if " - " in text else (text, "", text)
    first, last = parse_date(first_text), parse_date(last_text or first_text)
    if first is None or last is None or last < first or first < today or (last - first).days > 366:
        return None
    return first, last


async def day_off_input(message: Message, state: FSMContext, texts: Texts, desk: Desk) -> None:
    days = parse_days(message.text or "", slots.today_local(desk.clock(), desk.tz))
    if days is None:
        await message.answer(texts("admin.bad_date"), reply_markup=keyboards.admin_back(texts, "days_off"))
        return
    change = {"kind": "days_off", "first": days[0].isoformat(), "last": days[1].isoformat()}
    await closing.change(message, state, desk, change)


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
    await _days_off_screen(query, 0, state, pool, settings, texts, clock)


async def special_day_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ScheduleInput.special_day)
    await show(query, texts("admin.prompt.special_day"), keyboards.admin_back(texts, "days_off"))


def parse_exception(text: str, today: dt.date) -> tuple[dt.date, list[schedule.Interval]] | None:
    """``2030-12-31 10:00-14:00, 15:00-17:00`` or ``2030-12-31 off``, today or later."""
    date_text, _, rest = text.strip().partition(" ")
    day = parse_date(date_text)
    rest = rest.strip()
    intervals = [] if rest.lower() in CLOSED_WORDS else staff.parse_intervals(rest)
    if day is None or day < today or intervals is None:
        return None
    return day, intervals


async def special_day_input(message: Message, state: FSMContext, texts: Texts, desk: Desk) -> None:
    """One day with other hours for the whole business ("we close at 14:00 on 31 December")."""
    parsed = parse_exception(message.text or "", slots.today_local(desk.clock(), desk.tz))
    if parsed is None:
        await message.answer(
            texts("admin.bad_exception"), reply_markup=keyboards.admin_back(texts, "days_off")
        )
        return
    change = {
        "kind": "exception",
        "day": parsed[0].isoformat(),
        "intervals": closing.intervals_text(parsed[1]),
    }
    await closing.change(message, state, desk, change)


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
    router.callback_query.register(special_day_prompt, Admin.filter(F.action == "special_day"))
    router.message.register(special_day_input, StateFilter(ScheduleInput.special_day), F.text)
    return router
