"""One master's own calendar changed over bookings already made: the same warning as for the
whole business (cancel them and tell the customers, or keep them), touching only that master's
bookings; and the master's own breaks and days off on a screen of their own."""

from __future__ import annotations

import datetime as dt

import pytest

from harness.telegram import SentMessage

from .conftest import OWNER, RunningBot

ANN, BOB = 1001, 1002


async def _anna_with_bookings(bot: RunningBot) -> int:
    """Anna (a second master) and two bookings on Tuesday 5 March at 11:00: Ann's with Anna,
    Bob's with the first master."""
    masters = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Masters")
    await bot.press(OWNER, masters, "Add a master")
    assert "added" in (await bot.say(OWNER, "Anna")).text
    for user, master in ((ANN, "Anna"), (BOB, "Master")):
        step = await bot.press(user, await bot.press(user, await bot.say(user, "/start"), "Book"), "Haircut")
        calendar = await bot.press(user, step, master, exact=True)
        confirm = await bot.press(user, await bot.press(user, calendar, "5", exact=True), "11:00", exact=True)
        await bot.book(user, confirm)
        assert f"Customer{user}" in (await bot.next(OWNER)).text
    anna: int = await bot.pool.fetchval("SELECT id FROM staff WHERE name = 'Anna'")
    return anna


async def _anna(bot: RunningBot) -> SentMessage:
    masters = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Masters")
    return await bot.press(OWNER, masters, "Anna")


async def _off_screen(bot: RunningBot) -> SentMessage:
    return await bot.press(OWNER, await _anna(bot), "Breaks and days off")


async def _statuses(bot: RunningBot) -> list[tuple[int, str]]:
    rows = await bot.pool.fetch("SELECT user_id, status FROM bookings ORDER BY user_id")
    return [(r["user_id"], r["status"]) for r in rows]


async def _cancelled_and_told(bot: RunningBot, warning: SentMessage) -> None:
    assert "1 booking" in warning.text and "11:00" in warning.text and "Customer1001" in warning.text
    assert "Customer1002" not in warning.text  # the other master's booking is not in the way
    done = await bot.press(OWNER, warning, "cancel them")
    assert "Cancelled 1" in done.text
    assert "had to cancel your booking" in (await bot.next(ANN)).text
    with pytest.raises(TimeoutError):
        await bot.next(BOB, timeout=0.3)
    assert await _statuses(bot) == [(ANN, "cancelled"), (BOB, "confirmed")]
    unsent = await bot.pool.fetchval(
        "SELECT count(*) FROM reminders r JOIN bookings b ON b.id = r.booking_id"
        " WHERE b.user_id = $1 AND r.claimed_at IS NULL",
        ANN,
    )
    assert unsent == 0  # no reminder goes out for the cancelled booking


