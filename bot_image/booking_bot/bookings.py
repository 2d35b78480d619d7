"""Bookings: create, cancel, reschedule, block, list (no aiogram here).

Exclusivity is the database's job: each booking inserts one ``booked_slots`` row per grid
cell it covers inside the same transaction as the booking, and ``booked_slots.slot_start``
is a primary key. Whoever commits second gets ``unique_violation`` and ``SlotTaken``;
nothing is checked-then-inserted for exclusivity. The schedule check before the insert only
rejects stale or forged slot choices (closed day, outside hours, too soon).
"""

from __future__ import annotations

import datetime as dt
import random
import zoneinfo
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

from booking_bot.catalog import Service, service_performers
from booking_bot.schedule import load_schedule
from booking_bot.slots import (
    Performer,
    busy_cells,
    busy_run_ends,
    cells,
    local_day_bounds,
    occupied_minutes,
    starts_by_staff,
    today_local,
)

_SELECT = """
SELECT b.id, b.kind, b.service_id, coalesce(b.service_name, s.name, '') AS service_name,
       coalesce(b.price, s.price, 0) AS price,
       b.user_id, b.starts_at, b.ends_at, b.status, b.note,
       coalesce(nullif(trim(u.first_name || ' ' || u.last_name), ''), '') AS customer_name,
       u.username AS customer_username, u.language_code AS customer_language, u.phone AS customer_phone,
       b.staff_id, coalesce(st.name, '') AS staff_name, b.buffer_minutes, b.customer_confirmed_at
FROM bookings b
LEFT JOIN services s ON s.id = b.service_id
LEFT JOIN users u ON u.telegram_id = b.user_id
LEFT JOIN staff st ON st.id = b.staff_id
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


class Refused(BookingError):
    """The owner put this customer on the block list."""

    code = "refused"


class InThePast(BookingError):
    """A visit that has begun is not cancelled: its outcome (done / no-show) is recorded."""

    code = "in_the_past"


class Overlaps(BookingError):
    """The customer already holds a booking at that time (with any master)."""

    code = "overlaps"


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
    staff_id: int | None = None
    staff_name: str = ""
    buffer_minutes: int = 0
    customer_confirmed_at: dt.datetime | None = None

    @property
    def minutes(self) -> int:
        return int((self.ends_at - self.starts_at).total_seconds() // 60)


def _booking(row: asyncpg.Record) -> Booking:
    return Booking(**dict(row))


async def get_booking(conn: asyncpg.Pool | asyncpg.Connection, booking_id: int) -> Booking | None:
    row = await conn.fetchrow(_SELECT + " WHERE b.id = $1", booking_id)
    return None if row is None else _booking(row)


async def _occupy(
    conn: asyncpg.Connection, booking_id: int, staff_ids: Sequence[int], start: dt.datetime, minutes: int
) -> None:
    """Claim the cells in each staff member's calendar; a taken cell raises SlotTaken."""
    try:
        await conn.execute(
            "INSERT INTO booked_slots (staff_id, slot_start, booking_id)"
            " SELECT s, c, $3 FROM unnest($1::bigint[]) AS s CROSS JOIN unnest($2::timestamptz[]) AS c",
            list(staff_ids),
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


async def _eligible(
    pool: asyncpg.Pool,
    start: dt.datetime,
    performers: Sequence[Performer],
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    ignore_booking: int | None = None,
) -> list[Performer]:
    """The performers for whom ``start`` is a slot of their schedule; whether it is free is the
    constraint's job. None at all: a stale or forged choice (closed, outside hours, too soon)."""
    today = today_local(now, tz)
    schedule = await load_schedule(pool, today)
    day = start.astimezone(tz).date()
    if not today <= day < today + dt.timedelta(days=schedule.rules.horizon_days):
        raise SlotUnavailable("outside the booking horizon")
    # Starts at a booking's end count as slots too; whether the cells are free is not checked
    # here (that is the constraint's job at insert time).
    first, last = local_day_bounds(day, day, tz)
    ends = busy_run_ends(await busy_cells(pool, first, last, ignore_booking=ignore_booking))
    fit = starts_by_staff(day, performers, schedule, {}, now, tz, run_ends=ends).get(start, [])
    if not fit:
        raise SlotUnavailable("not a bookable slot")
    return fit


async def _fair_order(
    pool: asyncpg.Pool, fit: Sequence[Performer], start: dt.datetime, tz: zoneinfo.ZoneInfo
) -> list[Performer]:
    """ "Any master": the one with the fewest bookings that day first, ties broken at random.

    Fairness is only the order of attempts; exclusivity stays with the constraint, so two
    customers racing for the last free master both try it, and the database lets one win.
    """
    day = start.astimezone(tz).date()
    first = dt.datetime.combine(day, dt.time.min).replace(tzinfo=tz)
    last = first + dt.timedelta(days=1)
    rows = await pool.fetch(
        "SELECT staff_id, count(*) AS n FROM bookings WHERE status = 'confirmed' AND kind = 'customer'"
        " AND staff_id = ANY($1::bigint[]) AND starts_at >= $2 AND starts_at < $3 GROUP BY staff_id",
        [p.staff_id for p in fit],
        first,
        last,
    )
    load = {int(r["staff_id"]): int(r["n"]) for r in rows}
    return sorted(fit, key=lambda p: (load.get(p.staff_id or 0, 0), random.random()))  # noqa: S311


async def create_booking(
    pool: asyncpg.Pool,
    *,
    user_id: int,
    service: Service,
    starts_at: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
    by_owner: bool = False,
    performers: Sequence[Performer] | None = None,
) -> Booking:
    """Book ``service`` at ``starts_at`` for ``user_id`` (who must exist in ``users``).

    ``staff_id`` None means any master who performs the service: each free one is tried in
    fair order, each attempt in its own savepoint, until the constraint lets one through.
    ``by_owner``: the owner books for a customer (no per-customer limit).
    """
    if performers is None:  # the caller may pass those it already loaded
        performers = await service_performers(pool, service.id)
    performers = [p for p in performers if staff_id in (None, p.staff_id)]
    if not performers:
        raise SlotUnavailable("nobody performs this service")
    fit = await _eligible(pool, starts_at, performers, now, tz)
    order = await _fair_order(pool, fit, starts_at, tz) if len(fit) > 1 else fit
    async with pool.acquire() as conn, conn.transaction():
        # The user's row is the per-customer lock: two bookings of one customer count in turn.
        refused = await conn.fetchval(
            "SELECT refused_at IS NOT NULL FROM users WHERE telegram_id = $1 FOR UPDATE", user_id
        )
        if refused and not by_owner:
            raise Refused("the owner refuses bookings from this customer")
        upcoming: int = await conn.fetchval(
            "SELECT count(*) FROM bookings WHERE user_id = $1 AND status = 'confirmed' AND ends_at > $2",
            user_id,
            now,
        )
        if upcoming >= MAX_UPCOMING_PER_CUSTOMER and not by_owner:
            raise TooManyBookings("too many upcoming bookings")
        # One person, one place: with several masters a second tap on Confirm would otherwise
        # find another free master for the same customer at the same time.
        longest = max(p.minutes for p in order)
        if await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM bookings WHERE user_id = $1 AND status = 'confirmed'"
            " AND starts_at < $3 AND ends_at > $2)",
            user_id,
            starts_at,
            starts_at + dt.timedelta(minutes=longest),
        ):
            raise Overlaps("the customer is booked at that time already")
        booking_id = 0
        for p in order:
            if p.staff_id is None:  # performers always come from the staff table
                continue
            try:
                async with conn.transaction():  # a savepoint: a taken master rolls back alone
                    booking_id = await conn.fetchval(
                        "INSERT INTO bookings (kind, service_id, user_id, starts_at, ends_at, staff_id,"
                        " service_name, duration_minutes, price, buffer_minutes)"
                        " VALUES ('customer', $1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
                        service.id,
                        user_id,
                        starts_at,
                        starts_at + dt.timedelta(minutes=p.minutes),
                        p.staff_id,
                        service.name,
                        p.minutes,
                        p.price,
                        p.buffer,
                    )
                    await _occupy(conn, booking_id, [p.staff_id], starts_at, p.minutes + p.buffer)
                break
            except SlotTaken:
                booking_id = 0
        if not booking_id:
            raise SlotTaken("every master was just taken")
        await _plan_reminders(conn, booking_id, starts_at, await _reminder_offsets(conn), now)
        booking = await get_booking(conn, booking_id)
    if booking is None:  # written in this very transaction
        raise RuntimeError(f"booking {booking_id} vanished inside its own transaction")
    return booking


