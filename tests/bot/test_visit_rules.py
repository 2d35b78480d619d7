"""After the booking (bookings.py), against real PostgreSQL: the outcome of a visit, the customer's
"I'm coming", the lists a customer and the reminder worker read, and the owner's held notices.

The chat-flow tests reach these through the handlers; these tests state each rule's edges."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import asyncpg
import pytest

from booking_bot import bookings
from booking_bot.catalog import get_service

from .conftest import NOW

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
TUESDAY_11 = dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow
HOUR = dt.timedelta(hours=1)
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture()
def pool(users_pool: asyncpg.Pool) -> asyncpg.Pool:
    return users_pool


async def _book(pool: asyncpg.Pool, user: int, at: dt.datetime, service_id: int = 1) -> bookings.Booking:
    service = await get_service(pool, service_id)
    assert service is not None
    return await bookings.create_booking(
        pool, user_id=user, service=service, starts_at=at, now=NOW, tz=MOSCOW, by_owner=True
    )


async def _status(pool: asyncpg.Pool, booking_id: int) -> str:
    status: str = await pool.fetchval("SELECT status FROM bookings WHERE id = $1", booking_id)
    return status


# ---- the outcome of a visit --------------------------------------------------------------------------


async def test_a_visit_is_marked_done_from_the_minute_it_starts(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    done = await bookings.record_outcome(pool, booking.id, "done", TUESDAY_11)
    assert (done.id, done.status) == (booking.id, "done")
    row = await pool.fetchrow("SELECT status, outcome_at, updated_at FROM bookings WHERE id = $1", booking.id)
    assert dict(row) == {"status": "done", "outcome_at": TUESDAY_11, "updated_at": TUESDAY_11}


async def test_a_visit_that_has_not_begun_gets_no_outcome(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.record_outcome(pool, booking.id, "no_show", TUESDAY_11 - MINUTE)
    assert await _status(pool, booking.id) == "confirmed"


async def test_the_owner_may_correct_an_outcome_either_way(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    later = TUESDAY_11 + 2 * HOUR
    await bookings.record_outcome(pool, booking.id, "done", TUESDAY_11 + HOUR)
    assert (await bookings.record_outcome(pool, booking.id, "no_show", later)).status == "no_show"
    assert (await bookings.record_outcome(pool, booking.id, "done", later)).status == "done"


async def test_a_cancelled_booking_or_a_block_gets_no_outcome(pool: asyncpg.Pool) -> None:
    cancelled = await _book(pool, 1, TUESDAY_11)
    await bookings.cancel_booking(pool, cancelled.id, by="admin", now=NOW)
    block = await bookings.block_slot(pool, starts_at=TUESDAY_11 + 3 * HOUR, minutes=60)
    for booking_id in (cancelled.id, block.id):
        with pytest.raises(bookings.NotFound):
            await bookings.record_outcome(pool, booking_id, "done", TUESDAY_11 + 5 * HOUR)
    assert [await _status(pool, cancelled.id), await _status(pool, block.id)] == ["cancelled", "confirmed"]


async def test_an_unknown_outcome_is_refused_and_changes_nothing(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(ValueError, match="unknown outcome 'cancelled'"):
        await bookings.record_outcome(pool, booking.id, "cancelled", TUESDAY_11 + HOUR)
    assert await _status(pool, booking.id) == "confirmed"


async def test_an_outcome_changes_only_its_own_visit(pool: asyncpg.Pool) -> None:
    marked = await _book(pool, 1, TUESDAY_11)
    other = await _book(pool, 2, TUESDAY_11 + HOUR)
    await bookings.record_outcome(pool, marked.id, "no_show", TUESDAY_11 + 3 * HOUR)
    assert await _status(pool, other.id) == "confirmed"


# ---- "I'm coming" ------------------------------------------------------------------------------------


async def test_i_am_coming_records_the_first_tap_only(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    first = await bookings.customer_confirms(pool, booking.id, 1, NOW)
    again = await bookings.customer_confirms(pool, booking.id, 1, NOW + HOUR)
    assert (first.customer_confirmed_at, again.customer_confirmed_at) == (NOW, NOW)


async def test_i_am_coming_under_someone_elses_booking_is_refused(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.customer_confirms(pool, booking.id, 2, NOW)
    assert await pool.fetchval("SELECT customer_confirmed_at FROM bookings WHERE id = $1", booking.id) is None


async def test_i_am_coming_after_the_start_or_a_cancellation_is_refused(pool: asyncpg.Pool) -> None:
    begun = await _book(pool, 1, TUESDAY_11)
    cancelled = await _book(pool, 2, TUESDAY_11 + HOUR)
    await bookings.cancel_booking(pool, cancelled.id, by="customer", user_id=2, now=NOW)
    with pytest.raises(bookings.NotFound):
        await bookings.customer_confirms(pool, begun.id, 1, TUESDAY_11)
    with pytest.raises(bookings.NotFound):
        await bookings.customer_confirms(pool, cancelled.id, 2, NOW)


# ---- what a customer holds ---------------------------------------------------------------------------


async def test_own_booking_at_finds_the_customers_booking_of_that_service_and_start(
    pool: asyncpg.Pool,
) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    found = await bookings.own_booking_at(pool, 1, 1, TUESDAY_11)
    assert found is not None
    assert (found.id, found.user_id, found.service_id, found.starts_at) == (booking.id, 1, 1, TUESDAY_11)


async def test_own_booking_at_is_none_for_another_customer_service_start_or_a_cancelled_one(
    pool: asyncpg.Pool,
) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    assert await bookings.own_booking_at(pool, 2, 1, TUESDAY_11) is None
    assert await bookings.own_booking_at(pool, 1, 2, TUESDAY_11) is None
    assert await bookings.own_booking_at(pool, 1, 1, TUESDAY_11 + HOUR) is None
    await bookings.cancel_booking(pool, booking.id, by="admin", now=NOW)
    assert await bookings.own_booking_at(pool, 1, 1, TUESDAY_11) is None


async def test_my_bookings_lists_the_customers_confirmed_ones_not_ended_in_time_order(
    pool: asyncpg.Pool,
) -> None:
    later = await _book(pool, 1, TUESDAY_11 + 3 * HOUR)
    earlier = await _book(pool, 1, TUESDAY_11)
    cancelled = await _book(pool, 1, TUESDAY_11 + 5 * HOUR)
    await bookings.cancel_booking(pool, cancelled.id, by="admin", now=NOW)
    await _book(pool, 2, TUESDAY_11 + HOUR)  # another customer's
    listed = await bookings.upcoming_for_user(pool, 1, TUESDAY_11 + 30 * MINUTE)  # the first has begun
    assert [b.id for b in listed] == [earlier.id, later.id]
    ended = await bookings.upcoming_for_user(pool, 1, TUESDAY_11 + HOUR)  # the first ends right then
    assert [b.id for b in ended] == [later.id]


async def test_my_bookings_shows_ten_unless_told_otherwise(pool: asyncpg.Pool) -> None:
    starts = [TUESDAY_11 + dt.timedelta(days=d, hours=h) for d in range(3) for h in (0, 1, 3, 4)]
    for at in starts:  # twelve, booked by the owner (no per-customer limit)
        await _book(pool, 1, at)
    listed = await bookings.upcoming_for_user(pool, 1, NOW)
    assert [b.starts_at for b in listed] == starts[:10]
    assert len(await bookings.upcoming_for_user(pool, 1, NOW, limit=3)) == 3


async def test_the_reminder_worker_sees_customer_visits_that_have_not_started(pool: asyncpg.Pool) -> None:
    second = await _book(pool, 2, TUESDAY_11 + HOUR)
    first = await _book(pool, 1, TUESDAY_11)
    cancelled = await _book(pool, 3, TUESDAY_11 + 3 * HOUR)
    await bookings.cancel_booking(pool, cancelled.id, by="admin", now=NOW)
    await bookings.block_slot(pool, starts_at=TUESDAY_11 + 4 * HOUR, minutes=60)
    upcoming = await bookings.upcoming_customer_bookings(pool, NOW)
    assert [b.id for b in upcoming] == [first.id, second.id]
    at_first_start = await bookings.upcoming_customer_bookings(pool, TUESDAY_11)
    assert [b.id for b in at_first_start] == [second.id]


# ---- the owner's held notices ------------------------------------------------------------------------


async def test_a_held_notice_is_released_once(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    await bookings.hold_notice(pool, booking.id, NOW)
    assert [b.id for b in await bookings.release_notices(pool, user_id=1)] == [booking.id]
    assert await bookings.release_notices(pool, user_id=1) == []
    assert await bookings.release_notices(pool) == []


async def test_a_customers_answer_releases_only_their_own_notices(pool: asyncpg.Pool) -> None:
    mine = await _book(pool, 1, TUESDAY_11)
    theirs = await _book(pool, 2, TUESDAY_11 + HOUR)
    for booking in (mine, theirs):
        await bookings.hold_notice(pool, booking.id, NOW)
    assert [b.id for b in await bookings.release_notices(pool, user_id=1)] == [mine.id]
    assert [b.id for b in await bookings.release_notices(pool)] == [theirs.id]


async def test_the_timeout_releases_only_notices_held_long_enough(pool: asyncpg.Pool) -> None:
    old = await _book(pool, 1, TUESDAY_11)
    new = await _book(pool, 2, TUESDAY_11 + HOUR)
    await bookings.hold_notice(pool, old.id, NOW)
    await bookings.hold_notice(pool, new.id, NOW + 10 * MINUTE)
    released = await bookings.release_notices(pool, held_before=NOW + 5 * MINUTE)
    assert [b.id for b in released] == [old.id]
    assert (
        await pool.fetchval("SELECT notice_held_at FROM bookings WHERE id = $1", new.id) == NOW + 10 * MINUTE
    )


async def test_a_held_notice_of_a_cancelled_booking_is_dropped_not_sent(pool: asyncpg.Pool) -> None:
    booking = await _book(pool, 1, TUESDAY_11)
    await bookings.hold_notice(pool, booking.id, NOW)
    await bookings.cancel_booking(pool, booking.id, by="customer", user_id=1, now=NOW)
    assert await bookings.release_notices(pool, user_id=1) == []
    assert await pool.fetchval("SELECT notice_held_at FROM bookings WHERE id = $1", booking.id) is None
