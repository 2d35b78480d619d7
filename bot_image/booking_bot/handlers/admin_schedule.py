"""The owner manages working hours per weekday, breaks and days off."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from booking_bot import bookings, closures, keyboards, schedule, slots, staff
from booking_bot.callbacks import Admin, pack_day, unpack_day
from booking_bot.config import Settings
from booking_bot.handlers.admin import booking_line, fit, parse_date
from booking_bot.handlers.booking import Clock
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.admin")
# Days off per page of the days-off screen (Telegram allows 100 buttons per keyboard).
DAYS_OFF_PAGE = 30

CLOSED_WORDS = frozenset({"off", "closed", "выходной", "нет", "-", "0"})


class ScheduleInput(StatesGroup):
    hours = State()
    break_time = State()
    day_off = State()
    special_day = State()
    conflicts = State()  # a change waits for the owner's word on the bookings it hits


# ---- a change that hits existing bookings ---------------------------------------------------------
def _interval_text(interval: schedule.Interval | None) -> str | None:
    return None if interval is None else f"{interval.start:%H:%M}-{interval.end:%H:%M}"


def _parse_pending_interval(text: object) -> schedule.Interval | None:
    return schedule.parse_interval(str(text)) if text else None


async def _affected(
    pool: asyncpg.Pool, change: dict[str, Any], now: dt.datetime, settings: Settings
) -> list[bookings.Booking]:
    tz = settings.timezone
    kind = change["kind"]
    if kind == "days_off":
        first, last = dt.date.fromisoformat(change["first"]), dt.date.fromisoformat(change["last"])
        return await closures.on_days(pool, first, last, now, tz)
    if kind == "exception":
        day = dt.date.fromisoformat(change["day"])
        return await closures.outside_day(pool, day, _intervals(change), now, tz)
    interval = _parse_pending_interval(change.get("interval"))
    if kind == "break":
        return (
            []
            if interval is None
            else await closures.in_break(pool, int(change["weekday"]), interval, now, tz)
        )
    return await closures.outside_hours(pool, int(change["weekday"]), interval, now, tz)


async def _apply(pool: asyncpg.Pool, change: dict[str, Any]) -> None:
    kind = change["kind"]
    if kind == "days_off":
        day, last = dt.date.fromisoformat(change["first"]), dt.date.fromisoformat(change["last"])
        while day <= last:
            await schedule.add_day_off(pool, day)
            day += dt.timedelta(days=1)
    elif kind == "exception":
        await staff.set_exception(pool, None, dt.date.fromisoformat(change["day"]), _intervals(change))
    elif kind == "break":
        interval = _parse_pending_interval(change["interval"])
        if interval is not None:  # validated when the owner typed it
            await schedule.add_break(pool, int(change["weekday"]), interval)
    else:
        await schedule.set_hours(
            pool, int(change["weekday"]), _parse_pending_interval(change.get("interval"))
        )


_BACK = {"days_off": "days_off", "break": "breaks", "hours": "hours", "exception": "days_off"}


def _intervals(change: dict[str, Any]) -> list[schedule.Interval]:
    return staff.parse_intervals(str(change["intervals"])) or [] if change.get("intervals") else []


async def _change(
    message: Message,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    now: dt.datetime,
    change: dict[str, Any],
) -> None:
    """Apply a schedule change, or first show the owner the bookings it would leave stranded."""
    hit = await _affected(pool, change, now, settings)
    back = _BACK[change["kind"]]
    if not hit:
        await _apply(pool, change)
        await state.clear()
        await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, back))
        return
    await state.set_state(ScheduleInput.conflicts)
    await state.update_data(change=change)
    lines = [texts("admin.conflicts", count=texts.count("booking", len(hit)))]
    lines += [f"{texts.date(b.starts_at)} {booking_line(texts, b)}" for b in hit]
    markup = keyboards.admin_list(
        texts,
        [],
        extra=[("admin.btn.close_cancel", "sch_apply", 1), ("admin.btn.close_keep", "sch_apply", 0)],
        back=back,
    )
    await message.answer(fit(lines, texts), reply_markup=markup)


async def apply_change(
    query: CallbackQuery,
    callback_data: Admin,
    state: FSMContext,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    clock: Clock,
    notifier: Notifier,
) -> None:
    change = (await state.get_data()).get("change")
    if not isinstance(change, dict):
        await alert(query, texts("stale_button"))
        return
    now = clock()
    hit = await _affected(pool, change, now, settings) if callback_data.arg == 1 else []
    await _apply(pool, change)
    await state.clear()
    for booking in hit:
        try:
            cancelled = await bookings.cancel_booking(pool, booking.id, by="admin", now=now)
        except bookings.NotFound:
            continue  # cancelled meanwhile
        log.info(
            "booking cancelled",
            extra={"event": "booking_cancelled", "booking_id": booking.id, "by": "admin", "why": "closed"},
        )
        notifier.later(notifier.customer_cancelled_by_admin(cancelled, settings.business_name))
    key = "admin.saved_cancelled" if hit else "admin.saved"
    await show(
        query,
        texts(key, count=texts.count("booking", len(hit))),
        keyboards.admin_back(texts, _BACK[str(change["kind"])]),
    )


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


async def hours_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, settings: Settings, texts: Texts, clock: Clock
) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    text = (message.text or "").strip().lower()
    interval = None if text in CLOSED_WORDS else schedule.parse_interval(text)
    if not 1 <= weekday <= 7 or (interval is None and text not in CLOSED_WORDS):
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "hours"))
        return
    change = {"kind": "hours", "weekday": weekday, "interval": _interval_text(interval)}
    await _change(message, state, pool, settings, texts, clock(), change)


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


async def break_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, settings: Settings, texts: Texts, clock: Clock
) -> None:
    weekday = int((await state.get_data()).get("weekday", 0))
    interval = schedule.parse_interval(message.text or "")
    if interval is None or not 1 <= weekday <= 7:
        await message.answer(texts("admin.bad_interval"), reply_markup=keyboards.admin_back(texts, "breaks"))
        return
    change = {"kind": "break", "weekday": weekday, "interval": _interval_text(interval)}
    await _change(message, state, pool, settings, texts, clock(), change)


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
    change = {"kind": "days_off", "first": first.isoformat(), "last": last.isoformat()}
    await _change(message, state, pool, settings, texts, clock(), change)


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


async def special_day_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, settings: Settings, texts: Texts, clock: Clock
) -> None:
    """One day with other hours for the whole business ("we close at 14:00 on 31 December")."""
    date_text, _, rest = (message.text or "").strip().partition(" ")
    day = parse_date(date_text)
    rest = rest.strip()
    intervals = [] if rest.lower() in CLOSED_WORDS else staff.parse_intervals(rest)
    today = slots.today_local(clock(), settings.timezone)
    if day is None or day < today or intervals is None:
        await message.answer(
            texts("admin.bad_exception"), reply_markup=keyboards.admin_back(texts, "days_off")
        )
        return
    text = ", ".join(f"{i.start:%H:%M}-{i.end:%H:%M}" for i in intervals)
    change = {"kind": "exception", "day": day.isoformat(), "intervals": text}
    await _change(message, state, pool, settings, texts, clock(), change)


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
    router.callback_query.register(apply_change, Admin.filter(F.action == "sch_apply"))
    router.callback_query.register(special_day_prompt, Admin.filter(F.action == "special_day"))
    router.message.register(special_day_input, StateFilter(ScheduleInput.special_day), F.text)
    return router
