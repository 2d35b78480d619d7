"""Who may cancel, move and block what, and when (bookings.py and the slot queries of slots.py),
against real PostgreSQL: the edges of each rule (exactly at the cutoff, exactly at the start),
what a cancellation or a move leaves in the database, and the free-slot search over days."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings, catalog, slots, staff
from booking_bot.catalog import Service, get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow
HOUR = dt.timedelta(hours=1)


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


async def _service(pool: asyncpg.Pool, service_id: int = 1) -> Service:
    service = await get_service(pool, service_id)
    assert service is not None
    return service


async def _book(
    pool: asyncpg.Pool, user: int, at: dt.datetime, service_id: int = 1, staff_id: int | None = None
) -> bookings.Booking:
    return await bookings.create_booking(
        pool,
        user_id=user,
        service=await _service(pool, service_id),
        starts_at=at,
        now=NOW,
        tz=MOSCOW,
        staff_id=staff_id,
    )


async def _cells(pool: asyncpg.Pool, booking_id: int) -> list[tuple[int, dt.datetime]]:
    rows = await pool.fetch(
        "SELECT staff_id, slot_start FROM booked_slots WHERE booking_id = $1 ORDER BY slot_start", booking_id
    )
    return [(int(r["staff_id"]), r["slot_start"]) for r in rows]


# ---- cancelling ------------------------------------------------------------------------------------


async def test_a_customer_may_cancel_exactly_at_the_cutoff(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    at_cutoff = TUESDAY_11 - dt.timedelta(minutes=120)
    cancelled = await bookings.cancel_booking(
        pool, booking.id, by="customer", user_id=1, now=at_cutoff, cutoff_minutes=120
    )
    assert cancelled.id == booking.id


async def test_a_customer_may_not_cancel_a_minute_past_the_cutoff(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    late = TUESDAY_11 - dt.timedelta(minutes=119)
    with pytest.raises(bookings.TooLate):
        await bookings.cancel_booking(
            pool, booking.id, by="customer", user_id=1, now=late, cutoff_minutes=120
        )


async def test_without_a_cutoff_a_customer_may_cancel_until_the_visit_starts(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    just_before = TUESDAY_11 - dt.timedelta(seconds=30)
    await bookings.cancel_booking(pool, booking.id, by="customer", user_id=1, now=just_before)
    assert await pool.fetchval("SELECT status FROM bookings WHERE id = $1", booking.id) == "cancelled"


async def test_a_cancelled_booking_cannot_be_cancelled_again(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    with pytest.raises(bookings.NotFound):
        await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)


async def test_a_customer_cannot_cancel_someone_elses_booking(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.cancel_booking(pool, booking.id, by="customer", user_id=2, now=NOW)
    assert await pool.fetchval("SELECT status FROM bookings WHERE id = $1", booking.id) == "confirmed"


async def test_a_visit_cannot_be_cancelled_at_the_minute_it_starts(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.InThePast):
        await bookings.cancel_booking(pool, booking.id, by="admin", now=TUESDAY_11)


async def test_the_owner_may_lift_a_block_that_has_begun(pool: asyncpg.Pool) -> None:
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=120)
    await bookings.cancel_booking(pool, block.id, by="admin", now=TUESDAY_11 + HOUR)
    assert await _cells(pool, block.id) == []


async def test_a_cancellation_records_who_cancelled_and_when(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    row = await pool.fetchrow(
        "SELECT status, cancelled_by, cancelled_at, updated_at FROM bookings WHERE id = $1", booking.id
    )
    assert dict(row) == {
        "status": "cancelled",
        "cancelled_by": "admin",
        "cancelled_at": NOW,
        "updated_at": NOW,
    }


async def test_a_cancellation_frees_the_cells_and_drops_the_unsent_reminders(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    assert await pool.fetchval("SELECT count(*) FROM reminders WHERE booking_id = $1", booking.id) > 0
    await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    assert await _cells(pool, booking.id) == []
    assert await pool.fetchval("SELECT count(*) FROM reminders WHERE booking_id = $1", booking.id) == 0
    await _book(pool, 2, TUESDAY_11)  # the time is free again


# ---- moving ----------------------------------------------------------------------------------------


async def test_the_owner_may_move_any_customers_booking_without_a_cutoff(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    soon = TUESDAY_11 - dt.timedelta(minutes=5)
    _, after = await bookings.reschedule_booking(
        pool,
        booking.id,
        user_id=None,
        new_start=TUESDAY_11 + 3 * HOUR,
        now=soon,
        tz=MOSCOW,
        cutoff_minutes=120,
    )
    assert after.starts_at == TUESDAY_11 + 3 * HOUR


async def test_the_owner_cannot_move_a_visit_at_the_minute_it_starts(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.InThePast):
        await bookings.reschedule_booking(
            pool, booking.id, user_id=None, new_start=TUESDAY_11 + 3 * HOUR, now=TUESDAY_11, tz=MOSCOW,
            cutoff_minutes=0,
        )  # fmt: skip


async def test_a_customer_may_move_exactly_at_the_cutoff(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    _, after = await bookings.reschedule_booking(
        pool, booking.id, user_id=1, new_start=TUESDAY_11 + 3 * HOUR, now=TUESDAY_11 - 2 * HOUR, tz=MOSCOW,
        cutoff_minutes=120,
    )  # fmt: skip
    assert after.starts_at == TUESDAY_11 + 3 * HOUR


async def test_a_customer_cannot_move_someone_elses_booking(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.reschedule_booking(
            pool, booking.id, user_id=2, new_start=TUESDAY_11 + 3 * HOUR, now=NOW, tz=MOSCOW, cutoff_minutes=0
        )


async def test_a_cancelled_booking_cannot_be_moved(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    with pytest.raises(bookings.NotFound):
        await bookings.reschedule_booking(
            pool,
            booking.id,
            user_id=None,
            new_start=TUESDAY_11 + 3 * HOUR,
            now=NOW,
            tz=MOSCOW,
            cutoff_minutes=0,
        )


async def test_a_block_cannot_be_moved_as_a_booking(pool: asyncpg.Pool) -> None:
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=60)
    with pytest.raises(bookings.NotFound):
        await bookings.reschedule_booking(
            pool,
            block.id,
            user_id=None,
            new_start=TUESDAY_11 + 3 * HOUR,
            now=NOW,
            tz=MOSCOW,
            cutoff_minutes=0,
        )


async def test_a_moved_booking_keeps_its_buffer_after_it(pool: asyncpg.Pool) -> None:
    await catalog.update_service(pool, 1, buffer_minutes=30)
    booking = await _book(pool, 1, TUESDAY_11)
    new_start = TUESDAY_11 + 3 * HOUR
    await bookings.reschedule_booking(
        pool, booking.id, user_id=1, new_start=new_start, now=NOW, tz=MOSCOW, cutoff_minutes=0
    )
    cells = [start for _, start in await _cells(pool, booking.id)]
    assert cells[0] == new_start
    assert cells[-1] + slots.CELL == new_start + dt.timedelta(minutes=90)  # 60 minutes and a 30-minute buffer


async def test_a_moved_booking_stays_with_its_master(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    booking = await _book(pool, 1, TUESDAY_11, staff_id=anna.id)
    _, after = await bookings.reschedule_booking(
        pool, booking.id, user_id=1, new_start=TUESDAY_11 + 3 * HOUR, now=NOW, tz=MOSCOW, cutoff_minutes=0
    )
    assert after.staff_id == anna.id
    assert {s for s, _ in await _cells(pool, booking.id)} == {anna.id}


async def test_a_booking_from_before_staff_moves_onto_the_first_master(pool: asyncpg.Pool) -> None:
    """Bookings made before there were staff have no master: the first one (id 1) takes them."""
    booking = await _book(pool, 1, TUESDAY_11)
    await pool.execute("UPDATE bookings SET staff_id = NULL WHERE id = $1", booking.id)
    await bookings.reschedule_booking(
        pool, booking.id, user_id=1, new_start=TUESDAY_11 + 3 * HOUR, now=NOW, tz=MOSCOW, cutoff_minutes=0
    )
    assert {s for s, _ in await _cells(pool, booking.id)} == {1}


# ---- blocks ----------------------------------------------------------------------------------------


async def test_a_block_without_a_note_has_an_empty_note(pool: asyncpg.Pool) -> None:
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=60)
    assert await pool.fetchval("SELECT note FROM bookings WHERE id = $1", block.id) == ""


async def test_a_block_of_one_master_leaves_the_others_free(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=60, staff_id=anna.id)
    assert block.staff_id == anna.id
    assert {s for s, _ in await _cells(pool, block.id)} == {anna.id}
    assert (await _book(pool, 1, TUESDAY_11, staff_id=1)).staff_id == 1
    with pytest.raises(bookings.SlotTaken):
        await _book(pool, 2, TUESDAY_11, staff_id=anna.id)


async def test_a_block_for_everyone_closes_every_active_master(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11, minutes=30)
    assert {s for s, _ in await _cells(pool, block.id)} == {1, anna.id}


# ---- the owner's lists -----------------------------------------------------------------------------


async def test_the_day_list_leaves_out_cancelled_bookings(pool: asyncpg.Pool) -> None:
    kept = await _book(pool, 1, TUESDAY_11)
    gone = await _book(pool, 2, TUESDAY_11 + 3 * HOUR)
    await bookings.cancel_booking(pool, gone.id, by="admin", now=NOW)
    listed = await bookings.between(pool, TUESDAY_11 - HOUR, TUESDAY_11 + 5 * HOUR)
    assert [b.id for b in listed] == [kept.id]


async def test_the_day_list_is_in_time_order_and_ends_before_its_end(pool: asyncpg.Pool) -> None:
    late = await _book(pool, 1, TUESDAY_11 + 3 * HOUR)
    early = await _book(pool, 2, TUESDAY_11)
    await _book(pool, 3, TUESDAY_11 + 4 * HOUR)
    listed = await bookings.between(pool, TUESDAY_11, TUESDAY_11 + 4 * HOUR)
    assert [b.id for b in listed] == [early.id, late.id]


# ---- any master: who gets the customer -------------------------------------------------------------


async def test_any_master_goes_to_the_one_with_fewer_bookings_that_local_day(pool: asyncpg.Pool) -> None:
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11 + HOUR, staff_id=1)  # master 1 has one that day
    booking = await _book(pool, 2, TUESDAY_11)  # any master
    assert booking.staff_id == anna.id


async def test_any_master_counts_only_the_local_day(pool: asyncpg.Pool) -> None:
    """Master 1's bookings of the next day do not make him busier today."""
    anna = await staff.add_staff(pool, "Anna")
    await _book(pool, 1, TUESDAY_11, staff_id=anna.id)  # Anna has one today
    for hour in (0, 1, 3):  # master 1 has three tomorrow (11, 12 and 14 Moscow)
        await _book(pool, 2 + hour, TUESDAY_11 + dt.timedelta(days=1, hours=hour), staff_id=1)
    booking = await _book(pool, 9, TUESDAY_11 + 3 * HOUR)
    assert booking.staff_id == 1


