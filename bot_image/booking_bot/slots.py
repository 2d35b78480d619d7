"""Free slots: working hours, breaks, days off, duration, bookings, minimum notice, time zone.

Pure computation (``free_slots``, ``day_states``) plus one async loader. Local wall-clock
times (working hours, breaks) are turned into instants with the tenant's zone for each date,
so a DST change moves the UTC instants, never the local opening hours. Local times that do
not exist (spring-forward gap) are skipped.
"""

from __future__ import annotations

import datetime as dt
import enum
import zoneinfo
from collections.abc import Iterable

import asyncpg

from booking_bot.schedule import CELL_MINUTES, Schedule, load_schedule

UTC = dt.UTC
CELL = dt.timedelta(minutes=CELL_MINUTES)


class DayState(enum.Enum):
    PAST = "past"  # before today or beyond the booking horizon
    CLOSED = "closed"  # day off or no working hours that weekday
    FULL = "full"  # open, but no free slot for this service
    FREE = "free"


def occupied_minutes(duration_minutes: int) -> int:
    """A booking holds whole grid cells: its duration rounded up to CELL_MINUTES."""
    return -(-duration_minutes // CELL_MINUTES) * CELL_MINUTES


def cells(start: dt.datetime, duration_minutes: int) -> list[dt.datetime]:
    """The UTC grid cells a booking starting at ``start`` occupies."""
    return [start + i * CELL for i in range(occupied_minutes(duration_minutes) // CELL_MINUTES)]


def local_instant(day: dt.date, at: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime | None:
    """The UTC instant of a local wall-clock time, or None inside a DST gap."""
    naive = dt.datetime.combine(day, at)
    aware = naive.replace(tzinfo=tz)
    roundtrip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:
        return None
    return aware.astimezone(UTC)


def _end_instant(day: dt.date, at: dt.time, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    """Closing/break-end instants; midnight-ish ends inside a gap fall back to the shifted instant."""
    return dt.datetime.combine(day, at).replace(tzinfo=tz).astimezone(UTC)


def free_slots(
    day: dt.date,
    duration_minutes: int,
    schedule: Schedule,
    busy: Iterable[dt.datetime],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    limit: int | None = None,
) -> list[dt.datetime]:
    """Start instants (UTC) on local ``day`` where a service of ``duration_minutes`` fits.

    ``busy`` holds the occupied grid cells (UTC). A slot needs every cell it would occupy to
    be free, to lie within working hours, to touch no break, and to start no earlier than
    ``now`` plus the minimum notice.
    """
    rules = schedule.rules
    hours = schedule.hours.get(day.isoweekday())
    if hours is None or day in schedule.days_off:
        return []
    opens = local_instant(day, hours.start, tz) or _end_instant(day, hours.start, tz)
    closes = _end_instant(day, hours.end, tz)
    breaks = [
        (_end_instant(day, b.start, tz), _end_instant(day, b.end, tz))
        for b in schedule.breaks.get(day.isoweekday(), ())
    ]
    taken = set(busy)
    earliest = now + dt.timedelta(minutes=rules.min_notice_minutes)
    span = dt.timedelta(minutes=occupied_minutes(duration_minutes))
    step = dt.timedelta(minutes=rules.slot_step_minutes)
    result: list[dt.datetime] = []
    local_start = dt.datetime.combine(day, hours.start)
    local_end = dt.datetime.combine(day, hours.end)
    cursor = local_start
    while cursor < local_end:
        start = local_instant(day, cursor.time(), tz)
        cursor += step
        if start is None or start < opens:
            continue
        end = start + span
        if end > closes or start < earliest:
            continue
        if int(start.timestamp()) % (CELL_MINUTES * 60):
            continue  # off the UTC grid (only possible with exotic offsets)
        if any(start < b_end and b_start < end for b_start, b_end in breaks):
            continue
        if any(cell in taken for cell in cells(start, duration_minutes)):
            continue
        result.append(start)
        if limit is not None and len(result) >= limit:
            break
    return result


def today_local(now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    return now.astimezone(tz).date()


def day_states(
    first: dt.date,
    days: int,
    duration_minutes: int,
    schedule: Schedule,
    busy: Iterable[dt.datetime],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> dict[dt.date, DayState]:
    """State of each local date from ``first`` for ``days`` days (for the calendar)."""
    taken = set(busy)
    today = today_local(now, tz)
    horizon_end = today + dt.timedelta(days=schedule.rules.horizon_days)
    states: dict[dt.date, DayState] = {}
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        if day < today or day >= horizon_end:
            states[day] = DayState.PAST
        elif day in schedule.days_off or day.isoweekday() not in schedule.hours:
            states[day] = DayState.CLOSED
        elif free_slots(day, duration_minutes, schedule, taken, now, tz, limit=1):
            states[day] = DayState.FREE
        else:
            states[day] = DayState.FULL
    return states


def local_day_bounds(first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants covering local dates ``first`` .. ``last`` inclusive (with a margin)."""
    start = dt.datetime.combine(first, dt.time.min).replace(tzinfo=tz).astimezone(UTC) - dt.timedelta(hours=1)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min).replace(tzinfo=tz).astimezone(UTC)
    return start, end + dt.timedelta(hours=1)


async def busy_cells(
    conn: asyncpg.Pool | asyncpg.Connection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    ignore_booking: int | None = None,
) -> set[dt.datetime]:
    """Occupied grid cells in [start, end); a rescheduled booking can ignore its own cells."""
    rows = await conn.fetch(
        "SELECT slot_start FROM booked_slots WHERE slot_start >= $1 AND slot_start < $2"
        " AND booking_id IS DISTINCT FROM $3",
        start,
        end,
        ignore_booking,
    )
    return {r["slot_start"] for r in rows}


async def slots_for_day(
    pool: asyncpg.Pool,
    day: dt.date,
    duration_minutes: int,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    ignore_booking: int | None = None,
) -> list[dt.datetime]:
    schedule = await load_schedule(pool, today_local(now, tz))
    if day_states(day, 1, duration_minutes, schedule, (), now, tz)[day] in (DayState.PAST, DayState.CLOSED):
        return []
    start, end = local_day_bounds(day, day, tz)
    busy = await busy_cells(pool, start, end, ignore_booking=ignore_booking)
    return free_slots(day, duration_minutes, schedule, busy, now, tz)


async def calendar_states(
    pool: asyncpg.Pool,
    first: dt.date,
    days: int,
    duration_minutes: int,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    ignore_booking: int | None = None,
) -> dict[dt.date, DayState]:
    schedule = await load_schedule(pool, today_local(now, tz))
    start, end = local_day_bounds(first, first + dt.timedelta(days=days - 1), tz)
    busy = await busy_cells(pool, start, end, ignore_booking=ignore_booking)
    return day_states(first, days, duration_minutes, schedule, busy, now, tz)


async def next_free_slots(
    pool: asyncpg.Pool,
    after: dt.datetime,
    duration_minutes: int,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    limit: int = 6,
    ignore_booking: int | None = None,
) -> list[dt.datetime]:
    """The next free starts at or after ``after`` (same day first, then the following days)."""
    schedule = await load_schedule(pool, today_local(now, tz))
    first = after.astimezone(tz).date()
    last = today_local(now, tz) + dt.timedelta(days=schedule.rules.horizon_days - 1)
    if last < first:
        return []
    start, end = local_day_bounds(first, last, tz)
    busy = await busy_cells(pool, start, end, ignore_booking=ignore_booking)
    found: list[dt.datetime] = []
    day = first
    while day <= last and len(found) < limit:
        found.extend(s for s in free_slots(day, duration_minutes, schedule, busy, now, tz) if s >= after)
        day += dt.timedelta(days=1)
    return found[:limit]
