"""Masters in the bot: the owner adds one, customers choose a master or "any master"."""

from __future__ import annotations

import datetime as dt

from harness.telegram import SentMessage

from .conftest import OWNER, RunningBot

ANN, BOB = 1001, 1002


async def _add_anna(bot: RunningBot) -> None:
    panel = await bot.say(OWNER, "/admin", lang="en")
    masters = await bot.press(OWNER, panel, "Masters")
    await bot.press(OWNER, masters, "Add a master")
    assert "added" in (await bot.say(OWNER, "Anna")).text


async def test_a_single_master_business_has_no_master_step(bot: RunningBot) -> None:
    services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
    calendar = await bot.press(ANN, services, "Haircut")
    assert "choose a day" in calendar.text


async def test_customers_choose_a_master_once_there_are_two(bot: RunningBot) -> None:
    await _add_anna(bot)
    services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
    step = await bot.press(ANN, services, "Haircut")
    assert "choose a master" in step.text
    assert [t for t, _ in step.buttons][:3] == ["👥 Any master", "Master", "Anna"]
    calendar = await bot.press(ANN, step, "Anna")
    slots = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    done = await bot.book(ANN, slots)
    assert "Master: Anna" in done.text
    # Bob takes "any master" at the same time: the other master is free.
    step = await bot.press(BOB, await bot.press(BOB, await bot.say(BOB, "/start"), "Book"), "Haircut")
    calendar = await bot.press(BOB, step, "Any master")
    confirm = await bot.press(BOB, await bot.press(BOB, calendar, "5", exact=True), "11:00", exact=True)
    assert "You are booked" in (await bot.book(BOB, confirm)).text
    rows = await bot.pool.fetch("SELECT user_id, staff_id FROM bookings ORDER BY user_id")
    anna = await bot.pool.fetchval("SELECT id FROM staff WHERE name = 'Anna'")
    assert [(r["user_id"], r["staff_id"]) for r in rows] == [(ANN, anna), (BOB, 1)]
    # Both masters are taken at 11:00 now: nobody is offered it.
    step = await bot.press(1003, await bot.press(1003, await bot.say(1003, "/start"), "Book"), "Haircut")
    slots = await bot.press(1003, await bot.press(1003, step, "Any master"), "5", exact=True)
    assert "11:00" not in [t for t, _ in slots.buttons]


