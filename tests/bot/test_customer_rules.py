"""What one customer may hold (create_booking in bookings.py), against real PostgreSQL: the owner's
block list, the upcoming limit, one place at a time, and the reminders a booking plans.

The owner booking for a customer (``by_owner``) is not held to the block list or the limit."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings, customers, staff
from booking_bot.catalog import get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow
HOUR = dt.timedelta(hours=1)
HAIRCUT, MANICURE = 1, 2  # 60 and 90 minutes


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


async def _book(
    pool: asyncpg.Pool,
    user: int,
    at: dt.datetime,
    *,
    service_id: int = HAIRCUT,
    staff_id: int | None = None,
    by_owner: bool = False,
) -> bookings.Booking:
    service = await get_service(pool, service_id)
    assert service is not None
    return await bookings.create_booking(
        pool,
        user_id=user,
        service=service,
        starts_at=at,
        now=NOW,
        tz=MOSCOW,
        staff_id=staff_id,
        by_owner=by_owner,
    )


async def _count(pool: asyncpg.Pool, user: int) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM bookings WHERE user_id = $1", user)
    return count


# ---- the block list ----------------------------------------------------------------------------------


async def test_a_customer_on_the_block_list_cannot_book(pool: asyncpg.Pool) -> None:
    await customers.set_refused(pool, 1, True)
    with pytest.raises(bookings.Refused):
        await _book(pool, 1, TUESDAY_11)
    assert await _count(pool, 1) == 0


async def test_the_owner_may_book_for_a_customer_on_the_block_list(pool: asyncpg.Pool) -> None:
    await customers.set_refused(pool, 1, True)
    booking = await _book(pool, 1, TUESDAY_11, by_owner=True)
    assert (booking.user_id, booking.starts_at) == (1, TUESDAY_11)


# ---- the upcoming limit ------------------------------------------------------------------------------


async def _fill_the_limit(pool: asyncpg.Pool, user: int) -> None:
    for hour in range(bookings.MAX_UPCOMING_PER_CUSTOMER):  # Tuesday 11:00 to 15:00 (lunch 13-14)
        await _book(pool, user, TUESDAY_11 + dt.timedelta(days=1, hours=hour + (hour >= 2)))


async def test_a_customer_may_hold_exactly_the_upcoming_limit(pool: asyncpg.Pool) -> None:
    await _fill_the_limit(pool, 1)
    assert await _count(pool, 1) == bookings.MAX_UPCOMING_PER_CUSTOMER
    with pytest.raises(bookings.TooManyBookings):
        await _book(pool, 1, TUESDAY_11)
    assert await _count(pool, 1) == bookings.MAX_UPCOMING_PER_CUSTOMER


async def test_the_owner_may_book_past_a_customers_upcoming_limit(pool: asyncpg.Pool) -> None:
    await _fill_the_limit(pool, 1)
    booking = await _book(pool, 1, TUESDAY_11, by_owner=True)
    assert booking.user_id == 1
    assert await _count(pool, 1) == bookings.MAX_UPCOMING_PER_CUSTOMER + 1


# ---- one place at a time -----------------------------------------------------------------------------


async def test_a_customer_cannot_hold_two_masters_at_overlapping_times(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11, staff_id=1)  # 11:00-12:00
    with pytest.raises(bookings.Overlaps):
        await _book(pool, 1, TUESDAY_11 + HOUR / 2, staff_id=anna.id)  # 11:30
    with pytest.raises(bookings.Overlaps):  # the 90-minute manicure from 10:00 runs into 11:00
        await _book(pool, 1, TUESDAY_11 - HOUR, service_id=MANICURE, staff_id=anna.id)
    assert await _count(pool, 1) == 1


async def test_a_customer_may_book_right_after_their_own_visit(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11, staff_id=1)
    after = await _book(pool, 1, TUESDAY_11 + HOUR, staff_id=anna.id)
    assert after.starts_at == TUESDAY_11 + HOUR


# ---- reminders ---------------------------------------------------------------------------------------


async def _due(pool: asyncpg.Pool, booking_id: int) -> list[tuple[int, dt.datetime]]:
    rows = await pool.fetch(
        "SELECT offset_minutes, due_at FROM reminders WHERE booking_id = $1 ORDER BY due_at", booking_id
    )
    return [(int(r["offset_minutes"]), r["due_at"]) for r in rows]


async def test_a_booking_plans_the_reminders_a_day_and_two_hours_before(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    assert await _due(pool, booking.id) == [(1440, TUESDAY_11 - 24 * HOUR), (120, TUESDAY_11 - 2 * HOUR)]


async def test_a_reminder_due_at_the_moment_of_booking_is_not_planned(pool: asyncpg.Pool) -> None:
    """Booked at 09:00 for 11:00 (the minimum notice): the two-hour reminder would be due now."""
    booking = await _book(pool, 1, NOW + 2 * HOUR)
    assert await _due(pool, booking.id) == []


async def test_a_booking_row_records_the_duration_and_price_it_was_booked_with(pool: asyncpg.Pool) -> None:
    """The row keeps what was agreed (migration 7 backfills the same for older rows), whatever
    the service's terms become later."""
    booking = await _book(pool, 1, TUESDAY_11)
    row = await pool.fetchrow(
        "SELECT duration_minutes, price, buffer_minutes FROM bookings WHERE id = $1", booking.id
    )
    assert dict(row) == {"duration_minutes": 60, "price": 1500, "buffer_minutes": 0}