async def block_slot(
    pool: asyncpg.Pool, *, starts_at: dt.datetime, minutes: int, note: str = "", staff_id: int | None = None
) -> Booking:
    """The owner closes ``minutes`` from ``starts_at`` for one staff member, or (None) for all."""
    span = occupied_minutes(minutes)
    async with pool.acquire() as conn, conn.transaction():
        booking_id: int = await conn.fetchval(
            "INSERT INTO bookings (kind, starts_at, ends_at, note, staff_id)"
            " VALUES ('block', $1, $2, $3, $4) RETURNING id",
            starts_at,
            starts_at + dt.timedelta(minutes=span),
            note,
            staff_id,
        )
        if staff_id is None:
            whom = [int(r["id"]) for r in await conn.fetch("SELECT id FROM staff WHERE is_active")]
        else:
            whom = [staff_id]
        await _occupy(conn, booking_id, whom, starts_at, span)
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
        if booking.kind == "customer" and booking.starts_at <= now:
            raise InThePast("the visit has begun")
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
    user_id: int | None,
    new_start: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    cutoff_minutes: int,
    staff_id: int | None = None,
) -> tuple[Booking, Booking]:
    """Move a booking; returns (before, after). The old slot is kept if the new one is taken.

    ``user_id`` None: the owner moves it (any customer's, no cutoff; still not in the past).
    ``staff_id``: another master (who must perform the service); None keeps the booking's own.
    The booking keeps the duration, price and buffer it was booked with.
    """
    before = await get_booking(pool, booking_id)
    if (
        before is None
        or before.status != "confirmed"
        or (user_id is not None and before.user_id != user_id)
        or before.kind != "customer"
    ):
        raise NotFound("no such booking")
    own = before.staff_id or 1
    target = staff_id or own
    if new_start == before.starts_at and target == own:
        return before, before  # nothing to move (a second tap, or the same time picked again)
    if user_id is not None:
        _check_cutoff(before, now, cutoff_minutes)
    elif before.starts_at <= now:
        raise InThePast("the visit has begun")
    minutes = before.minutes
    if target != own and not await _performs(pool, target, before.service_id):
        raise NotFound("that master does not perform the service")
    await _eligible(
        pool, new_start, [Performer(target, minutes, before.price, before.buffer_minutes)], now, tz
    )
    async with pool.acquire() as conn, conn.transaction():
        locked = await conn.fetchrow(
            "SELECT starts_at FROM bookings WHERE id = $1 AND status = 'confirmed' FOR UPDATE", booking_id
        )
        if locked is None:
            raise NotFound("no such booking")
        if locked["starts_at"] != before.starts_at:
            raise SlotTaken("the booking changed meanwhile")
        await conn.execute("DELETE FROM booked_slots WHERE booking_id = $1", booking_id)
        await _occupy(conn, booking_id, [target], new_start, minutes + before.buffer_minutes)
        await conn.execute(
            "UPDATE bookings SET starts_at = $2, ends_at = $3, updated_at = $4, staff_id = $5,"
            " reschedule_count = reschedule_count + 1 WHERE id = $1",
            booking_id,
            new_start,
            new_start + dt.timedelta(minutes=minutes),
            now,
            target,
        )
        await _plan_reminders(conn, booking_id, new_start, await _reminder_offsets(conn), now)
        after = await get_booking(conn, booking_id)
    if after is None:  # updated in this very transaction
        raise RuntimeError(f"booking {booking_id} vanished inside its own transaction")
    return before, after


