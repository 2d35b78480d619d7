"""The tenant's zone, not the machine's, decides which day a slot belongs to (bookings.py and
the slot queries of slots.py), against real PostgreSQL.

The machine runs in UTC and Moscow is close to it: there the local and the UTC date differ only
at night, when nothing is open. Two tenants where they differ in opening hours:
- Kamchatka (UTC+12, one of the zones the sales bot offers): the morning, 10:00-12:00 local, is
  still the previous day in UTC;
- Los Angeles (UTC-8 in early March 2030): from 16:00 local it is already tomorrow in UTC.
The default week is Mon-Fri 10-19 with lunch 13-14 (local), Saturday 10-16, Sunday closed.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings, catalog, schedule, slots, staff
from booking_bot.catalog import get_service

KAMCHATKA = zoneinfo.ZoneInfo("Asia/Kamchatka")
LOS_ANGELES = zoneinfo.ZoneInfo("America/Los_Angeles")
MONDAY = dt.date(2030, 3, 4)
TUESDAY = MONDAY + dt.timedelta(days=1)


def kamchatka(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=KAMCHATKA).astimezone(dt.UTC)


def los_angeles(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=LOS_ANGELES).astimezone(dt.UTC)


KAMCHATKA_MONDAY_8 = kamchatka(MONDAY, 8)  # Sunday 20:00 UTC
LA_MONDAY_17 = los_angeles(MONDAY, 17)  # Tuesday 01:00 UTC


@pytest.fixture()
async def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    """No minimum notice: the clock can stand right before the hours a test looks at."""
    await schedule.update_setting(users_pool, "min_notice_minutes", 0)
    return users_pool


async def _book(
    pool: asyncpg.Pool,
    user: int,
    at: dt.datetime,
    now: dt.datetime,
    tz: zoneinfo.ZoneInfo,
    staff_id: int | None = None,
) -> bookings.Booking:
    service = await get_service(pool, 1)  # Haircut, 60 minutes
    assert service is not None
    return await bookings.create_booking(
        pool, user_id=user, service=service, starts_at=at, now=now, tz=tz, staff_id=staff_id
    )


async def _visit(pool: asyncpg.Pool, staff_id: int, at: dt.datetime) -> None:
    """A confirmed hour's visit written as the bot stores one (also where booking is not offered)."""
    booking_id = await pool.fetchval(
        "INSERT INTO bookings (kind, user_id, service_id, staff_id, starts_at, ends_at)"
        " VALUES ('customer', 1, 1, $1, $2::timestamptz, $2::timestamptz + interval '1 hour') RETURNING id",
        staff_id,
        at,
    )
    assert booking_id is not None


def test_the_two_tenants_see_another_date_than_utc_in_opening_hours() -> None:
    """The premise of every test below (if a zone database changed it, they would prove nothing)."""
    assert kamchatka(MONDAY, 11).date() == MONDAY - dt.timedelta(days=1)
    assert LA_MONDAY_17.date() == TUESDAY


# ---- booking -----------------------------------------------------------------------------------------


async def test_a_kamchatka_morning_is_booked_on_the_tenants_today_with_a_one_day_horizon(
    pool: asyncpg.Pool,
) -> None:
    await schedule.update_setting(pool, "horizon_days", 1)
    booking = await _book(pool, 1, kamchatka(MONDAY, 11), KAMCHATKA_MONDAY_8, KAMCHATKA)
    assert booking.starts_at == kamchatka(MONDAY, 11)
    assert booking.starts_at.astimezone(KAMCHATKA).date() == MONDAY


async def test_a_los_angeles_evening_is_booked_on_the_tenants_today_with_a_one_day_horizon(
    pool: asyncpg.Pool,
) -> None:
    await schedule.update_setting(pool, "horizon_days", 1)
    booking = await _book(pool, 1, los_angeles(MONDAY, 18), LA_MONDAY_17, LOS_ANGELES)
    assert booking.starts_at == los_angeles(MONDAY, 18)


async def test_any_master_in_kamchatka_counts_the_local_day_not_the_utc_one(pool: asyncpg.Pool) -> None:
    """Anna's visits fall on the local Sunday and Tuesday (one of them on Monday in UTC), master 1's
    on the local Monday morning (Sunday in UTC): on the local Monday Anna has none, so she gets
    the "any master" customer of 11:00 (Sunday 23:00 in UTC)."""
    anna = await staff.add_staff(pool, "Anna")
    await _visit(pool, anna.id, kamchatka(MONDAY - dt.timedelta(days=1), 14))  # Sunday local and UTC
    await _visit(pool, anna.id, kamchatka(TUESDAY, 1))  # Tuesday local, Monday 13:00 UTC
    await _visit(pool, 1, kamchatka(MONDAY, 10))  # Monday local, Sunday 22:00 UTC
    booking = await _book(pool, 9, kamchatka(MONDAY, 11), KAMCHATKA_MONDAY_8, KAMCHATKA)
    assert booking.staff_id == anna.id


