"""What a schedule change does to bookings already made (no aiogram here).

Closing a day, adding a break or shortening a weekday's hours (for the whole business, or in
one master's own calendar; or hiding a master) does not move existing bookings by itself: the
owner is shown the customers' bookings that fall into the closed time first and chooses to
cancel them (the customers are told, their reminders dropped) or to keep them. These
functions only find them; cancelling goes through ``bookings.cancel_booking``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Callable

import asyncpg

from booking_bot.bookings import Booking, upcoming_customer_bookings
from booking_bot.schedule import Interval, Schedule


def _local(booking: Booking, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    return booking.starts_at.astimezone(tz).replace(tzinfo=None), booking.ends_at.astimezone(tz).replace(
        tzinfo=None
    )


async def _matching(
    pool: asyncpg.Pool,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    hit: Callable[[dt.datetime, dt.datetime], bool],
    *,
    weekly: bool = False,
    staff_id: int | None = None,
) -> list[Booking]:
    """``weekly``: a change of the business's week, which masters with their own week ignore;
    ``staff_id``: a change of that master's own calendar, which touches only their bookings."""
    own = (
        {int(r["id"]) for r in await pool.fetch("SELECT id FROM staff WHERE own_hours")}
        if weekly and staff_id is None
        else set()
    )
    return [
        b
        for b in await upcoming_customer_bookings(pool, now)
        if b.staff_id not in own and staff_id in (None, b.staff_id) and hit(*_local(b, tz))
    ]


async def on_days(
    pool: asyncpg.Pool,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
) -> list[Booking]:
    """Upcoming customer bookings starting on local dates ``first`` .. ``last``."""
    return await _matching(
        pool, now, tz, lambda start, _end: first <= start.date() <= last, staff_id=staff_id
    )


async def of_master(
    pool: asyncpg.Pool, staff_id: int, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> list[Booking]:
    """Every upcoming customer booking of the master (hiding them leaves these without a master)."""
    return await _matching(pool, now, tz, lambda _start, _end: True, staff_id=staff_id)


async def in_break(
    pool: asyncpg.Pool,
    weekday: int,
    interval: Interval,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
) -> list[Booking]:
    """Upcoming customer bookings on that ISO weekday that overlap the new break."""

    def hit(start: dt.datetime, end: dt.datetime) -> bool:
        if start.isoweekday() != weekday:
            return False
        b_start = dt.datetime.combine(start.date(), interval.start)
        b_end = dt.datetime.combine(start.date(), interval.end)
        return start < b_end and b_start < end

    return await _matching(pool, now, tz, hit, weekly=True, staff_id=staff_id)


def _outside(start: dt.datetime, end: dt.datetime, intervals: list[Interval]) -> bool:
    day = start.date()
    return not any(
        dt.datetime.combine(day, i.start) <= start and end <= dt.datetime.combine(day, i.end)
        for i in intervals
    )


async def outside_hours(
    pool: asyncpg.Pool,
    weekday: int,
    intervals: list[Interval],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
) -> list[Booking]:
    """Upcoming customer bookings on that weekday outside its new hours ([]: the day closes)."""

    def hit(start: dt.datetime, end: dt.datetime) -> bool:
        return start.isoweekday() == weekday and _outside(start, end, intervals)

    return await _matching(pool, now, tz, hit, weekly=True, staff_id=staff_id)


async def outside_day(
    pool: asyncpg.Pool,
    day: dt.date,
    intervals: list[Interval],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
) -> list[Booking]:
    """Upcoming customer bookings on ``day`` outside its new one-day hours ([] closes the day)."""

    def hit(start: dt.datetime, end: dt.datetime) -> bool:
        return start.date() == day and _outside(start, end, intervals)

    return await _matching(pool, now, tz, hit, staff_id=staff_id)


async def outside_plan(
    pool: asyncpg.Pool, schedule: Schedule, staff_id: int, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> list[Booking]:
    """The master's upcoming customer bookings that do not fit ``schedule`` (a schedule as it
    would be after a change): outside every working interval of their day, or over a break."""

    def hit(start: dt.datetime, end: dt.datetime) -> bool:
        plan = schedule.plan(start.date(), staff_id)
        if _outside(start, end, list(plan.intervals)):
            return True
        day = start.date()
        return any(
            start < dt.datetime.combine(day, b.end) and dt.datetime.combine(day, b.start) < end
            for b in plan.breaks
        )

    return await _matching(pool, now, tz, hit, staff_id=staff_id)
