"""The owner's day in the bot: a customer who phoned, moving a booking, visit outcomes, the
client card and its block list."""

from __future__ import annotations

import asyncio
import datetime as dt

from harness.telegram import SentMessage

from .conftest import OWNER, RunningBot

ANN, BOB = 1001, 1002


async def _book(bot: RunningBot, user: int, day: str = "4", time: str = "15:00") -> None:
    menu = await bot.say(user, "/start")
    calendar = await bot.press(user, await bot.press(user, menu, "Book"), "Haircut")
    confirm = await bot.press(user, await bot.press(user, calendar, day, exact=True), time, exact=True)
    assert "You are booked" in (await bot.book(user, confirm)).text
    assert "Новая запись" in (await bot.next(OWNER)).text


async def _today(bot: RunningBot) -> SentMessage:
    return await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Today")


async def test_the_owner_books_a_customer_who_phoned(bot: RunningBot) -> None:
    prompt = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Book for a caller")
    assert "name and phone" in prompt.text
    assert "name and then a phone" in (await bot.say(OWNER, "just a name")).text
    services = await bot.say(OWNER, "Maria Ivanova +7 900 123-45-67")
    assert "Booking for Maria Ivanova (+79001234567)" in services.text
    calendar = await bot.press(OWNER, services, "Haircut")
    confirm = await bot.press(OWNER, await bot.press(OWNER, calendar, "5", exact=True), "11:00", exact=True)
    done = await bot.press(OWNER, confirm, "Confirm")
    assert "Booked for Maria Ivanova +79001234567" in done.text
    row = await bot.pool.fetchrow(
        "SELECT b.user_id, u.first_name, u.phone FROM bookings b JOIN users u ON u.telegram_id = b.user_id"
    )
    assert row is not None and row["user_id"] < 0  # no Telegram account
    assert (row["first_name"], row["phone"]) == ("Maria Ivanova", "+79001234567")
    # The owner's own next booking is their own again.
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE user_id = $1", OWNER) == 0


async def test_the_owner_moves_a_booking_and_the_customer_is_told(bot: RunningBot) -> None:
    await _book(bot, ANN)
    day = await _today(bot)
    sure = await bot.press(OWNER, day, "❌ 15:00")
    calendar = await bot.press(OWNER, sure, "Move")
    assert calendar.button_data("Back").startswith("a1:bcancel:")  # back to the owner's screen
    slots = await bot.press(OWNER, calendar, "5", exact=True)
    confirm = await bot.press(OWNER, slots, "12:00", exact=True)
    done = await bot.press(OWNER, confirm, "Confirm")
    assert "Moved" in done.text
    told = await bot.next(ANN)
    assert "moved your booking" in told.text and "→ Tu 5 Mar 12:00" in told.text
    starts = await bot.pool.fetchval("SELECT starts_at FROM bookings")
    assert starts == dt.datetime(2030, 3, 5, 9, 0, tzinfo=dt.UTC)


async def test_a_past_visit_is_marked_no_show_and_cannot_be_cancelled(bot: RunningBot) -> None:
    await _book(bot, ANN)
    bot.clock.now = dt.datetime(2030, 3, 4, 12, 30, tzinfo=dt.UTC)  # 15:30 Moscow: the visit has begun
    day = await _today(bot)
    assert "❌ 15:00" not in [t for t, _ in day.buttons]
    # A forged cancel of the visit that has begun changes nothing.
    booking_id = await bot.pool.fetchval("SELECT id FROM bookings")
    bot.click(OWNER, day, f"a1:bcancel_yes:{booking_id}")
    assert "already begun" in (await bot.next(OWNER)).text
    assert await bot.pool.fetchval("SELECT status FROM bookings") == "confirmed"
    visit = await bot.press(OWNER, await _today(bot), "🕘 15:00")
    assert "How did this visit go" in visit.text
    recorded = await bot.press(OWNER, visit, "No-show")
    assert "no-show" in recorded.text
    assert await bot.pool.fetchval("SELECT status FROM bookings") == "no_show"
    day = await bot.press(OWNER, recorded, "Back")
    assert "🚫" in day.text