async def _performs(pool: asyncpg.Pool, staff_id: int, service_id: int | None) -> bool:
    """An active master who performs the service (all services, or listed for it)."""
    found = await pool.fetchval(
        "SELECT true FROM staff st LEFT JOIN staff_services ss ON ss.staff_id = st.id AND ss.service_id = $2"
        " WHERE st.id = $1 AND st.is_active AND (st.all_services OR ss.service_id IS NOT NULL)",
        staff_id,
        service_id,
    )
    return bool(found)


OUTCOMES = ("done", "no_show")


async def _reread(pool: asyncpg.Pool, booking_id: int) -> Booking:
    booking = await get_booking(pool, booking_id)
    if booking is None:  # just updated; bookings are never deleted
        raise NotFound("no such booking")
    return booking


async def record_outcome(pool: asyncpg.Pool, booking_id: int, outcome: str, now: dt.datetime) -> Booking:
    """The owner marks a visit that has begun as done or no-show (its cells stay: time passed)."""
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    row = await pool.fetchrow(
        "UPDATE bookings SET status = $2, outcome_at = $3, updated_at = $3"
        " WHERE id = $1 AND kind = 'customer' AND status IN ('confirmed', 'done', 'no_show')"
        " AND starts_at <= $3 RETURNING id",
        booking_id,
        outcome,
        now,
    )
    if row is None:
        raise NotFound("no such visit, or it has not begun")
    return await _reread(pool, booking_id)


