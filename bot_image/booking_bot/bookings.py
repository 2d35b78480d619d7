"""Bookings: create, cancel, reschedule, block, list (no aiogram here).

Exclusivity is the database's job: each booking inserts one ``booked_slots`` row per grid
cell it covers inside the same transaction as the booking, and ``booked_slots.slot_start``
is a primary key. Whoever commits second gets ``unique_violation`` and ``SlotTaken``;
nothing is checked-then-inserted for exclusivity. The schedule check before the insert only
rejects stale or forged slot choices (closed day, outside hours, too soon).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from booking_bot.catalog import Service
from booking_bot.schedule import load_schedule
from booking_bot.slots import cells, free_slots, occupied_minutes, today_local

_SELECT = """
SELECT b.id, b.kind, b.service_id, coalesce(s.name, '') AS service_name, coalesce(s.price, 0) AS price,
       b.user_id, b.starts_at, b.ends_at, b.status, b.note,
       coalesce(nullif(trim(u.first_name || ' ' || u.last_name), ''), '') AS customer_name,
       u.username AS customer_username, u.language_code AS customer_language, u.phone AS customer_phone
FROM bookings b
LEFT JOIN services s ON s.id = b.service_id
LEFT JOIN users u ON u.telegram_id = b.user_id
"""


class BookingError(Exception):
    """A booking operation was refused; ``code`` names why (for texts)."""

    code = "error"


class SlotTaken(BookingError):
    code = "slot_taken"


class SlotUnavailable(BookingError):
    """The chosen start is not a valid slot (closed, outside hours, too soon, in the past)."""

    code = "slot_unavailable"


class TooLate(BookingError):
    """Past the owner's cancel/reschedule cutoff."""

    code = "too_late"


class NotFound(BookingError):
    code = "not_found"


class TooManyBookings(BookingError):
    """The customer already holds MAX_UPCOMING_PER_CUSTOMER upcoming bookings."""

    code = "too_many"


# One customer cannot take the whole week (a prank, a bot): upcoming bookings per customer.
MAX_UPCOMING_PER_CUSTOMER = 5


@dataclass(frozen=True)
class Booking:
    id: int
    kind: str
    service_id: int | None
    service_name: str
    price: Decimal
    user_id: int | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    note: str = ""
    customer_name: str = ""
    customer_username: str | None = None
    customer_language: str | None = None
    customer_phone: str | None = None


def _booking(row: asyncpg.Record) -> Booking:
    return Booking(**dict(row))


async def get_booking(conn: asyncpg.Pool | asyncpg.Connection, booking_id: int) -> Booking | None:
    row = await conn.fetchrow(_SELECT + " WHERE b.id = $1", booking_id)
    return None if row is None else _booking(row)


async def _occupy(conn: asyncpg.Connection, booking_id: int, start: dt.datetime, minutes: int) -> None:
    try:
        await conn.execute(
            "INSERT INTO booked_slots (slot_start, booking_id) SELECT unnest($1::timestamptz[]), $2",
            cells(start, minutes),
            booking_id,
        )
    except asyncpg.UniqueViolationError:
        raise SlotTaken("the slot was just taken") from None


async def _plan_reminders(
    conn: asyncpg.Connection,
    booking_id: int,
    starts_at: dt.datetime,
    offsets: Sequence[int],
    now: dt.datetime,
) -> None:
    await conn.execute("DELETE FROM reminders WHERE booking_id = $1 AND claimed_at IS NULL", booking_id)
    due = [(o, starts_at - dt.timedelta(minutes=o)) for o in offsets]
    due = [(o, at) for o, at in due if at > now]
    if due:
        await conn.executemany(
            "INSERT INTO reminders (booking_id, offset_minutes, due_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            [(booking_id, o, at) for o, at in due],
        )


async def _reminder_offsets(conn: asyncpg.Connection) -> list[int]:
    value = await conn.fetchval("SELECT reminder_offsets_minutes FROM settings WHERE id")
    return list(value or [])


async def _check_slot(
    pool: asyncpg.Pool, start: dt.datetime, minutes: int, now: dt.datetime, tz: zoneinfo.ZoneInfo
) -> None:
    """Reject a start that is no slot of the schedule; whether it is free is the constraint's job."""
    today = today_local(now, tz)
    schedule = await load_schedule(pool, today)
    day = start.astimezone(tz).date()
    if not today <= day < today + dt.timedelta(days=schedule.rules.horizon_days):
        raise SlotUnavailable("outside the booking horizon")
    if start not in free_slots(day, minutes, schedule, (), now, tz):
        raise SlotUnavailable("not a bookable slot")


async def create_booking(
    pool: asyncpg.Pool,
    *,
    user_id: int,
    service: Service,
    starts_at: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> Booking:
    """Book ``service`` at ``starts_at`` for ``user_id`` (who must exist in ``users``)."""
    await _check_slot(pool, starts_at, service.duration_minutes, now, tz)
    ends_at = starts_at + dt.timedelta(minutes=service.duration_minutes)
    async with pool.acquire() as conn, conn.transaction():
        # The user's row is the per-customer lock: two bookings of one customer count in turn.
        await conn.execute("SELECT 1 FROM users WHERE telegram_id = $1 FOR UPDATE", user_id)
        upcoming: int = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE user_id = $1 AND status = 'confirmed' AND ends_at > $2",
            user_id,
            now,
        )
        if upcoming >= MAX_UPCOMING_PER_CUSTOMER:
            raise TooManyBookings("too many upcoming bookings")
        booking_id: int = await conn.fetchval(
            "INSERT INTO bookings (kind, service_id, user_id, starts_at, ends_at)"
            " VALUES ('customer', $1, $2, $3, $4) RETURNING id",
            service.id,
            user_id,
            starts_at,
            ends_at,
        )
        await _occupy(conn, booking_id, starts_at, service.duration_minutes)
        await _plan_reminders(conn, booking_id, starts_at, await _reminder_offsets(conn), now)
        booking = await get_booking(conn, booking_id)
    if booking is None:  # written in this very transaction
        raise RuntimeError(f"booking {booking_id} vanished inside its own transaction")
    return booking


