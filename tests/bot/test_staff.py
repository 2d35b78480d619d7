"""Staff with their own calendars against real PostgreSQL: exclusivity per master in the
database, "any master" in fair order under real concurrent transactions, own terms."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from decimal import Decimal

import asyncpg
import pytest

from booking_bot import bookings, catalog, slots, staff
from booking_bot.catalog import Service, get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow


async def _haircut(pool: asyncpg.Pool) -> Service:
    service = await get_service(pool, 1)
    assert service is not None
    return service


async def _book(
    pool: asyncpg.Pool, user: int, at: dt.datetime, staff_id: int | None = None
) -> bookings.Booking:
    return await bookings.create_booking(
        pool, user_id=user, service=await _haircut(pool), starts_at=at, now=NOW, tz=MOSCOW, staff_id=staff_id
    )


async def test_two_masters_take_the_same_time_and_one_master_cannot(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    first = await _book(pool, 1, TUESDAY_11, staff_id=1)
    second = await _book(pool, 2, TUESDAY_11, staff_id=anna.id)
    assert (first.staff_id, second.staff_id) == (1, anna.id)
    with pytest.raises(bookings.SlotTaken):
        await _book(pool, 3, TUESDAY_11 + dt.timedelta(minutes=30), staff_id=anna.id)


async def test_the_database_refuses_a_second_booking_of_one_master_even_without_the_code(
    pool: asyncpg.Pool,
) -> None:
    anna = await staff.add_staff(pool, "Anna")
    booking = await _book(pool, 1, TUESDAY_11, staff_id=anna.id)
    await pool.execute(  # another master at the same instant: fine
        "INSERT INTO booked_slots (staff_id, slot_start, booking_id) VALUES (1, $1, $2)",
        TUESDAY_11,
        booking.id,
    )
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO booked_slots (staff_id, slot_start, booking_id) VALUES ($1, $2, $3)",
            anna.id,
            TUESDAY_11 + dt.timedelta(minutes=55),
            booking.id,
        )


async def test_the_last_free_master_goes_to_one_of_two_concurrent_customers(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11, staff_id=1)  # master 1 is busy at 11:00; only Anna is free
    results = await asyncio.gather(
        _book(pool, 2, TUESDAY_11), _book(pool, 3, TUESDAY_11), return_exceptions=True
    )
    won = [r for r in results if isinstance(r, bookings.Booking)]
    lost = [r for r in results if isinstance(r, bookings.SlotTaken)]
    assert (len(won), len(lost)) == (1, 1), results
    assert won[0].staff_id == anna.id
    # The loser is offered the next slot, which is free for some master.
    performers = await catalog.service_performers(pool, 1)
    following = await slots.next_free_slots(pool, TUESDAY_11, performers, NOW, MOSCOW)
    assert following[0] == TUESDAY_11 + dt.timedelta(hours=1)


async def test_concurrent_any_master_customers_fill_every_master_once(pool: asyncpg.Pool) -> None:
    for name in ("Anna", "Boris", "Vera"):
        await staff.add_staff(pool, name)
    results = await asyncio.gather(*(_book(pool, u, TUESDAY_11) for u in range(1, 9)), return_exceptions=True)
    won = [r for r in results if isinstance(r, bookings.Booking)]
    assert len(won) == 4  # four masters, eight customers
    assert len({b.staff_id for b in won}) == 4
    assert all(isinstance(r, bookings.SlotTaken) for r in results if not isinstance(r, bookings.Booking))


async def test_any_master_spreads_a_day_over_the_masters(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    for hour in range(4):
        await _book(pool, hour + 1, TUESDAY_11 + dt.timedelta(hours=hour if hour < 2 else hour + 1))
    rows = await pool.fetch(
        "SELECT staff_id, count(*) AS n FROM bookings GROUP BY staff_id ORDER BY staff_id"
    )
    assert [(r["staff_id"], r["n"]) for r in rows] == [(1, 2), (anna.id, 2)]


async def test_a_master_who_does_not_perform_a_service_is_never_picked(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    assert await staff.toggle_service(pool, anna.id, 1) is False  # Anna stops doing haircuts
    assert await staff.performed_services(pool, anna.id) == {2}
    assert [p.staff_id for p in await catalog.service_performers(pool, 1)] == [1]
    await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.SlotTaken):
        await _book(pool, 2, TUESDAY_11)
    with pytest.raises(bookings.SlotUnavailable):
        await _book(pool, 2, TUESDAY_11, staff_id=anna.id)


async def test_a_masters_own_duration_and_price_are_booked_and_kept(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await staff.set_own_terms(pool, anna.id, 1, minutes=40, price=Decimal("2500"))
    booking = await _book(pool, 1, TUESDAY_11, staff_id=anna.id)
    assert booking.ends_at - booking.starts_at == dt.timedelta(minutes=40)
    assert booking.price == Decimal("2500.00")
    await catalog.update_service(pool, 1, name="Haircut deluxe", price=Decimal("9000"))
    again = await bookings.get_booking(pool, booking.id)
    assert again is not None
    assert (again.service_name, again.price) == ("Haircut", Decimal("2500.00"))  # history is not rewritten


async def test_a_buffer_after_a_service_is_held_in_the_calendar(pool: asyncpg.Pool) -> None:
    await catalog.update_service(pool, 1, buffer_minutes=15)
    three_pm = TUESDAY_11 + dt.timedelta(hours=4)
    booking = await _book(pool, 1, three_pm)
    assert booking.ends_at - booking.starts_at == dt.timedelta(hours=1)  # the customer sees one hour
    held = await pool.fetchval("SELECT count(*) FROM booked_slots WHERE booking_id = $1", booking.id)
    assert held == 15  # 75 minutes of 5-minute cells
    with pytest.raises(bookings.SlotTaken):  # 16:00 is inside the buffer
        await _book(pool, 2, three_pm + dt.timedelta(hours=1))
    performers = await catalog.service_performers(pool, 1)
    day = three_pm.astimezone(MOSCOW).date()
    offered = await slots.slots_for_day(pool, day, performers, NOW, MOSCOW)
    assert three_pm + dt.timedelta(hours=1, minutes=15) in offered  # the buffer's end is offered
    await _book(pool, 2, three_pm + dt.timedelta(hours=1, minutes=15))


async def test_a_masters_own_hours_with_two_intervals_and_an_exception(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    intervals = staff.parse_intervals("10:00-12:00, 16:00-18:00")
    assert intervals is not None
    await staff.set_weekday_hours(pool, anna.id, 2, intervals)
    day = TUESDAY_11.astimezone(MOSCOW).date()
    only_anna = [p for p in await catalog.service_performers(pool, 1) if p.staff_id == anna.id]
    times = [
        s.astimezone(MOSCOW).strftime("%H:%M")
        for s in await slots.slots_for_day(pool, day, only_anna, NOW, MOSCOW)
    ]
    assert times == ["10:00", "10:30", "11:00", "16:00", "16:30", "17:00"]
    await staff.set_exception(pool, anna.id, day, [staff.Interval(dt.time(12), dt.time(14))])
    times = [
        s.astimezone(MOSCOW).strftime("%H:%M")
        for s in await slots.slots_for_day(pool, day, only_anna, NOW, MOSCOW)
    ]
    assert times == ["12:00", "12:30", "13:00"]  # the exception has no lunch break


async def test_a_business_wide_block_closes_every_master(pool: asyncpg.Pool) -> None:
    await staff.add_staff(pool, "Anna")
    await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=60)
    with pytest.raises(bookings.SlotTaken):
        await _book(pool, 1, TUESDAY_11)


async def _move(
    pool: asyncpg.Pool, booking_id: int, at: dt.datetime, staff_id: int | None
) -> bookings.Booking:
    _, after = await bookings.reschedule_booking(
        pool, booking_id, user_id=1, new_start=at, now=NOW, tz=MOSCOW, cutoff_minutes=180, staff_id=staff_id
    )
    return after


async def test_a_move_to_another_master_at_the_same_time_changes_only_the_master(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    booked = await _book(pool, 1, TUESDAY_11, staff_id=1)
    moved = await _move(pool, booked.id, TUESDAY_11, anna.id)
    assert (moved.staff_id, moved.starts_at, moved.price) == (anna.id, TUESDAY_11, booked.price)
    cells = await pool.fetch("SELECT DISTINCT staff_id FROM booked_slots WHERE booking_id = $1", booked.id)
    assert [r["staff_id"] for r in cells] == [anna.id]
    await _book(pool, 2, TUESDAY_11, staff_id=1)  # the first master's time is free again


async def test_a_move_to_a_master_who_does_not_perform_the_service_is_refused(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await staff.toggle_service(pool, anna.id, 1)  # Anna stops doing haircuts
    booked = await _book(pool, 1, TUESDAY_11, staff_id=1)
    with pytest.raises(bookings.NotFound):
        await _move(pool, booked.id, TUESDAY_11 + dt.timedelta(hours=1), anna.id)
    kept = await bookings.get_booking(pool, booked.id)
    assert kept is not None and (kept.staff_id, kept.starts_at) == (1, TUESDAY_11)
