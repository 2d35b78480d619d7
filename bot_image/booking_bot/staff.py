"""Staff ("masters"): who works, which services each performs, their own hours (no aiogram here).

Every tenant has at least staff member 1 (migration 0007 moves existing tenants into it). A
member either performs every service (``all_services``, the default, so a service added later
is bookable at once) or only those listed in ``staff_services``; a row there may also carry
the member's own duration and price. A member follows the business's week unless
``own_hours`` is set, then ``staff_hours`` (several intervals a day) and ``staff_breaks``.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from booking_bot.schedule import Interval, parse_interval

__all__ = ["Interval", "StaffMember"]

_COLUMNS = "id, name, is_active, own_hours, all_services"


@dataclass(frozen=True)
class StaffMember:
    id: int
    name: str
    is_active: bool = True
    own_hours: bool = False
    all_services: bool = True


def _member(row: asyncpg.Record) -> StaffMember:
    return StaffMember(**dict(row))


async def list_staff(pool: asyncpg.Pool, *, include_hidden: bool = False) -> list[StaffMember]:
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM staff WHERE is_active OR $1 ORDER BY sort_order, id",  # noqa: S608
        include_hidden,
    )
    return [_member(r) for r in rows]


async def get_staff(pool: asyncpg.Pool, staff_id: int) -> StaffMember | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM staff WHERE id = $1", staff_id)  # noqa: S608
    return None if row is None else _member(row)


async def add_staff(pool: asyncpg.Pool, name: str) -> StaffMember:
    row = await pool.fetchrow(
        "INSERT INTO staff (name, sort_order) VALUES ($1, (SELECT coalesce(max(sort_order), 0) + 1 FROM staff))"  # noqa: S608, E501
        f" RETURNING {_COLUMNS}",
        name,
    )
    if row is None:  # an INSERT with RETURNING always returns its row
        raise RuntimeError("adding a staff member returned no row")
    return _member(row)


async def update_staff(
    pool: asyncpg.Pool, staff_id: int, *, name: str | None = None, is_active: bool | None = None
) -> None:
    await pool.execute(
        "UPDATE staff SET name = coalesce($2, name), is_active = coalesce($3, is_active) WHERE id = $1",
        staff_id,
        name,
        is_active,
    )


async def performed_services(pool: asyncpg.Pool, staff_id: int) -> set[int]:
    """Ids of the services the member performs (every active one when ``all_services``)."""
    rows = await pool.fetch(
        "SELECT s.id FROM services s JOIN staff st ON st.id = $1"
        " LEFT JOIN staff_services ss ON ss.staff_id = st.id AND ss.service_id = s.id"
        " WHERE st.all_services OR ss.service_id IS NOT NULL",
        staff_id,
    )
    return {int(r["id"]) for r in rows}


async def toggle_service(pool: asyncpg.Pool, staff_id: int, service_id: int) -> bool:
    """Switch one service on or off for the member; returns whether they now perform it.

    The first change of an all-services member turns the implicit "everything" into an
    explicit list of everything, then edits that list.
    """
    async with pool.acquire() as conn, conn.transaction():
        all_services = await conn.fetchval(
            "SELECT all_services FROM staff WHERE id = $1 FOR UPDATE", staff_id
        )
        if all_services:
            await conn.execute(
                "INSERT INTO staff_services (staff_id, service_id) SELECT $1, id FROM services"
                " ON CONFLICT DO NOTHING",
                staff_id,
            )
            await conn.execute("UPDATE staff SET all_services = false WHERE id = $1", staff_id)
        removed = await conn.fetchval(
            "DELETE FROM staff_services WHERE staff_id = $1 AND service_id = $2 RETURNING true",
            staff_id,
            service_id,
        )
        if not removed:
            await conn.execute(
                "INSERT INTO staff_services (staff_id, service_id) VALUES ($1, $2)", staff_id, service_id
            )
        return not removed


async def set_own_terms(
    pool: asyncpg.Pool, staff_id: int, service_id: int, *, minutes: int | None, price: object | None
) -> None:
    """The member's own duration/price for a service (None: the service's own)."""
    await pool.execute(
        "INSERT INTO staff_services (staff_id, service_id, duration_minutes, price) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (staff_id, service_id) DO UPDATE SET duration_minutes = $3, price = $4",
        staff_id,
        service_id,
        minutes,
        price,
    )


async def own_terms(pool: asyncpg.Pool, staff_id: int) -> dict[int, tuple[int | None, Decimal | None]]:
    """service id -> (the member's own duration, own price), where either is set."""
    rows = await pool.fetch(
        "SELECT service_id, duration_minutes, price FROM staff_services"
        " WHERE staff_id = $1 AND (duration_minutes IS NOT NULL OR price IS NOT NULL)",
        staff_id,
    )
    return {int(r["service_id"]): (r["duration_minutes"], r["price"]) for r in rows}


async def set_weekday_hours(
    pool: asyncpg.Pool, staff_id: int, weekday: int, intervals: Sequence[Interval] | None
) -> None:
    """The member's hours on one weekday: several intervals, [] = closed, None = back to the
    business's week for every day (own_hours off)."""
    async with pool.acquire() as conn, conn.transaction():
        if intervals is None:
            await conn.execute("UPDATE staff SET own_hours = false WHERE id = $1", staff_id)
            await conn.execute("DELETE FROM staff_hours WHERE staff_id = $1", staff_id)
            await conn.execute("DELETE FROM staff_breaks WHERE staff_id = $1", staff_id)
            return
        await _own_week(conn, staff_id)
        await conn.execute("DELETE FROM staff_hours WHERE staff_id = $1 AND weekday = $2", staff_id, weekday)
        await conn.execute("DELETE FROM staff_breaks WHERE staff_id = $1 AND weekday = $2", staff_id, weekday)
        await conn.executemany(
            "INSERT INTO staff_hours (staff_id, weekday, opens_at, closes_at) VALUES ($1, $2, $3, $4)",
            [(staff_id, weekday, i.start, i.end) for i in intervals],
        )


async def _own_week(conn: asyncpg.Connection, staff_id: int) -> None:
    """Give the member a week of their own, starting from the business's (hours and breaks), so
    that changing one day or adding one break does not close or change the others."""
    own = await conn.fetchval("SELECT own_hours FROM staff WHERE id = $1 FOR UPDATE", staff_id)
    if own:
        return
    await conn.execute(
        "INSERT INTO staff_hours (staff_id, weekday, opens_at, closes_at)"
        " SELECT $1, weekday, opens_at, closes_at FROM working_hours",
        staff_id,
    )
    await conn.execute(
        "INSERT INTO staff_breaks (staff_id, weekday, starts_at, ends_at)"
        " SELECT $1, weekday, starts_at, ends_at FROM breaks",
        staff_id,
    )
    await conn.execute("UPDATE staff SET own_hours = true WHERE id = $1", staff_id)


async def list_breaks(pool: asyncpg.Pool, staff_id: int) -> list[tuple[int, int, Interval]]:
    """The member's own breaks (none while they follow the business's week)."""
    rows = await pool.fetch(
        "SELECT id, weekday, starts_at, ends_at FROM staff_breaks WHERE staff_id = $1"
        " ORDER BY weekday, starts_at",
        staff_id,
    )
    return [(int(r["id"]), int(r["weekday"]), Interval(r["starts_at"], r["ends_at"])) for r in rows]


async def add_break(pool: asyncpg.Pool, staff_id: int, weekday: int, interval: Interval) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await _own_week(conn, staff_id)
        await conn.execute(
            "INSERT INTO staff_breaks (staff_id, weekday, starts_at, ends_at) VALUES ($1, $2, $3, $4)",
            staff_id,
            weekday,
            interval.start,
            interval.end,
        )


async def delete_break(pool: asyncpg.Pool, staff_id: int, break_id: int) -> None:
    await pool.execute("DELETE FROM staff_breaks WHERE id = $1 AND staff_id = $2", break_id, staff_id)


async def list_days_off(pool: asyncpg.Pool, staff_id: int, since: dt.date) -> list[dt.date]:
    rows = await pool.fetch(
        "SELECT day FROM staff_days_off WHERE staff_id = $1 AND day >= $2 ORDER BY day", staff_id, since
    )
    return [r["day"] for r in rows]


async def remove_day_off(pool: asyncpg.Pool, staff_id: int, day: dt.date) -> None:
    await pool.execute("DELETE FROM staff_days_off WHERE staff_id = $1 AND day = $2", staff_id, day)


async def weekday_hours(pool: asyncpg.Pool, staff_id: int) -> dict[int, list[Interval]]:
    rows = await pool.fetch(
        "SELECT weekday, opens_at, closes_at FROM staff_hours WHERE staff_id = $1 ORDER BY weekday, opens_at",
        staff_id,
    )
    found: dict[int, list[Interval]] = {}
    for r in rows:
        found.setdefault(int(r["weekday"]), []).append(Interval(r["opens_at"], r["closes_at"]))
    return found


async def set_exception(
    pool: asyncpg.Pool, staff_id: int | None, day: dt.date, intervals: Sequence[Interval]
) -> None:
    """A day-specific exception for a member (or, None, the business); [] = closed that day."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "DELETE FROM schedule_exceptions WHERE staff_id IS NOT DISTINCT FROM $1 AND day = $2",
            staff_id,
            day,
        )
        rows: list[tuple[int | None, dt.date, dt.time | None, dt.time | None]] = [
            (staff_id, day, i.start, i.end) for i in intervals
        ] or [(staff_id, day, None, None)]
        await conn.executemany(
            "INSERT INTO schedule_exceptions (staff_id, day, opens_at, closes_at) VALUES ($1, $2, $3, $4)",
            rows,
        )


async def add_day_off(pool: asyncpg.Pool, staff_id: int, day: dt.date) -> None:
    await pool.execute(
        "INSERT INTO staff_days_off (staff_id, day) VALUES ($1, $2) ON CONFLICT DO NOTHING", staff_id, day
    )


def parse_intervals(text: str) -> list[Interval] | None:
    """``"10:00-14:00, 16:00-20:00"`` -> intervals in order, not overlapping; None when malformed."""
    found = []
    for part in text.replace(";", ",").split(","):
        interval = parse_interval(part)
        if interval is None:
            return None
        found.append(interval)
    found.sort(key=lambda i: i.start)
    if any(a.end > b.start for a, b in itertools.pairwise(found)):
        return None
    return found
