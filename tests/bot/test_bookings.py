"""Bookings against real PostgreSQL: the constraint, not the code, prevents double booking."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings
from booking_bot.catalog import Service, get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow


async def _service(pool: asyncpg.Pool, service_id: int = 1) -> Service:
    service = await get_service(pool, service_id)
    assert service is not None
    return service


async def _book(pool: asyncpg.Pool, user: int, at: dt.datetime, service_id: int = 1) -> bookings.Booking:
    return await bookings.create_booking(
        pool, user_id=user, service=await _service(pool, service_id), starts_at=at, now=NOW, tz=MOSCOW
    )


async def test_twenty_concurrent_bookings_of_one_slot_make_exactly_one(pool: asyncpg.Pool) -> None:
    results = await asyncio.gather(
        *(_book(pool, u, TUESDAY_11) for u in range(1, 21)), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, bookings.Booking)]
    lost = [r for r in results if isinstance(r, bookings.SlotTaken)]
    assert (len(won), len(lost)) == (1, 19)
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1


async def test_overlapping_bookings_of_different_lengths_conflict(pool: asyncpg.Pool) -> None:
    await _book(pool, 1, TUESDAY_11 - dt.timedelta(minutes=30), service_id=2)  # 10:30-12:00 Manicure
    with pytest.raises(bookings.SlotTaken):
        await _book(pool, 2, TUESDAY_11, service_id=1)  # 11:00-12:00
    await _book(pool, 2, TUESDAY_11 + dt.timedelta(hours=1))  # 12:00-13:00 touches, does not overlap


async def test_the_database_refuses_overlap_even_without_the_code(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    other = await pool.fetchval(
        "INSERT INTO bookings (kind, starts_at, ends_at) VALUES ('block', $1, $2) RETURNING id",
        TUESDAY_11,
        TUESDAY_11 + dt.timedelta(minutes=15),
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO booked_slots (slot_start, booking_id) VALUES ($1, $2)", TUESDAY_11, other
        )
    assert booking.id != other


async def test_cells_must_lie_on_the_grid(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO booked_slots (slot_start, booking_id) VALUES ($1, $2)",
            TUESDAY_11 + dt.timedelta(hours=2, minutes=7),
            booking.id,
        )


async def test_a_start_outside_the_schedule_is_refused(pool: asyncpg.Pool) -> None:
    with pytest.raises(bookings.SlotUnavailable):
        await _book(pool, 1, TUESDAY_11 + dt.timedelta(hours=2))  # 13:00: lunch
    with pytest.raises(bookings.SlotUnavailable):
        await _book(pool, 1, NOW + dt.timedelta(minutes=60))  # inside the minimum notice


async def test_cancel_frees_the_slot_and_drops_pending_reminders(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    assert await pool.fetchval("SELECT count(*) FROM reminders WHERE booking_id = $1", booking.id) == 2
    await bookings.cancel_booking(pool, booking.id, by="customer", user_id=1, now=NOW, cutoff_minutes=180)
    assert await pool.fetchval("SELECT count(*) FROM reminders WHERE booking_id = $1", booking.id) == 0
    await _book(pool, 2, TUESDAY_11)


async def test_customers_cannot_cancel_someone_elses_booking(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.cancel_booking(pool, booking.id, by="customer", user_id=2, now=NOW)


async def test_cancel_after_the_cutoff_is_refused(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    late = TUESDAY_11 - dt.timedelta(hours=2)
    with pytest.raises(bookings.TooLate):
        await bookings.cancel_booking(
            pool, booking.id, by="customer", user_id=1, now=late, cutoff_minutes=180
        )
    await bookings.cancel_booking(pool, booking.id, by="admin", now=late)  # the owner may


async def test_reschedule_onto_a_taken_slot_keeps_the_old_one(pool: asyncpg.Pool) -> None:
    mine = await _book(pool, 1, TUESDAY_11)
    await _book(pool, 2, TUESDAY_11 + dt.timedelta(hours=3))  # 14:00
    with pytest.raises(bookings.SlotTaken):
        await bookings.reschedule_booking(
            pool,
            mine.id,
            user_id=1,
            new_start=TUESDAY_11 + dt.timedelta(hours=3),
            now=NOW,
            tz=MOSCOW,
            cutoff_minutes=0,
        )
    cells = await pool.fetch("SELECT slot_start FROM booked_slots WHERE booking_id = $1 ORDER BY 1", mine.id)
    assert cells[0]["slot_start"] == TUESDAY_11 and len(cells) == 12  # 60 minutes of 5-minute cells


async def test_reschedule_may_overlap_its_own_old_time(pool: asyncpg.Pool) -> None:
    mine = await _book(pool, 1, TUESDAY_11)
    _, after = await bookings.reschedule_booking(
        pool,
        mine.id,
        user_id=1,
        new_start=TUESDAY_11 - dt.timedelta(minutes=30),
        now=NOW,
        tz=MOSCOW,
        cutoff_minutes=0,
    )
    assert after.starts_at == TUESDAY_11 - dt.timedelta(minutes=30)
    due = await pool.fetch("SELECT due_at FROM reminders WHERE booking_id = $1 ORDER BY due_at", mine.id)
    assert [r["due_at"] for r in due] == [
        after.starts_at - dt.timedelta(hours=24),
        after.starts_at - dt.timedelta(hours=2),
    ]


async def test_concurrent_reschedules_onto_one_slot_make_one_move(pool: asyncpg.Pool) -> None:
    first = await _book(pool, 1, TUESDAY_11)
    second = await _book(pool, 2, TUESDAY_11 + dt.timedelta(hours=1))
    target = TUESDAY_11 + dt.timedelta(hours=5)
    results = await asyncio.gather(
        *(
            bookings.reschedule_booking(
                pool, b.id, user_id=u, new_start=target, now=NOW, tz=MOSCOW, cutoff_minutes=0
            )
            for b, u in ((first, 1), (second, 2))
        ),
        return_exceptions=True,
    )
    assert sorted(type(r).__name__ for r in results) == ["SlotTaken", "tuple"]
    assert await pool.fetchval("SELECT count(*) FROM booked_slots") == 24


async def test_one_customer_cannot_take_more_than_the_upcoming_limit(pool: asyncpg.Pool) -> None:
    starts = [TUESDAY_11 + dt.timedelta(days=d) for d in range(bookings.MAX_UPCOMING_PER_CUSTOMER + 1)]
    starts = [s for s in starts if s.astimezone(MOSCOW).isoweekday() <= 5][
        : bookings.MAX_UPCOMING_PER_CUSTOMER
    ]
    starts += [TUESDAY_11 + dt.timedelta(hours=h) for h in (3, 4)]
    results = await asyncio.gather(*(_book(pool, 1, s) for s in starts), return_exceptions=True)
    made = [r for r in results if isinstance(r, bookings.Booking)]
    refused = [r for r in results if isinstance(r, bookings.TooManyBookings)]
    assert len(made) == bookings.MAX_UPCOMING_PER_CUSTOMER
    assert len(refused) == len(starts) - bookings.MAX_UPCOMING_PER_CUSTOMER
    await _book(pool, 2, starts[-1] + dt.timedelta(hours=1))  # others are not affected