async def customer_confirms(pool: asyncpg.Pool, booking_id: int, user_id: int, now: dt.datetime) -> Booking:
    """The customer taps "I'm coming" under a reminder."""
    row = await pool.fetchrow(
        "UPDATE bookings SET customer_confirmed_at = coalesce(customer_confirmed_at, $3)"
        " WHERE id = $1 AND user_id = $2 AND status = 'confirmed' AND starts_at > $3 RETURNING id",
        booking_id,
        user_id,
        now,
    )
    if row is None:
        raise NotFound("no such booking")
    return await _reread(pool, booking_id)


async def own_booking_at(
    pool: asyncpg.Pool, user_id: int, service_id: int, starts_at: dt.datetime
) -> Booking | None:
    """The customer's confirmed booking of this service at this start, if they already hold it."""
    row = await pool.fetchrow(
        _SELECT
        + " WHERE b.user_id = $1 AND b.service_id = $2 AND b.starts_at = $3 AND b.status = 'confirmed'",
        user_id,
        service_id,
        starts_at,
    )
    return None if row is None else _booking(row)


async def hold_notice(pool: asyncpg.Pool, booking_id: int, now: dt.datetime) -> None:
    """The owner's new-booking notice waits (for the customer's phone): see ``release_notices``."""
    await pool.execute("UPDATE bookings SET notice_held_at = $2 WHERE id = $1", booking_id, now)


async def release_notices(
    pool: asyncpg.Pool, *, user_id: int | None = None, held_before: dt.datetime | None = None
) -> list[Booking]:
    """Claim held notices (one customer's, or all held since before ``held_before``), at most once.

    The claim clears ``notice_held_at`` in the same statement that returns the rows, so two
    passes (the customer's answer and the worker's timeout) never send one notice twice.
    """
    rows = await pool.fetch(
        "UPDATE bookings SET notice_held_at = NULL WHERE notice_held_at IS NOT NULL"
        " AND ($1::bigint IS NULL OR user_id = $1) AND ($2::timestamptz IS NULL OR notice_held_at < $2)"
        " RETURNING id",
        user_id,
        held_before,
    )
    found = [await get_booking(pool, r["id"]) for r in rows]
    return [b for b in found if b is not None and b.status == "confirmed"]


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


async def upcoming_customer_bookings(pool: asyncpg.Pool, now: dt.datetime) -> list[Booking]:
    """Every confirmed customer booking that has not started yet (bounded by the horizon)."""
    rows = await pool.fetch(
        _SELECT
        + " WHERE b.kind = 'customer' AND b.status = 'confirmed' AND b.starts_at > $1 ORDER BY b.starts_at",
        now,
    )
    return [_booking(r) for r in rows]


async def between(pool: asyncpg.Pool, start: dt.datetime, end: dt.datetime) -> list[Booking]:
    """Bookings (also past ones with their outcome) and blocks starting in [start, end), for the
    owner's day/week view."""
    rows = await pool.fetch(
        _SELECT
        + " WHERE b.status <> 'cancelled' AND b.starts_at >= $1 AND b.starts_at < $2 ORDER BY b.starts_at",
        start,
        end,
    )
    return [_booking(r) for r in rows]
