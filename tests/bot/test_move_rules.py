"""Moves onto another master, the horizon's end, and "any master" fairness (bookings.py and the
slot queries of slots.py), against real PostgreSQL. Edges the chat-flow tests pass over."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings, catalog, schedule, slots, staff
from booking_bot.catalog import get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow
HOUR = dt.timedelta(hours=1)
TUESDAY = 2  # ISO weekday, as the staff's own week is stored


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


async def _book(
    pool: asyncpg.Pool, user: int, at: dt.datetime, staff_id: int | None = None
) -> bookings.Booking:
    service = await get_service(pool, 1)  # Haircut, 60 minutes
    assert service is not None
    return await bookings.create_booking(
        pool, user_id=user, service=service, starts_at=at, now=NOW, tz=MOSCOW, staff_id=staff_id
    )


async def _move(
    pool: asyncpg.Pool, booking_id: int, at: dt.datetime, staff_id: int | None
) -> bookings.Booking:
    _, after = await bookings.reschedule_booking(
        pool, booking_id, user_id=1, new_start=at, now=NOW, tz=MOSCOW, cutoff_minutes=0, staff_id=staff_id
    )
    return after


async def test_a_move_to_a_master_listed_for_the_service_is_allowed(pool: asyncpg.Pool) -> None:
    """Anna no longer does manicures, so she performs haircuts by her own list, not by "all"."""
    anna = await staff.add_staff(pool, "Anna")
    assert await staff.toggle_service(pool, anna.id, 2) is False
    booked = await _book(pool, 1, TUESDAY_11, staff_id=1)
    moved = await _move(pool, booked.id, TUESDAY_11, anna.id)
    assert moved.staff_id == anna.id


async def test_a_move_onto_a_master_outside_their_own_hours_is_refused(pool: asyncpg.Pool) -> None:
    """The business is open at 11:00 on Tuesday; Anna works 16-18 only."""
    anna = await staff.add_staff(pool, "Anna")
    await staff.set_weekday_hours(pool, anna.id, TUESDAY, [staff.Interval(dt.time(16), dt.time(18))])
    booked = await _book(pool, 1, TUESDAY_11, staff_id=1)
    with pytest.raises(bookings.SlotUnavailable):
        await _move(pool, booked.id, TUESDAY_11, anna.id)
    kept = await bookings.get_booking(pool, booked.id)
    assert kept is not None and kept.staff_id == 1
    moved = await _move(pool, booked.id, TUESDAY_11 + 5 * HOUR, anna.id)  # 16:00
    assert (moved.staff_id, moved.starts_at) == (anna.id, TUESDAY_11 + 5 * HOUR)


async def test_moving_a_booking_that_does_not_exist_is_not_found(pool: asyncpg.Pool) -> None:
    with pytest.raises(bookings.NotFound):
        await _move(pool, 4242, TUESDAY_11, None)


async def test_a_booking_the_day_after_the_horizons_last_day_is_refused(pool: asyncpg.Pool) -> None:
    await schedule.update_setting(pool, "horizon_days", 2)  # Monday and Tuesday
    assert (await _book(pool, 1, TUESDAY_11)).starts_at == TUESDAY_11
    with pytest.raises(bookings.SlotUnavailable):
        await _book(pool, 2, TUESDAY_11 + dt.timedelta(days=1))


async def test_any_master_never_leaves_the_less_busy_master_to_chance(pool: asyncpg.Pool) -> None:
    """Master 1 has a booking that day, Anna none: every "any master" customer goes to Anna (the
    random tie-break is for equal loads only). Eight tries, each cancelled again."""
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11 + 3 * HOUR, staff_id=1)
    chosen = []
    for _ in range(8):
        booking = await _book(pool, 2, TUESDAY_11)
        chosen.append(booking.staff_id)
        await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    assert chosen == [anna.id] * 8


async def test_the_day_slots_of_a_moved_booking_include_its_own_time(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    performers = await catalog.service_performers(pool, 1)
    day = TUESDAY_11.astimezone(MOSCOW).date()
    own = await slots.slots_for_day(pool, day, performers, NOW, MOSCOW, ignore_booking=booking.id)
    others = await slots.slots_for_day(pool, day, performers, NOW, MOSCOW)
    assert TUESDAY_11 in own
    assert TUESDAY_11 not in others


async def test_a_master_working_on_the_businesss_closed_day_makes_it_bookable(pool: asyncpg.Pool) -> None:
    """The business is closed on Sundays; Anna works Sunday 10-14 by her own week."""
    anna = await staff.add_staff(pool, "Anna")
    await staff.set_weekday_hours(pool, anna.id, 7, [staff.Interval(dt.time(10), dt.time(14))])
    sunday = dt.date(2030, 3, 10)
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(pool, sunday, 1, performers, NOW, MOSCOW)
    assert states == {sunday: slots.DayState.FREE}