# ---- the free-slot search --------------------------------------------------------------------------


async def test_the_next_free_slots_start_at_the_asked_time_itself(pool: asyncpg.Pool) -> None:
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, TUESDAY_11, performers, NOW, MOSCOW, limit=2)
    assert found == [TUESDAY_11, TUESDAY_11 + dt.timedelta(minutes=30)]  # the default 30-minute step


async def test_the_next_free_slots_default_to_six(pool: asyncpg.Pool) -> None:
    performers = await catalog.service_performers(pool, 1)
    assert len(await slots.next_free_slots(pool, TUESDAY_11, performers, NOW, MOSCOW)) == 6


async def test_the_next_free_slots_skip_booked_time(pool: asyncpg.Pool) -> None:
    await _book(pool, 1, TUESDAY_11)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, TUESDAY_11, performers, NOW, MOSCOW, limit=1)
    assert found == [TUESDAY_11 + HOUR]


async def test_the_next_free_slots_run_on_into_the_next_open_day(pool: asyncpg.Pool) -> None:
    """From Friday 18:00 (Moscow) with an hour's service: nothing fits that day; Saturday opens at 10."""
    friday_18 = dt.datetime(2030, 3, 8, 15, 0, tzinfo=dt.UTC)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, friday_18, performers, NOW, MOSCOW, limit=3)
    assert found[0] == friday_18
    assert found[1:] == [
        dt.datetime(2030, 3, 9, 7, 0, tzinfo=dt.UTC),
        dt.datetime(2030, 3, 9, 7, 30, tzinfo=dt.UTC),
    ]