async def test_a_masters_day_off_over_her_booking_warns_and_cancels_only_hers(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    await bot.press(OWNER, await _off_screen(bot), "Add days off")
    warning = await bot.say(OWNER, "05.03.2030")
    assert await bot.pool.fetchval("SELECT count(*) FROM staff_days_off") == 0  # nothing yet
    await _cancelled_and_told(bot, warning)
    days = await bot.pool.fetch("SELECT staff_id, day FROM staff_days_off")
    assert [(r["staff_id"], r["day"]) for r in days] == [(anna, dt.date(2030, 3, 5))]


async def test_a_masters_break_over_her_booking_warns_and_shows_on_her_screen(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    pick = await bot.press(OWNER, await _off_screen(bot), "Add a break")
    await bot.press(OWNER, pick, "Tuesday")
    await _cancelled_and_told(bot, await bot.say(OWNER, "11:30-12:00"))
    screen = await _off_screen(bot)
    assert "❌ Tu 11:30–12:00" in [t for t, _ in screen.buttons]
    own = await bot.pool.fetchval("SELECT own_hours FROM staff WHERE id = $1", anna)
    assert own  # her own week now, started from the business's (lunch included)
    business = await bot.pool.fetchval("SELECT count(*) FROM breaks")
    assert business == 5  # the business's lunches, untouched
    assert await bot.pool.fetchval("SELECT count(*) FROM staff_breaks WHERE staff_id = $1", anna) == 6


async def test_a_masters_own_hours_over_her_booking_warn_and_can_keep_it(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    week = await bot.press(OWNER, await _anna(bot), "Working hours")
    await bot.press(OWNER, week, "Tuesday")
    warning = await bot.say(OWNER, "14:00-19:00")
    assert "1 booking" in warning.text and "Customer1002" not in warning.text
    assert await bot.pool.fetchval("SELECT count(*) FROM staff_hours") == 0  # nothing changed yet
    assert "Saved" in (await bot.press(OWNER, warning, "keep them")).text
    assert await _statuses(bot) == [(ANN, "confirmed"), (BOB, "confirmed")]
    with pytest.raises(TimeoutError):
        await bot.next(ANN, timeout=0.3)
    hours = await bot.pool.fetch("SELECT opens_at FROM staff_hours WHERE staff_id = $1 AND weekday = 2", anna)
    assert [r["opens_at"] for r in hours] == [dt.time(14, 0)]


async def test_a_masters_day_exception_over_her_booking_warns_first(bot: RunningBot) -> None:
    await _anna_with_bookings(bot)
    await bot.press(OWNER, await _anna(bot), "One day")
    await _cancelled_and_told(bot, await bot.say(OWNER, "2030-03-05 14:00-18:00"))


async def test_hiding_a_master_with_bookings_warns_first(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    warning = await bot.press(OWNER, await _anna(bot), "Hide")
    assert await bot.pool.fetchval("SELECT is_active FROM staff WHERE id = $1", anna)  # not yet
    await _cancelled_and_told(bot, warning)
    assert not await bot.pool.fetchval("SELECT is_active FROM staff WHERE id = $1", anna)


async def test_a_masters_change_without_bookings_in_the_way_applies_at_once(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    await bot.press(OWNER, await _off_screen(bot), "Add days off")
    assert "Saved" in (await bot.say(OWNER, "06.03.2030 - 08.03.2030")).text
    assert await bot.pool.fetchval("SELECT count(*) FROM staff_days_off WHERE staff_id = $1", anna) == 3
    assert await _statuses(bot) == [(ANN, "confirmed"), (BOB, "confirmed")]


async def test_a_masters_days_off_screen_pages_a_long_list_and_deletes(bot: RunningBot) -> None:
    anna = await _anna_with_bookings(bot)
    first = dt.date(2030, 3, 10)
    await bot.pool.executemany(
        "INSERT INTO staff_days_off (staff_id, day) VALUES ($1, $2)",
        [(anna, first + dt.timedelta(days=i)) for i in range(98)],
    )
    screen = await _off_screen(bot)
    assert len(screen.buttons) <= 100 and "Page 1 of 4" in screen.text
    assert "❌ Su 10 Mar" in [t for t, _ in screen.buttons]
    last = screen
    for _ in range(3):
        last = await bot.press(OWNER, last, "›", exact=True)
    assert "Page 4 of 4" in last.text and "❌ Sa 15 Jun" in [t for t, _ in last.buttons]
    assert "›" not in [t for t, _ in last.buttons]
    after = await bot.press(OWNER, screen, "❌ Su 10 Mar", exact=True)
    assert "❌ Su 10 Mar" not in [t for t, _ in after.buttons]
    assert await bot.pool.fetchval("SELECT count(*) FROM staff_days_off") == 97


async def test_back_to_the_business_hours_warns_about_a_booking_in_the_business_lunch(
    bot: RunningBot,
) -> None:
    from booking_bot import staff

    anna = await _anna_with_bookings(bot)  # Ann with Anna at 11:00 fits the business's Tuesday
    intervals = staff.parse_intervals("10:00-19:00")
    assert intervals is not None
    await staff.set_weekday_hours(bot.pool, anna, 2, intervals)
    await bot.pool.execute("DELETE FROM staff_breaks WHERE staff_id = $1 AND weekday = 2", anna)  # no lunch
    step = await bot.press(1003, await bot.press(1003, await bot.say(1003, "/start"), "Book"), "Haircut")
    calendar = await bot.press(1003, step, "Anna", exact=True)
    confirm = await bot.press(1003, await bot.press(1003, calendar, "5", exact=True), "13:00", exact=True)
    await bot.book(1003, confirm)
    assert "Customer1003" in (await bot.next(OWNER)).text
    week = await bot.press(OWNER, await _anna(bot), "Working hours")
    warning = await bot.press(OWNER, week, "Back to the business's hours")
    assert "1 booking" in warning.text and "13:00" in warning.text and "Customer1001" not in warning.text
    assert await bot.pool.fetchval("SELECT own_hours FROM staff WHERE id = $1", anna)  # not yet
    await bot.press(OWNER, warning, "cancel them")
    assert "had to cancel your booking" in (await bot.next(1003)).text
    assert not await bot.pool.fetchval("SELECT own_hours FROM staff WHERE id = $1", anna)
    assert await _statuses(bot) == [(ANN, "confirmed"), (BOB, "confirmed"), (1003, "cancelled")]