async def block_slot(pool: asyncpg.Pool, *, starts_at: dt.datetime, minutes: int, note: str = "") -> Booking:
    """The owner closes ``minutes`` from ``starts_at`` (must lie on the grid)."""
    span = occupied_minutes(minutes)
    async with pool.acquire() as conn, conn.transaction():
        booking_id: int = await conn.fetchval(
            "INSERT INTO bookings (kind, starts_at, ends_at, note) VALUES ('block', $1, $2, $3) RETURNING id",
            starts_at,
            starts_at + dt.timedelta(minutes=span),
            note,
        )
        await _occupy(conn, booking_id, starts_at, span)
        booking = await get_booking(conn, booking_id)
    if booking is None:  # written in this very transaction
        raise RuntimeError(f"booking {booking_id} vanished inside its own transaction")
    return booking


def _check_cutoff(booking: Booking, now: dt.datetime, cutoff_minutes: int) -> None:
    if booking.starts_at - now < dt.timedelta(minutes=cutoff_minutes):
        raise TooLate("past the cutoff")


async def cancel_booking(
    pool: asyncpg.Pool,
    booking_id: int,
    *,
    by: str,
    now: dt.datetime,
    user_id: int | None = None,
    cutoff_minutes: int = 0,
) -> Booking:
    """Cancel a confirmed booking. Customers (``by="customer"``) only their own, before the cutoff."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id FROM bookings WHERE id = $1 AND status = 'confirmed' FOR UPDATE", booking_id
        )
        booking = await get_booking(conn, booking_id) if row else None
        if booking is None or (by == "customer" and booking.user_id != user_id):
            raise NotFound("no such booking")
        if by == "customer":
            _check_cutoff(booking, now, cutoff_minutes)
        await conn.execute(
            "UPDATE bookings SET status = 'cancelled', cancelled_at = $2, cancelled_by = $3, updated_at = $2"
            " WHERE id = $1",
            booking_id,
            now,
            by,
        )
        await conn.execute("DELETE FROM booked_slots WHERE booking_id = $1", booking_id)
        await conn.execute("DELETE FROM reminders WHERE booking_id = $1 AND claimed_at IS NULL", booking_id)
    return booking


async def reschedule_booking(
    pool: asyncpg.Pool,
    booking_id: int,
    *,
    user_id: int,
    new_start: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    cutoff_minutes: int,
) -> tuple[Booking, Booking]:
    """Move a customer's booking; returns (before, after). The old slot is kept if the new one is taken."""
    before = await get_booking(pool, booking_id)
    if (
        before is None
        or before.status != "confirmed"
        or before.user_id != user_id
        or before.kind != "customer"
    ):
        raise NotFound("no such booking")
    _check_cutoff(before, now, cutoff_minutes)
    minutes = int((before.ends_at - before.starts_at).total_seconds() // 60)
    await _check_slot(pool, new_start, minutes, now, tz)
    async with pool.acquire() as conn, conn.transaction():
        locked = await conn.fetchrow(
            "SELECT starts_at FROM bookings WHERE id = $1 AND status = 'confirmed' FOR UPDATE", booking_id
        )
        if locked is None:
            raise NotFound("no such booking")
        if locked["starts_at"] != before.starts_at:
            raise SlotTaken("the booking changed meanwhile")
        await conn.execute("DELETE FROM booked_slots WHERE booking_id = $1", booking_id)
        await _occupy(conn, booking_id, new_start, minutes)
        await conn.execute(
            "UPDATE bookings SET starts_at = $2, ends_at = $3, updated_at = $4,"
            " reschedule_count = reschedule_count + 1 WHERE id = $1",
            booking_id,
            new_start,
            new_start + dt.timedelta(minutes=minutes),
            now,
        )
        await _plan_reminders(conn, booking_id, new_start, await _reminder_offsets(conn), now)
        after = await get_booking(conn, booking_id)
    if after is None:  # updated in this very transaction
        raise RuntimeError(f"booking {booking_id} vanished inside its own transaction")
    return before, after


async def upcoming_for_user(
    pool: asyncpg.Pool, user_id: int, now: dt.datetime, limit: int = 10
) -> list[Booking]:
    rows = await pool.fetch(
        _SELECT
        + " WHERE b.user_id = $1 AND b.status = 'confirmed' AND b.ends_at > $2 ORDER BY b.starts_at LIMIT $3",
        user_id,
        now,
        limit,
    )
    return [_booking(r) for r in rows]


async def between(pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime) -> list[Booking]:
    """Confirmed bookings and blocks starting in [start, end), for the owner's day/week view."""
    rows = await pool.fetch(
        _SELECT
        + " WHERE b.status = 'confirmed' AND b.starts_at >= $1 AND b.starts_at < $2 ORDER BY b.starts_at",
        start,
        end,
    )
    return [_booking(r) for r in rows]
