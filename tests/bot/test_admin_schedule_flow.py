"""The owner changes the schedule from Telegram: days off, breaks and hours, and what that does
to bookings already made."""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import OWNER, RunningBot

ANN, BOB = 1001, 1002


async def _book(bot: RunningBot, user: int, day: str, time: str) -> None:
    menu = await bot.say(user, "/start")
    calendar = await bot.press(user, await bot.press(user, menu, "Book"), "Haircut")
    confirm = await bot.press(user, await bot.press(user, calendar, day, exact=True), time, exact=True)
    await bot.book(user, confirm)
    assert "Новая запись" in (await bot.next(OWNER)).text


async def test_the_days_off_screen_pages_a_long_list(bot: RunningBot) -> None:
    first = dt.date(2030, 3, 10)
    await bot.pool.executemany(
        "INSERT INTO days_off (day) VALUES ($1)", [(first + dt.timedelta(days=i),) for i in range(98)]
    )
    screen = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Days off")
    assert len(screen.buttons) <= 100
    assert "Su 10 Mar" in " ".join(t for t, _ in screen.buttons)
    later = await bot.press(OWNER, screen, "›", exact=True)
    labels = " ".join(t for t, _ in later.buttons)
    assert "Su 10 Mar" not in labels and "❌" in labels
    pages = 1
    while "›" in [t for t, _ in later.buttons]:
        later = await bot.press(OWNER, later, "›", exact=True)
        pages += 1
    assert pages >= 2
    assert "Sa 15 Jun" in " ".join(t for t, _ in later.buttons)  # the 98th day, on the last page


async def test_a_day_off_over_bookings_warns_and_cancels_them_telling_the_customers(bot: RunningBot) -> None:
    await _book(bot, ANN, "5", "11:00")
    await _book(bot, BOB, "5", "15:00")
    days_off = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Days off")
    await bot.press(OWNER, days_off, "Add days off")
    warning = await bot.say(OWNER, "05.03.2030")
    assert "2 bookings" in warning.text and "11:00" in warning.text and "15:00" in warning.text
    assert await bot.pool.fetchval("SELECT count(*) FROM days_off") == 0  # nothing closed yet
    done = await bot.press(OWNER, warning, "cancel them")
    assert "Saved" in done.text
    assert "had to cancel your booking" in (await bot.next(ANN)).text
    assert "had to cancel your booking" in (await bot.next(BOB)).text
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM reminders WHERE claimed_at IS NULL") == 0
    assert await bot.pool.fetchval("SELECT count(*) FROM days_off") == 1


async def test_a_day_off_over_bookings_can_keep_them(bot: RunningBot) -> None:
    await _book(bot, ANN, "5", "11:00")
    days_off = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Days off")
    await bot.press(OWNER, days_off, "Add days off")
    warning = await bot.say(OWNER, "05.03.2030")
    done = await bot.press(OWNER, warning, "keep them")
    assert "Saved" in done.text
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE status = 'confirmed'") == 1
    assert await bot.pool.fetchval("SELECT count(*) FROM days_off") == 1
    with pytest.raises(TimeoutError):
        await bot.next(ANN, timeout=0.3)


async def test_a_break_over_a_booking_warns_and_cancels_it(bot: RunningBot) -> None:
    await _book(bot, ANN, "5", "11:00")  # Tuesday
    await _book(bot, BOB, "6", "11:00")  # Wednesday: another weekday, untouched
    breaks = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Breaks")
    pick = await bot.press(OWNER, await bot.press(OWNER, breaks, "Add a break"), "Tuesday")
    assert pick.text
    warning = await bot.say(OWNER, "11:30-12:00")
    assert "1 booking" in warning.text and "11:00" in warning.text
    await bot.press(OWNER, warning, "cancel them")
    assert "had to cancel your booking" in (await bot.next(ANN)).text
    statuses = await bot.pool.fetch("SELECT user_id, status FROM bookings ORDER BY user_id")
    assert [(r["user_id"], r["status"]) for r in statuses] == [(ANN, "cancelled"), (BOB, "confirmed")]
    assert await bot.pool.fetchval("SELECT count(*) FROM breaks WHERE weekday = 2") == 2


async def test_closing_a_weekday_over_a_booking_warns_first(bot: RunningBot) -> None:
    await _book(bot, ANN, "5", "11:00")
    hours = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Working hours")
    await bot.press(OWNER, hours, "Tuesday")
    warning = await bot.say(OWNER, "off")
    assert "1 booking" in warning.text
    await bot.press(OWNER, warning, "cancel them")
    assert "had to cancel your booking" in (await bot.next(ANN)).text
    assert await bot.pool.fetchval("SELECT count(*) FROM working_hours WHERE weekday = 2") == 0


async def test_a_business_break_does_not_warn_about_a_master_with_own_hours(bot: RunningBot) -> None:
    from booking_bot import staff

    anna = await staff.add_staff(bot.pool, "Anna")
    intervals = staff.parse_intervals("10:00-19:00")
    assert intervals is not None
    await staff.set_weekday_hours(bot.pool, anna.id, 2, intervals)  # Anna: her own Tuesday, no lunch
    await staff.update_staff(bot.pool, 1, is_active=False)  # only Anna takes bookings
    await _book(bot, ANN, "5", "11:00")
    breaks = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Breaks")
    await bot.press(OWNER, await bot.press(OWNER, breaks, "Add a break"), "Tuesday")
    assert "Saved" in (await bot.say(OWNER, "11:00-12:00")).text  # Anna's week is her own


async def test_other_hours_on_one_day_for_the_whole_business_warn_about_bookings_outside(
    bot: RunningBot,
) -> None:
    await _book(bot, ANN, "5", "11:00")
    await _book(bot, BOB, "5", "15:00")
    days_off = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Days off")
    await bot.press(OWNER, days_off, "Other hours on one day")
    warning = await bot.say(OWNER, "2030-03-05 10:00-14:00")
    assert "1 booking" in warning.text and "15:00" in warning.text and "11:00" not in warning.text
    await bot.press(OWNER, warning, "cancel them")
    assert "had to cancel your booking" in (await bot.next(BOB)).text
    statuses = await bot.pool.fetch("SELECT user_id, status FROM bookings ORDER BY user_id")
    assert [(r["user_id"], r["status"]) for r in statuses] == [(ANN, "confirmed"), (BOB, "cancelled")]
    calendar = await bot.press(1003, await bot.press(1003, await bot.say(1003, "/start"), "Book"), "Haircut")
    times = [t for t, _ in (await bot.press(1003, calendar, "5", exact=True)).buttons if ":" in t]
    assert times == ["10:00", "12:00", "12:30", "13:00"]  # no lunch that day; Ann keeps 11:00