async def test_the_client_card_counts_visits_keeps_a_note_and_refuses_new_bookings(bot: RunningBot) -> None:
    await _book(bot, ANN)
    bot.clock.now = dt.datetime(2030, 3, 4, 13, 0, tzinfo=dt.UTC)
    visit = await bot.press(OWNER, await _today(bot), "🕘 15:00")
    await bot.press(OWNER, visit, "Came")
    card = await bot.press(OWNER, await bot.press(OWNER, await _today(bot), "🕘 15:00"), "Client card")
    assert "Customer1001" in card.text and "Visits: 1 · no-shows: 0" in card.text
    await bot.press(OWNER, card, "Note")
    card = await bot.say(OWNER, "prefers short hair")
    assert "Note: prefers short hair" in card.text
    card = await bot.press(OWNER, card, "Refuse new bookings")
    assert "refused" in card.text
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "6", exact=True), "11:00", exact=True)
    answer = await bot.press(ANN, confirm, "Confirm")
    assert "not available to you" in answer.text
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings") == 1
    card = await bot.press(OWNER, card, "Accept bookings again")
    assert "refused" not in card.text


async def test_reports_count_bookings_revenue_and_no_shows_per_master(bot: RunningBot) -> None:
    await _book(bot, ANN, "4", "15:00")
    await _book(bot, BOB, "4", "17:00")
    await bot.pool.execute("UPDATE services SET price = 9999")  # later price change: history keeps 1500
    bot.clock.now = dt.datetime(2030, 3, 4, 16, 0, tzinfo=dt.UTC)  # 19:00 Moscow
    await bot.press(OWNER, await bot.press(OWNER, await _today(bot), "🕘 15:00"), "Came")
    await bot.press(OWNER, await bot.press(OWNER, await _today(bot), "🕘 17:00"), "No-show")
    report = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Reports")
    assert "Total: 2 bookings, 1 came, 1 no-shows (50%), 0 cancelled\nRevenue: 1 500 ₽" in report.text
    await bot.press(OWNER, report, "CSV")
    upload = await _upload(bot)
    assert upload[1] == OWNER and upload[2].endswith(".csv")
    text = upload[3].decode("utf-8-sig").splitlines()
    assert text[0].startswith("booking_id,date,time,duration_min,service,price,master,status,customer,phone")
    assert "2030-03-04,15:00,60,Haircut,1500.00,,done,Customer1001" in text[1]
    assert ",no_show,Customer1002" in text[2]