async def test_the_end_of_a_kamchatka_mornings_short_visit_may_be_booked(pool: asyncpg.Pool) -> None:
    """A 20-minute manicure at 10:00 ends at 10:20, off the 30-minute step: that end is a start
    (where one visit ends the next may begin), also where it lies on the previous UTC day."""
    await catalog.update_service(pool, 2, duration_minutes=20)
    manicure = await get_service(pool, 2)
    assert manicure is not None
    await bookings.create_booking(
        pool,
        user_id=1,
        service=manicure,
        starts_at=kamchatka(MONDAY, 10),
        now=KAMCHATKA_MONDAY_8,
        tz=KAMCHATKA,
    )
    booking = await _book(pool, 2, kamchatka(MONDAY, 10, 20), KAMCHATKA_MONDAY_8, KAMCHATKA)
    assert booking.starts_at == kamchatka(MONDAY, 10, 20)


# ---- the slots of a day ------------------------------------------------------------------------------


async def test_a_kamchatka_mornings_booked_hour_is_not_offered(pool: asyncpg.Pool) -> None:
    """The 10:00 visit's cells lie on Sunday in UTC: they still belong to the local Monday."""
    await _book(pool, 1, kamchatka(MONDAY, 10), KAMCHATKA_MONDAY_8, KAMCHATKA)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.slots_for_day(pool, MONDAY, performers, KAMCHATKA_MONDAY_8, KAMCHATKA)
    assert found[:3] == [kamchatka(MONDAY, 11), kamchatka(MONDAY, 11, 30), kamchatka(MONDAY, 12)]


async def test_the_evening_of_the_tenants_today_in_los_angeles_is_offered(pool: asyncpg.Pool) -> None:
    performers = await catalog.service_performers(pool, 1)
    found = await slots.slots_for_day(pool, MONDAY, performers, LA_MONDAY_17, LOS_ANGELES)
    assert found == [los_angeles(MONDAY, 17), los_angeles(MONDAY, 17, 30), los_angeles(MONDAY, 18)]


async def test_a_day_off_today_in_los_angeles_offers_no_evening(pool: asyncpg.Pool) -> None:
    await schedule.add_day_off(pool, MONDAY)
    performers = await catalog.service_performers(pool, 1)
    assert await slots.slots_for_day(pool, MONDAY, performers, LA_MONDAY_17, LOS_ANGELES) == []


# ---- the next free slots -----------------------------------------------------------------------------


async def test_the_next_free_slots_in_kamchatka_skip_the_booked_morning(pool: asyncpg.Pool) -> None:
    await _book(pool, 1, kamchatka(MONDAY, 10), KAMCHATKA_MONDAY_8, KAMCHATKA)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(
        pool, KAMCHATKA_MONDAY_8, performers, KAMCHATKA_MONDAY_8, KAMCHATKA, limit=2
    )
    assert found == [kamchatka(MONDAY, 11), kamchatka(MONDAY, 11, 30)]


async def test_the_next_free_slots_of_a_one_day_horizon_are_the_los_angeles_evening(
    pool: asyncpg.Pool,
) -> None:
    await schedule.update_setting(pool, "horizon_days", 1)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, LA_MONDAY_17, performers, LA_MONDAY_17, LOS_ANGELES)
    assert found == [los_angeles(MONDAY, 17), los_angeles(MONDAY, 17, 30), los_angeles(MONDAY, 18)]


async def test_after_a_day_off_today_in_los_angeles_the_next_slot_is_tomorrow_morning(
    pool: asyncpg.Pool,
) -> None:
    await schedule.add_day_off(pool, MONDAY)
    performers = await catalog.service_performers(pool, 1)
    found = await slots.next_free_slots(pool, LA_MONDAY_17, performers, LA_MONDAY_17, LOS_ANGELES, limit=1)
    assert found == [los_angeles(TUESDAY, 10)]


# ---- the calendar ------------------------------------------------------------------------------------


async def test_the_calendar_in_los_angeles_has_today_free_in_the_evening(pool: asyncpg.Pool) -> None:
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(pool, MONDAY, 2, performers, LA_MONDAY_17, LOS_ANGELES)
    assert states == {MONDAY: slots.DayState.FREE, TUESDAY: slots.DayState.FREE}


async def test_the_calendar_in_los_angeles_shows_a_day_off_today_closed(pool: asyncpg.Pool) -> None:
    await schedule.add_day_off(pool, MONDAY)
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(pool, MONDAY, 1, performers, LA_MONDAY_17, LOS_ANGELES)
    assert states == {MONDAY: slots.DayState.CLOSED}


async def test_the_calendar_in_kamchatka_counts_blocked_mornings_as_full(pool: asyncpg.Pool) -> None:
    """Monday and Wednesday closed by the owner from opening to closing (10-19 local, which starts
    on the previous day in UTC), Tuesday untouched: the first and the last day of the range count."""
    wednesday = TUESDAY + dt.timedelta(days=1)
    for day in (MONDAY, wednesday):
        await bookings.block_slot(pool, starts_at=kamchatka(day, 10), minutes=9 * 60)
    performers = await catalog.service_performers(pool, 1)
    states = await slots.calendar_states(pool, MONDAY, 3, performers, KAMCHATKA_MONDAY_8, KAMCHATKA)
    assert states == {
        MONDAY: slots.DayState.FULL,
        TUESDAY: slots.DayState.FREE,
        wednesday: slots.DayState.FULL,
    }
