"""The owner's schedule: working hours, breaks, days off and booking rules (no aiogram here)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import asyncpg

# Bookings occupy whole cells of this UTC grid (see booked_slots in migrations/0001).
CELL_MINUTES = 15
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
class Schedule:
    """Everything slot computation needs besides the bookings. Weekdays are ISO (1 = Monday)."""

    hours: dict[int, Interval] = field(default_factory=dict)
    breaks: dict[int, tuple[Interval, ...]] = field(default_factory=dict)
    days_off: frozenset[dt.date] = frozenset()
    rules: BookingRules = BookingRules()


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


async def load_schedule(conn: asyncpg.Pool | asyncpg.Connection, today: dt.date | None = None) -> Schedule:
    hours = {
        int(r["weekday"]): Interval(r["opens_at"], r["closes_at"])
        for r in await conn.fetch("SELECT weekday, opens_at, closes_at FROM working_hours")
    }
    breaks: dict[int, list[Interval]] = {}
    for r in await conn.fetch("SELECT weekday, starts_at, ends_at FROM breaks ORDER BY weekday, starts_at"):
        breaks.setdefault(int(r["weekday"]), []).append(Interval(r["starts_at"], r["ends_at"]))
    since = today or dt.date.min
    days_off = frozenset(
        r["day"] for r in await conn.fetch("SELECT day FROM days_off WHERE day >= $1", since)
    )
    return Schedule(
        hours=hours,
        breaks={k: tuple(v) for k, v in breaks.items()},
        days_off=days_off,
        rules=await load_rules(conn),
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


def parse_interval(text: str) -> Interval | None:
    """``"10:00-19:00"`` -> Interval; None when malformed, empty or off the 15-minute grid."""
    try:
        left, right = (part.strip() for part in text.replace("–", "-").split("-", 1))
        start = dt.time.fromisoformat(left.zfill(5))
        end = dt.time.fromisoformat(right.zfill(5))
    except ValueError:
        return None
    if end <= start or start.minute % CELL_MINUTES or end.minute % CELL_MINUTES:
        return None
    return Interval(start, end)