async def test_a_non_admin_cannot_export_the_csv(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    bot.click(ANN, menu, "a1:reports_csv:30")
    assert await bot.alert(ANN) == "This command is not available."
    assert bot.tg.uploads == []


async def _upload(bot: RunningBot) -> tuple[str, int, str, bytes]:
    for _ in range(100):
        if bot.tg.uploads:
            return bot.tg.uploads[-1]
        await asyncio.sleep(0.05)
    raise TimeoutError("no document sent")


async def _start_caller_booking(bot: RunningBot) -> SentMessage:
    await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Book for a caller")
    services = await bot.say(OWNER, "Maria Ivanova +7 900 123-45-67")
    assert "Booking for Maria Ivanova" in services.text
    return services


async def _book_from(bot: RunningBot, menu: SentMessage, time: str) -> SentMessage:
    calendar = await bot.press(OWNER, await bot.press(OWNER, menu, "Book"), "Haircut")
    confirm = await bot.press(OWNER, await bot.press(OWNER, calendar, "5", exact=True), time, exact=True)
    return await bot.press(OWNER, confirm, "Confirm")


async def test_an_abandoned_caller_booking_does_not_book_the_owners_own_for_the_caller(
    bot: RunningBot,
) -> None:
    menu = await bot.say(OWNER, "/start")  # a main menu the owner scrolls back to later
    await _start_caller_booking(bot)  # ...and then does not finish
    done = await _book_from(bot, menu, "12:00")
    assert "Booked for" not in done.text and "You are booked" in done.text
    bot.drain(OWNER)  # the phone question of the owner's own first booking
    owners = await bot.pool.fetch("SELECT user_id FROM bookings WHERE status = 'confirmed'")
    assert [r["user_id"] for r in owners] == [OWNER]


async def test_a_finished_caller_booking_ends_the_callers_mode(bot: RunningBot) -> None:
    services = await _start_caller_booking(bot)
    calendar = await bot.press(OWNER, services, "Haircut")
    confirm = await bot.press(OWNER, await bot.press(OWNER, calendar, "5", exact=True), "11:00", exact=True)
    assert "Booked for Maria Ivanova" in (await bot.press(OWNER, confirm, "Confirm")).text
    done = await _book_from(bot, await bot.say(OWNER, "/start"), "12:00")
    assert "You are booked" in done.text
    bot.drain(OWNER)
    rows = await bot.pool.fetch("SELECT user_id FROM bookings ORDER BY starts_at")
    assert rows[0]["user_id"] < 0 and rows[1]["user_id"] == OWNER


async def test_going_back_inside_a_caller_booking_keeps_booking_for_the_caller(bot: RunningBot) -> None:
    services = await _start_caller_booking(bot)
    calendar = await bot.press(OWNER, services, "Manicure")
    services_again = await bot.press(OWNER, calendar, "Back")  # chose the wrong service
    assert "Maria Ivanova" in services_again.text
    calendar = await bot.press(OWNER, services_again, "Haircut")
    confirm = await bot.press(OWNER, await bot.press(OWNER, calendar, "5", exact=True), "11:00", exact=True)
    assert "Maria Ivanova" in confirm.text  # the owner sees whom the booking is for
    assert "Booked for Maria Ivanova" in (await bot.press(OWNER, confirm, "Confirm")).text


async def test_reports_offer_fixed_windows_and_a_typed_range(bot: RunningBot) -> None:
    await _book(bot, ANN, "4", "15:00")  # today, Monday 4 March
    await _book(bot, BOB, "6", "15:00")  # Wednesday, this week
    report = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Reports")
    assert "Fr 1 Mar – Su 31 Mar" in report.text and "Total: 2 bookings" in report.text  # this month
    labels = [t for t, _ in report.buttons]
    assert {"Today", "This week", "This month", "Last month", "📅 Other dates"} <= set(labels)
    today = await bot.press(OWNER, report, "Today", exact=True)
    assert "Mo 4 Mar – Mo 4 Mar" in today.text and "Total: 1 bookings" in today.text
    week = await bot.press(OWNER, today, "This week", exact=True)
    assert "Mo 4 Mar – Su 10 Mar" in week.text and "Total: 2 bookings" in week.text
    last = await bot.press(OWNER, week, "Last month", exact=True)
    assert "Fr 1 Feb – Th 28 Feb" in last.text and "Total: 0 bookings" in last.text
    await bot.press(OWNER, last, "Other dates")
    assert "two dates" in (await bot.say(OWNER, "06.03.2030 - 01.03.2030")).text
    typed = await bot.say(OWNER, "05.03.2030 - 07.03.2030")
    assert "Tu 5 Mar – Th 7 Mar" in typed.text and "Total: 1 bookings" in typed.text
    await bot.press(OWNER, typed, "CSV")
    upload = await _upload(bot)
    assert upload[2] == "bookings_2030-03-05_2030-03-07.csv"
    rows = upload[3].decode("utf-8-sig").splitlines()
    assert len(rows) == 2 and "2030-03-06,15:00" in rows[1]


async def test_the_report_windows_speak_russian(bot: RunningBot) -> None:
    report = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="ru"), "Отчёты", lang="ru")
    labels = [t for t, _ in report.buttons]
    assert {"Сегодня", "Эта неделя", "Этот месяц", "Прошлый месяц", "📅 Другие даты"} <= set(labels)
