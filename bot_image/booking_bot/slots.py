"""Free slots: working hours, breaks, days off, duration, bookings, minimum notice, time zone.

Pure computation (``free_slots``, ``day_states``) plus async loaders. Local wall-clock
times (working hours, breaks) are turned into instants with the tenant's zone for each date,
so a DST change moves the UTC instants, never the local opening hours. Local times that do
not exist (spring-forward gap) are skipped.

Capacity is not lost to rounding: bookings hold 5-minute cells (a 20-minute service holds 20
minutes), and the step sequence restarts at the start of every open stretch, so with a
13:00-14:00 break and a 45-minute step 14:00 is still offered.

Staff: each ``Performer`` is one staff member who performs the service (with their own
duration, price and buffer); a day's slots for "any master" are the union of theirs.
"""

from __future__ import annotations

import bisect
import datetime as dt
import enum
import heapq
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from booking_bot.schedule import CELL_MINUTES, Interval, Schedule, load_schedule

UTC = dt.UTC
CELL = dt.timedelta(minutes=CELL_MINUTES)


class DayState(enum.Enum):
    PAST = "past"  # before today or beyond the booking horizon
    CLOSED = "closed"  # day off or no working hours that weekday
    FULL = "full"  # open, but no free slot for this service
    FREE = "free"


@dataclass(frozen=True)
class Performer:
    """A staff member who performs a service, with what it takes them (None: the business)."""

    staff_id: int | None
    minutes: int
    price: Decimal = Decimal(0)
    buffer: int = 0


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


def open_stretches(intervals: Iterable[Interval], breaks: Iterable[Interval]) -> list[Interval]:
    """Working intervals minus breaks: the stretches a service must fit in, in order."""
    stretches = sorted(intervals, key=lambda i: i.start)
    for b in sorted(breaks, key=lambda i: i.start):
        cut: list[Interval] = []
        for s in stretches:
            if b.end <= s.start or s.end <= b.start:
                cut.append(s)
                continue
            if s.start < b.start:
                cut.append(Interval(s.start, b.start))
            if b.end < s.end:
                cut.append(Interval(b.end, s.end))
        stretches = cut
    return stretches


def _steps(
    day: dt.date, stretch: Interval, step: dt.timedelta, tz: zoneinfo.ZoneInfo
) -> Iterator[dt.datetime]:
    """The step sequence of one open stretch, as UTC instants (local times in a DST gap skipped)."""
    cursor = dt.datetime.combine(day, stretch.start)
    local_end = dt.datetime.combine(day, stretch.end)
    while cursor < local_end:
        instant = local_instant(day, cursor.time(), tz)
        if instant is not None:
            yield instant
        cursor += step


def free_slots(
    day: dt.date,
    duration_minutes: int,
    schedule: Schedule,
    busy: Iterable[dt.datetime],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    limit: int | None = None,
    staff_id: int | None = None,
    buffer_minutes: int = 0,
    run_ends: Sequence[dt.datetime] | None = None,
) -> list[dt.datetime]:
    """Start instants (UTC) on local ``day`` where a service of ``duration_minutes`` fits.

    ``busy`` holds the occupied grid cells (UTC) of that staff member. A slot needs the
    service to lie within one open stretch (working hours minus breaks), every cell of the
    service plus its buffer to be free, and to start no earlier than ``now`` plus the notice.
    Candidates are the step sequence of each stretch plus ``run_ends`` (by default the ends
    of the busy runs: the booking-time check passes them without the busy cells).
    """
    rules = schedule.rules
    plan = schedule.plan(day, staff_id)
    taken = busy if isinstance(busy, set | frozenset) else set(busy)
    earliest = now + dt.timedelta(minutes=rules.min_notice_minutes)
    length = dt.timedelta(minutes=duration_minutes)
    step = dt.timedelta(minutes=rules.slot_step_minutes)
    result: list[dt.datetime] = []
    # Where a booking (or block) ends, the next one may start: a 20-minute booking at 10:00
    # leaves 10:20 bookable even with a 30-minute step.
    ends = sorted(c + CELL for c in taken if c + CELL not in taken) if run_ends is None else run_ends
    for stretch in open_stretches(plan.intervals, plan.breaks):
        opens = local_instant(day, stretch.start, tz) or _end_instant(day, stretch.start, tz)
        closes = _end_instant(day, stretch.end, tz)
        inside = ends[bisect.bisect_right(ends, opens) : bisect.bisect_left(ends, closes)]
        previous = None
        # Lazily, in order: the calendar asks for one free start per day (limit=1).
        for start in heapq.merge(_steps(day, stretch, step, tz), inside):
            if start == previous:
                continue
            previous = start
            if start + length > closes or start < earliest:
                continue
            if int(start.timestamp()) % (CELL_MINUTES * 60):
                continue  # off the UTC grid (only possible with exotic offsets)
            if any(cell in taken for cell in cells(start, duration_minutes + buffer_minutes)):
                continue
            result.append(start)
            if limit is not None and len(result) >= limit:
                return result
    return result


