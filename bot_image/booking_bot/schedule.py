"""The owner's schedule: working hours, breaks, days off and booking rules (no aiogram here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import asyncpg

# Bookings occupy whole cells of this UTC grid (see booked_slots in migrations/0001, 0007).
# Every duration is a multiple of 5 minutes, so a booking holds exactly its time.
CELL_MINUTES = 5
# Times the owner types (hours, breaks, blocks) are quarter hours.
ENTRY_MINUTES = 15
SLOT_STEPS = (15, 30, 45, 60, 90, 120)


@dataclass(frozen=True)
class Interval:
    """A local wall-clock interval within one day."""

    start: dt.time
    end: dt.time


@dataclass(frozen=True)
class BookingRules:
    """The owner's rules for bookings (the tenant schema's `settings` row), not the environment."""

    slot_step_minutes: int = 30
    min_notice_minutes: int = 120
    cancel_cutoff_minutes: int = 180
    horizon_days: int = 28
    reminder_offsets_minutes: tuple[int, ...] = (1440, 120)


@dataclass(frozen=True)
class StaffCalendar:
    """One staff member's own week (used when ``own_hours``) and days off."""

    own_hours: bool = False
    hours: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    breaks: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    days_off: frozenset[dt.date] = frozenset()


@dataclass(frozen=True)
class DayPlan:
    """When one staff member (or the business) works on one local date."""

    intervals: tuple[Interval, ...] = ()
    breaks: tuple[Interval, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """Everything slot computation needs besides the bookings. Weekdays are ISO (1 = Monday).

    ``hours``/``breaks``/``days_off`` are the business's week, the default for every staff
    member; ``staff`` holds each member's own calendar; ``exceptions`` maps (staff id or None
    for the business, date) to that day's working intervals (empty: closed).
    """

    hours: dict[int, Interval] = field(default_factory=dict)
    breaks: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    days_off: frozenset[dt.date] = frozenset()
    rules: BookingRules = BookingRules()
    staff: dict[int, StaffCalendar] = field(default_factory=dict)
    exceptions: dict[tuple[int | None, dt.date], tuple[Interval, ...]] = field(default_factory=dict)

    def plan(self, day: dt.date, staff_id: int | None = None) -> DayPlan:
        """The working intervals and breaks of ``staff_id`` (None: the business) on ``day``.

        Precedence: the business's day off, the member's day off, the member's exception, the
        business's exception, the member's own week, the business's week.
        """
        if day in self.days_off:
            return DayPlan()
        calendar = self.staff.get(staff_id) if staff_id is not None else None
        if calendar is not None and day in calendar.days_off:
            return DayPlan()
        if staff_id is not None and (staff_id, day) in self.exceptions:
            return DayPlan(self.exceptions[(staff_id, day)])
        if (None, day) in self.exceptions:
            return DayPlan(self.exceptions[(None, day)])
        weekday = day.isoweekday()
        if calendar is not None and calendar.own_hours:
            return DayPlan(calendar.hours.get(weekday, ()), calendar.breaks.get(weekday, ()))
        hours = self.hours.get(weekday)
        return DayPlan((hours,) if hours else (), self.breaks.get(weekday, ()))


async def load_rules(conn: asyncpg.Pool | asyncpg.Connection) -> BookingRules:
    row = await conn.fetchrow(
        "SELECT slot_step_minutes, min_notice_minutes, cancel_cutoff_minutes, horizon_days,"
        " reminder_offsets_minutes FROM settings WHERE id"
    )
    if row is None:
        return BookingRules()
    return BookingRules(
        slot_step_minutes=row["slot_step_minutes"],
        min_notice_minutes=row["min_notice_minutes"],
        cancel_cutoff_minutes=row["cancel_cutoff_minutes"],
        horizon_days=row["horizon_days"],
        reminder_offsets_minutes=tuple(sorted(set(row["reminder_offsets_minutes"]), reverse=True)),
    )


# Everything of the week, the staff calendars and the exceptions in one round trip: this runs
# for every calendar, day and confirmation screen. kind: wh working hours, br breaks, off days
# off, st an active staff member (n = own_hours), sh/sb a member's hours/breaks, so a
# member's day off, ex an exception (staff_id NULL: the business; a/b NULL: closed).
_SCHEDULE = """
SELECT 'wh' AS kind, NULL::bigint AS staff_id, weekday::int AS n, opens_at AS a, closes_at AS b,
       NULL::date AS day
FROM working_hours
UNION ALL SELECT 'br', NULL, weekday, starts_at, ends_at, NULL FROM breaks
UNION ALL SELECT 'off', NULL, NULL, NULL, NULL, day FROM days_off WHERE day >= $1
UNION ALL SELECT 'st', id, own_hours::int, NULL, NULL, NULL FROM staff WHERE is_active
UNION ALL SELECT 'sh', staff_id, weekday, opens_at, closes_at, NULL FROM staff_hours
UNION ALL SELECT 'sb', staff_id, weekday, starts_at, ends_at, NULL FROM staff_breaks
UNION ALL SELECT 'so', staff_id, NULL, NULL, NULL, day FROM staff_days_off WHERE day >= $1
UNION ALL SELECT 'ex', staff_id, NULL, opens_at, closes_at, day FROM schedule_exceptions WHERE day >= $1
ORDER BY 1, 4
"""


async def load_schedule(conn: asyncpg.Pool | asyncpg.Connection, today: dt.date | None = None) -> Schedule:
    since = today or dt.date.min
    hours: dict[int, Interval] = {}
    breaks: dict[int, list[Interval]] = {}
    days_off: set[dt.date] = set()
    own: dict[int, bool] = {}
    staff_hours: dict[int, dict[int, list[Interval]]] = {}
    staff_breaks: dict[int, dict[int, list[Interval]]] = {}
    staff_off: dict[int, set[dt.date]] = {}
    exceptions: dict[tuple[int | None, dt.date], list[Interval]] = {}
    for r in await conn.fetch(_SCHEDULE, since):
        kind, sid = r["kind"], r["staff_id"]
        if kind == "wh":
            hours[r["n"]] = Interval(r["a"], r["b"])
        elif kind == "br":
            breaks.setdefault(r["n"], []).append(Interval(r["a"], r["b"]))
        elif kind == "off":
            days_off.add(r["day"])
        elif kind == "st":
            own[int(sid)] = bool(r["n"])
        elif kind == "sh":
            staff_hours.setdefault(int(sid), {}).setdefault(r["n"], []).append(Interval(r["a"], r["b"]))
        elif kind == "sb":
            staff_breaks.setdefault(int(sid), {}).setdefault(r["n"], []).append(Interval(r["a"], r["b"]))
        elif kind == "so":
            staff_off.setdefault(int(sid), set()).add(r["day"])
        else:
            intervals = exceptions.setdefault((None if sid is None else int(sid), r["day"]), [])
            if r["a"] is not None:
                intervals.append(Interval(r["a"], r["b"]))
    calendars = {
        sid: StaffCalendar(
            own_hours=is_own,
            hours={wd: tuple(v) for wd, v in staff_hours.get(sid, {}).items()},
            breaks={wd: tuple(v) for wd, v in staff_breaks.get(sid, {}).items()},
            days_off=frozenset(staff_off.get(sid, ())),
        )
        for sid, is_own in own.items()
    }
    return Schedule(
        hours=hours,
        breaks={k: tuple(v) for k, v in breaks.items()},
        days_off=frozenset(days_off),
        rules=await load_rules(conn),
        staff=calendars,
        exceptions={k: tuple(v) for k, v in exceptions.items()},
    )


async def set_hours(pool: asyncpg.Pool, weekday: int, interval: Interval | None) -> None:
    """Working hours of one weekday; None closes that weekday."""
    if interval is None:
        await pool.execute("DELETE FROM working_hours WHERE weekday = $1", weekday)
        return
    await pool.execute(
        "INSERT INTO working_hours (weekday, opens_at, closes_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (weekday) DO UPDATE SET opens_at = EXCLUDED.opens_at, closes_at = EXCLUDED.closes_at",
        weekday,
        interval.start,
        interval.end,
    )


async def list_breaks(pool: asyncpg.Pool) -> list[tuple[int, int, Interval]]:
    rows = await pool.fetch("SELECT id, weekday, starts_at, ends_at FROM breaks ORDER BY weekday, starts_at")
    return [(r["id"], r["weekday"], Interval(r["starts_at"], r["ends_at"])) for r in rows]


async def add_break(pool: asyncpg.Pool, weekday: int, interval: Interval) -> int:
    new_id: int = await pool.fetchval(
        "INSERT INTO breaks (weekday, starts_at, ends_at) VALUES ($1, $2, $3) RETURNING id",
        weekday,
        interval.start,
        interval.end,
    )
    return new_id


async def delete_break(pool: asyncpg.Pool, break_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM breaks WHERE id = $1", break_id)
    return status == "DELETE 1"


async def add_day_off(pool: asyncpg.Pool, day: dt.date, reason: str = "") -> None:
    await pool.execute(
        "INSERT INTO days_off (day, reason) VALUES ($1, $2) ON CONFLICT (day) DO UPDATE SET reason = $2",
        day,
        reason,
    )


async def remove_day_off(pool: asyncpg.Pool, day: dt.date) -> bool:
    status: str = await pool.execute("DELETE FROM days_off WHERE day = $1", day)
    return status == "DELETE 1"


async def list_days_off(pool: asyncpg.Pool, since: dt.date) -> list[dt.date]:
    return [
        r["day"] for r in await pool.fetch("SELECT day FROM days_off WHERE day >= $1 ORDER BY day", since)
    ]


_SETTING_COLUMNS = frozenset(
    {"slot_step_minutes", "min_notice_minutes", "cancel_cutoff_minutes", "horizon_days"}
)


async def update_setting(pool: asyncpg.Pool, name: str, value: int) -> None:
    if name not in _SETTING_COLUMNS:
        raise ValueError(f"unknown setting {name!r}")
    # The column name comes from the fixed allow-list above, never from user input.
    await pool.execute(f"UPDATE settings SET {name} = $1, updated_at = now() WHERE id", value)  # noqa: S608


def parse_time(text: str) -> dt.time | None:
    """``"9:15"`` -> 09:15; None when malformed or off the 15-minute grid (23:45 is fine)."""
    try:
        at = dt.time.fromisoformat(text.strip().zfill(5))
    except ValueError:
        return None
    return None if at.minute % ENTRY_MINUTES or at.second else at


def parse_interval(text: str) -> Interval | None:
    """``"10:00-19:00"`` -> Interval; None when malformed, empty or off the 15-minute grid."""
    try:
        left, right = (part.strip() for part in text.replace("–", "-").split("-", 1))
        start = dt.time.fromisoformat(left.zfill(5))
        end = dt.time.fromisoformat(right.zfill(5))
    except ValueError:
        return None
    if end <= start or start.minute % ENTRY_MINUTES or end.minute % ENTRY_MINUTES:
        return None
    return Interval(start, end)