async def test_the_next_free_slots_of_a_moved_booking_include_its_own_time(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(
        pool, TUESDAY_11, performers, NOW, MOSCOW, limit=1, ignore_booking=booking.id
    )
    assert found == [TUESDAY_11]


async def test_the_next_free_slots_stop_at_the_booking_horizon(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE settings SET horizon_days = 3")  # Monday to Wednesday
    performers = await catalog.service_performers(pool, 1)
    last_day = dt.date(2030, 3, 6)
    found = await slots.next_free_slots(pool, NOW, performers, NOW, MOSCOW, limit=10_000)
    assert max(s.astimezone(MOSCOW).date() for s in found) == last_day
    beyond = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(10), tzinfo=MOSCOW)
    assert await slots.next_free_slots(pool, beyond, performers, NOW, MOSCOW) == []


async def test_the_calendar_marks_a_fully_booked_day_full(pool: asyncpg.Pool) -> None:
    """Wednesday booked from opening to closing (10-13, 14-19) for the only master: full."""
    wednesday = dt.date(2030, 3, 6)
    start = dt.datetime(2030, 3, 6, 7, 0, tzinfo=dt.UTC)
    for i, hour in enumerate((0, 1, 2, 4, 5, 6, 7, 8)):
        await _book(pool, i + 1, start + dt.timedelta(hours=hour))
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(pool, dt.date(2030, 3, 5), 3, performers, NOW, MOSCOW)
    assert states == {
        dt.date(2030, 3, 5): slots.DayState.FREE,
        wednesday: slots.DayState.FULL,
        dt.date(2030, 3, 7): slots.DayState.FREE,
    }


async def test_the_calendar_of_a_moved_booking_counts_its_own_time_free(pool: asyncpg.Pool) -> None:
    start = dt.datetime(2030, 3, 6, 7, 0, tzinfo=dt.UTC)
    booked = [
        await _book(pool, i + 1, start + dt.timedelta(hours=h))
        for i, h in enumerate((0, 1, 2, 4, 5, 6, 7, 8))
    ]
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(
        pool, dt.date(2030, 3, 6), 1, performers, NOW, MOSCOW, ignore_booking=booked[0].id
    )
    assert states == {dt.date(2030, 3, 6): slots.DayState.FREE}


async def _night_visit(pool: asyncpg.Pool, staff_id: int, at: dt.datetime) -> None:
    """A confirmed visit outside opening hours (the owner's doing), written as the bot stores one."""
    booking_id = await pool.fetchval(
        "INSERT INTO bookings (kind, user_id, service_id, staff_id, starts_at, ends_at)"
        " VALUES ('customer', 1, 1, $1, $2::timestamptz, $2::timestamptz + interval '1 hour') RETURNING id",
        staff_id,
        at,
    )
    assert booking_id is not None


async def test_any_master_counts_the_local_day_from_local_midnight(pool: asyncpg.Pool) -> None:
    """Tuesday in Moscow runs from Monday 21:00 to Tuesday 21:00 UTC, not from UTC midnight."""
    anna = await staff.add_staff(pool, "Anna")
    await _night_visit(pool, 1, dt.datetime(2030, 3, 4, 22, 0, tzinfo=dt.UTC))  # Tue 01:00 Moscow
    await _night_visit(pool, anna.id, dt.datetime(2030, 3, 5, 22, 0, tzinfo=dt.UTC))  # Wed 01:00 Moscow
    booking = await _book(pool, 9, TUESDAY_11)
    assert booking.staff_id == anna.id


async def test_the_next_free_slots_of_the_last_horizon_day_are_offered(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE settings SET horizon_days = 2")  # Monday and Tuesday
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, TUESDAY_11, performers, NOW, MOSCOW, limit=1)
    assert found == [TUESDAY_11]


async def test_the_horizon_counts_from_the_tenants_today(pool: asyncpg.Pool) -> None:
    """At Monday 22:00 UTC it is already Tuesday in Moscow: a 2-day horizon ends on Wednesday."""
    await pool.execute("UPDATE settings SET horizon_days = 2")
    late_monday = dt.datetime(2030, 3, 4, 22, 0, tzinfo=dt.UTC)
    wednesday_11 = TUESDAY_11 + dt.timedelta(days=1)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, wednesday_11, performers, late_monday, MOSCOW, limit=1)
    assert found == [wednesday_11]