def starts_by_staff(
    day: dt.date,
    performers: Sequence[Performer],
    schedule: Schedule,
    busy: Mapping[int | None, set[dt.datetime]],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    limit: int | None = None,
    run_ends: Mapping[int | None, Sequence[dt.datetime]] | None = None,
) -> dict[dt.datetime, list[Performer]]:
    """Each free start on ``day`` and the performers free to take it."""
    found: dict[dt.datetime, list[Performer]] = {}
    if run_ends is None:  # once per call, not once per performer and day
        run_ends = busy_run_ends(busy)
    for p in performers:
        ends = run_ends.get(p.staff_id, ())
        for start in free_slots(
            day,
            p.minutes,
            schedule,
            busy.get(p.staff_id, set()),
            now,
            tz,
            limit=limit,
            staff_id=p.staff_id,
            buffer_minutes=p.buffer,
            run_ends=ends,
        ):
            found.setdefault(start, []).append(p)
    return dict(sorted(found.items()))


def busy_run_ends(busy: Mapping[int | None, set[dt.datetime]]) -> dict[int | None, list[dt.datetime]]:
    """Per staff member, the instants where a run of busy cells ends (a booking's end), sorted."""
    return {sid: sorted(c + CELL for c in cells_ if c + CELL not in cells_) for sid, cells_ in busy.items()}


def today_local(now: dt.datetime, tz: zoneinfo.ZoneInfo) -> dt.date:
    return now.astimezone(tz).date()


def day_states(
    first: dt.date,
    days: int,
    duration_minutes: int | Sequence[Performer],
    schedule: Schedule,
    busy: Iterable[dt.datetime] | Mapping[int | None, set[dt.datetime]],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> dict[dt.date, DayState]:
    """State of each local date from ``first`` for ``days`` days (for the calendar).

    ``duration_minutes`` is a plain duration (the business's week, ``busy`` a set of cells)
    or the performers of a service (``busy`` their cells by staff id).
    """
    if isinstance(duration_minutes, int):
        performers: Sequence[Performer] = [Performer(None, duration_minutes)]
        by_staff: Mapping[int | None, set[dt.datetime]] = {None: set(busy)}  # type: ignore[arg-type]
    else:
        performers = duration_minutes
        by_staff = busy  # type: ignore[assignment]
    today = today_local(now, tz)
    horizon_end = today + dt.timedelta(days=schedule.rules.horizon_days)
    ends = busy_run_ends(by_staff)
    states: dict[dt.date, DayState] = {}
    for offset in range(days):
        day = first + dt.timedelta(days=offset)
        if day < today or day >= horizon_end:
            states[day] = DayState.PAST
        elif not any(schedule.plan(day, p.staff_id).intervals for p in performers):
            states[day] = DayState.CLOSED
        elif starts_by_staff(day, performers, schedule, by_staff, now, tz, limit=1, run_ends=ends):
            states[day] = DayState.FREE
        else:
            states[day] = DayState.FULL
    return states


def local_day_bounds(first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """UTC instants covering local dates ``first`` .. ``last`` inclusive (with a margin)."""
    start = dt.datetime.combine(first, dt.time.min).replace(tzinfo=tz).astimezone(UTC) - dt.timedelta(hours=1)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min).replace(tzinfo=tz).astimezone(UTC)
    return start, end + dt.timedelta(hours=13)  # a late booking's buffer may run past midnight


async def busy_cells(
    conn: asyncpg.Pool | asyncpg.Connection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    ignore_booking: int | None = None,
) -> dict[int | None, set[dt.datetime]]:
    """Occupied grid cells in [start, end) by staff id; a moved booking can ignore its own cells."""
    rows = await conn.fetch(
        "SELECT staff_id, slot_start FROM booked_slots WHERE slot_start >= $1 AND slot_start < $2"
        " AND booking_id IS DISTINCT FROM $3",
        start,
        end,
        ignore_booking,
    )
    found: dict[int | None, set[dt.datetime]] = {}
    for r in rows:
        found.setdefault(int(r["staff_id"]), set()).add(r["slot_start"])
    return found


async def slots_for_day(
    pool: asyncpg.Pool,
    day: dt.date,
    performers: Sequence[Performer],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    ignore_booking: int | None = None,
) -> list[dt.datetime]:
    schedule = await load_schedule(pool, today_local(now, tz))
    if day_states(day, 1, performers, schedule, {}, now, tz)[day] in (DayState.PAST, DayState.CLOSED):
        return []
    start, end = local_day_bounds(day, day, tz)
    busy = await busy_cells(pool, start, end, ignore_booking=ignore_booking)
    return list(starts_by_staff(day, performers, schedule, busy, now, tz))


async def calendar_states(
    pool: asyncpg.Pool,
    first: dt.date,
    days: int,
    performers: Sequence[Performer],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    *,
    ignore_booking: int | None = None,
) -> dict[dt.date, DayState]:
    schedule = await load_schedule(pool, today_local(now, tz))
    start, end = local_day_bounds(first, first + dt.timedelta(days=days - 1), tz)
    busy = await busy_cells(pool, start, end, ignore_booking=ignore_booking)
    return day_states(first, days, performers, schedule, busy, now, tz)


async def next_free_slots(
    pool: asyncpg.Pool,
    after: dt.datetime,
    performers: Sequence[Performer],
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
    ends = busy_run_ends(busy)
    day = first
    while day <= last and len(found) < limit:
        starts = starts_by_staff(day, performers, schedule, busy, now, tz, run_ends=ends)
        found.extend(s for s in starts if s >= after)
        day += dt.timedelta(days=1)
    return found[:limit]