async def test_the_owner_gives_a_master_own_hours_and_a_one_day_exception(bot: RunningBot) -> None:
    await _add_anna(bot)
    masters = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Masters")
    anna = await bot.press(OWNER, masters, "Anna")
    assert "the business's hours" in anna.text
    week = await bot.press(OWNER, anna, "Working hours")
    await bot.press(OWNER, week, "Tuesday")
    assert "not overlapping" in (await bot.say(OWNER, "10:00-14:00, 13:00-15:00")).text
    assert "Saved" in (await bot.say(OWNER, "10:00-12:00, 16:00-18:00")).text
    anna = await bot.press(OWNER, await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Masters"), "Anna")
    assert "Tu 10:00-12:00, 16:00-18:00" in anna.text
    assert "Mo 10:00-19:00" in anna.text  # the other days start from the business's week
    await bot.press(OWNER, anna, "One day")
    assert "Saved" in (await bot.say(OWNER, "2030-03-06 off")).text
    step = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    calendar = await bot.press(ANN, step, "Anna")
    labels = [t for t, _ in calendar.buttons]
    assert labels[8:11] == ["4", "5", "✖"]  # Wednesday 6: Anna's day off
    slots = await bot.press(ANN, calendar, "5", exact=True)
    assert [t for t, _ in slots.buttons if ":" in t] == ["10:00", "10:30", "11:00", "16:00", "16:30", "17:00"]
    rows = await bot.pool.fetch("SELECT day, opens_at FROM schedule_exceptions")
    assert [(r["day"], r["opens_at"]) for r in rows] == [(dt.date(2030, 3, 6), None)]


async def test_a_master_stops_performing_a_service(bot: RunningBot) -> None:
    await _add_anna(bot)
    masters = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Masters")
    services = await bot.press(OWNER, await bot.press(OWNER, masters, "Anna"), "Services")
    assert "✅ Haircut" in [t for t, _ in services.buttons]
    services = await bot.press(OWNER, services, "Haircut")
    assert "▫️ Haircut" in [t for t, _ in services.buttons]
    calendar = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    assert "choose a day" in calendar.text  # only one master does haircuts: no master step


async def test_a_double_tap_with_two_free_masters_books_once(bot: RunningBot) -> None:
    await _add_anna(bot)
    step = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    calendar = await bot.press(ANN, step, "Any master")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    data = confirm.button_data("Confirm")
    bot.click(ANN, confirm, data)
    bot.click(ANN, confirm, data)  # the second tap must not take the other master too
    shown = [await bot.next(ANN) for _ in range(3)]  # booked, the phone question, the second tap
    assert shown[0].text.startswith("You are booked") and shown[2].text.startswith("You are booked")
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings") == 1


async def test_the_owner_sets_a_masters_own_duration_and_price(bot: RunningBot) -> None:
    await _add_anna(bot)
    masters = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Masters")
    services = await bot.press(OWNER, await bot.press(OWNER, masters, "Anna"), "Services")
    haircut_terms = next(d for t, d in services.buttons if t == "⚙️")  # the first row: Haircut
    bot.click(OWNER, services, haircut_terms or "")
    assert "own duration" in (await bot.next(OWNER)).text
    assert "e.g. «45 2500»" in (await bot.say(OWNER, "45")).text
    assert "Saved" in (await bot.say(OWNER, "45 2500")).text
    step = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    calendar = await bot.press(ANN, step, "Anna")
    assert "Haircut (45 min)" in calendar.text
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    assert "45 min · 2 500 ₽" in confirm.text
    await bot.book(ANN, confirm)
    row = await bot.pool.fetchrow("SELECT duration_minutes, price FROM bookings")
    assert row is not None and (row["duration_minutes"], str(row["price"])) == (45, "2500.00")


async def _book_with(bot: RunningBot, user: int, master: str, time: str) -> None:
    step = await bot.press(user, await bot.press(user, await bot.say(user, "/start"), "Book"), "Haircut")
    calendar = await bot.press(user, step, master, exact=True)
    confirm = await bot.press(user, await bot.press(user, calendar, "5", exact=True), time, exact=True)
    assert f"Master: {master}" in (await bot.book(user, confirm)).text
    assert f"Customer{user}" in (await bot.next(OWNER)).text  # the owner's notice of it


async def _move_calendar(bot: RunningBot, user: int) -> SentMessage:
    mine = await bot.press(user, await bot.say(user, "/start"), "My bookings")
    return await bot.press(user, await bot.press(user, mine, "Haircut"), "Move")


async def test_moving_a_booking_offers_the_same_masters_free_times(bot: RunningBot) -> None:
    await _add_anna(bot)
    await _book_with(bot, ANN, "Anna", "11:00")
    await _book_with(bot, BOB, "Anna", "12:00")  # Anna is busy at 12:00; the other master is free
    calendar = await _move_calendar(bot, ANN)
    times = [t for t, _ in (await bot.press(ANN, calendar, "5", exact=True)).buttons if ":" in t]
    assert "12:00" not in times and "14:00" in times  # Anna's calendar, not "any master"
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "14:00", exact=True)
    assert "Moved" in (await bot.press(ANN, confirm, "Confirm")).text
    anna = await bot.pool.fetchval("SELECT id FROM staff WHERE name = 'Anna'")
    row = await bot.pool.fetchrow("SELECT staff_id, starts_at FROM bookings WHERE user_id = $1", ANN)
    assert row is not None and row["staff_id"] == anna
    assert row["starts_at"] == dt.datetime(2030, 3, 5, 11, 0, tzinfo=dt.UTC)


async def test_moving_to_another_master_is_an_explicit_choice(bot: RunningBot) -> None:
    await _add_anna(bot)
    await _book_with(bot, ANN, "Anna", "11:00")
    await _book_with(bot, BOB, "Anna", "12:00")
    calendar = await _move_calendar(bot, ANN)
    masters = await bot.press(ANN, calendar, "Another master")
    assert [t for t, _ in masters.buttons][:2] == ["Master", "✅ Anna"]
    calendar = await bot.press(ANN, masters, "Master", exact=True)
    slots = await bot.press(ANN, calendar, "5", exact=True)
    assert "12:00" in [t for t, _ in slots.buttons]  # the other master is free then
    done = await bot.press(ANN, await bot.press(ANN, slots, "12:00", exact=True), "Confirm")
    assert "Moved" in done.text and "12:00 · Master" in done.text and "11:00 · Anna" in done.text
    notice = await bot.next(OWNER)
    assert "11:00 · Anna" in notice.text and "12:00 · Master" in notice.text
    rows = await bot.pool.fetch("SELECT user_id, staff_id FROM bookings ORDER BY user_id")
    anna = await bot.pool.fetchval("SELECT id FROM staff WHERE name = 'Anna'")
    assert [(r["user_id"], r["staff_id"]) for r in rows] == [(ANN, 1), (BOB, anna)]
    # The other master's cells are the booking's now: a third customer cannot take them.
    step = await bot.press(1003, await bot.press(1003, await bot.say(1003, "/start"), "Book"), "Haircut")
    times = await bot.press(1003, await bot.press(1003, step, "Master", exact=True), "5", exact=True)
    assert "12:00" not in [t for t, _ in times.buttons] and "11:00" in [t for t, _ in times.buttons]


async def test_a_single_master_move_has_no_master_button(bot: RunningBot) -> None:
    services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
    calendar = await bot.press(ANN, services, "Haircut")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    await bot.book(ANN, confirm)
    assert "Another master" not in " ".join(t for t, _ in (await _move_calendar(bot, ANN)).buttons)
