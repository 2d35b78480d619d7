"""A schedule change that would strand bookings waits for the owner's word.

One flow for the business's week, breaks, days off and one-day hours, and for one master's own
week, breaks, days off, one-day hours or hiding: the change is described by a small dict (kept
in the FSM data, so it survives a restart with Redis storage), the customers' bookings it would
leave outside working time are listed, and the owner applies it cancelling them (each customer
is told, their unsent reminders are dropped, as for any cancellation by the owner) or keeping
them. Nothing changes before the owner answers. Without such bookings it applies at once.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

import asyncpg
from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from booking_bot import bookings, closures, keyboards, schedule, staff
from booking_bot.callbacks import Admin, StaffAdmin
from booking_bot.handlers.admin import booking_line, fit
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import Texts
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.admin")

Change = dict[str, Any]


class Closing(StatesGroup):
    pending = State()  # a change waits for the owner's word on the bookings it hits


def interval_text(interval: schedule.Interval | None) -> str | None:
    return None if interval is None else f"{interval.start:%H:%M}-{interval.end:%H:%M}"


def intervals_text(intervals: list[schedule.Interval]) -> str:
    return ", ".join(f"{i.start:%H:%M}-{i.end:%H:%M}" for i in intervals)


def _interval(change: Change) -> schedule.Interval | None:
    text = change.get("interval")
    return schedule.parse_interval(str(text)) if text else None


def _intervals(change: Change) -> list[schedule.Interval]:
    text = change.get("intervals")
    return (staff.parse_intervals(str(text)) or []) if text else []


def _days(change: Change) -> list[dt.date]:
    day, last = dt.date.fromisoformat(change["first"]), dt.date.fromisoformat(change["last"])
    found = []
    while day <= last:
        found.append(day)
        day += dt.timedelta(days=1)
    return found


async def affected(desk: Desk, change: Change, now: dt.datetime) -> list[bookings.Booking]:
    """The customers' upcoming bookings that the change would leave outside working time."""
    pool, tz, kind = desk.pool, desk.tz, change["kind"]
    member: int | None = change.get("staff")  # None: the whole business
    if kind == "hide" and member is not None:
        return await closures.of_master(pool, member, now, tz)
    if kind == "reset" and member is not None:
        # Back to the business's week: the master's own hours and breaks go, days off and
        # one-day exceptions stay.
        current = await schedule.load_schedule(pool)
        own = current.staff.get(member, schedule.StaffCalendar())
        after = dataclasses.replace(
            current, staff={**current.staff, member: schedule.StaffCalendar(days_off=own.days_off)}
        )
        return await closures.outside_plan(pool, after, member, now, tz)
    if kind == "days_off":
        first, last = dt.date.fromisoformat(change["first"]), dt.date.fromisoformat(change["last"])
        return await closures.on_days(pool, first, last, now, tz, member)
    if kind == "exception":
        return await closures.outside_day(
            pool, dt.date.fromisoformat(change["day"]), _intervals(change), now, tz, member
        )
    if kind == "break":
        interval = _interval(change)
        if interval is None:
            return []
        return await closures.in_break(pool, int(change["weekday"]), interval, now, tz, member)
    # "hours": the business's one interval (None closes the weekday) or a master's several.
    if member is None:
        interval = _interval(change)
        hours = [interval] if interval is not None else []
    else:
        hours = _intervals(change)
    return await closures.outside_hours(pool, int(change["weekday"]), hours, now, tz, member)


async def _apply(pool: asyncpg.Pool, change: Change) -> None:
    kind = change["kind"]
    member: int | None = change.get("staff")
    if kind == "hide" and member is not None:
        await staff.update_staff(pool, member, is_active=False)
    elif kind == "reset" and member is not None:
        await staff.set_weekday_hours(pool, member, 0, None)
    elif kind == "days_off":
        for day in _days(change):
            if member is None:
                await schedule.add_day_off(pool, day)
            else:
                await staff.add_day_off(pool, member, day)
    elif kind == "exception":
        await staff.set_exception(pool, member, dt.date.fromisoformat(change["day"]), _intervals(change))
    elif kind == "break":
        interval = _interval(change)
        if interval is None:  # validated when the owner typed it
            return
        if member is None:
            await schedule.add_break(pool, int(change["weekday"]), interval)
        else:
            await staff.add_break(pool, member, int(change["weekday"]), interval)
    elif member is None:
        await schedule.set_hours(pool, int(change["weekday"]), _interval(change))
    else:
        await staff.set_weekday_hours(pool, member, int(change["weekday"]), _intervals(change))


_BACK = {"days_off": "days_off", "break": "breaks", "hours": "hours", "exception": "days_off"}


def back_button(texts: Texts, change: Change) -> InlineKeyboardButton:
    """Where the owner came from: the business's screen, or the master's own."""
    member = change.get("staff")
    if member is None:
        return keyboards.admin_button(texts, "back", _BACK[str(change["kind"])])
    action = "off" if change["kind"] in ("break", "days_off") else "view"
    return InlineKeyboardButton(
        text=texts("back"), callback_data=StaffAdmin(action=action, staff=member).pack()
    )


async def change(event: Message | CallbackQuery, state: FSMContext, desk: Desk, change: Change) -> None:
    """Apply a schedule change, or first show the owner the bookings it would leave stranded."""
    texts = desk.texts
    hit = await affected(desk, change, desk.clock())
    back = InlineKeyboardMarkup(inline_keyboard=[[back_button(texts, change)]])
    if not hit:
        await _apply(desk.pool, change)
        await state.clear()
        await show(event, texts("admin.saved"), back)
        return
    await state.set_state(Closing.pending)
    await state.update_data(change=change)
    lines = [texts("admin.conflicts", count=texts.count("booking", len(hit)))]
    lines += [f"{texts.date(b.starts_at)} {booking_line(texts, b)}" for b in hit]
    rows = [
        [keyboards.admin_button(texts, "admin.btn.close_cancel", "sch_apply", 1)],
        [keyboards.admin_button(texts, "admin.btn.close_keep", "sch_apply", 0)],
        [back_button(texts, change), keyboards.home_button(texts)],
    ]
    await show(event, fit(lines, texts), InlineKeyboardMarkup(inline_keyboard=rows))


async def apply_change(query: CallbackQuery, callback_data: Admin, state: FSMContext, desk: Desk) -> None:
    pending = (await state.get_data()).get("change")
    if not isinstance(pending, dict):
        await alert(query, desk.texts("stale_button"))
        return
    now, texts, notifier = desk.clock(), desk.texts, desk.notifier
    hit = await affected(desk, pending, now) if callback_data.arg == 1 else []
    await _apply(desk.pool, pending)
    await state.clear()
    for booking in hit:
        try:
            cancelled = await bookings.cancel_booking(desk.pool, booking.id, by="admin", now=now)
        except bookings.NotFound:
            continue  # cancelled meanwhile
        log.info(
            "booking cancelled",
            extra={"event": "booking_cancelled", "booking_id": booking.id, "by": "admin", "why": "closed"},
        )
        notifier.later(notifier.customer_cancelled_by_admin(cancelled, desk.settings.business_name))
    key = "admin.saved_cancelled" if hit else "admin.saved"
    await show(
        query,
        texts(key, count=texts.count("booking", len(hit))),
        InlineKeyboardMarkup(inline_keyboard=[[back_button(texts, pending)]]),
    )


def create_router() -> Router:
    router = Router(name="closing")
    router.callback_query.register(apply_change, Admin.filter(F.action == "sch_apply"))
    return router
