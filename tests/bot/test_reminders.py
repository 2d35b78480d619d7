"""Reminders: each delivered at most once, across concurrent workers and restarts."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator

import asyncpg
import pytest

from booking_bot import bookings, reminders
from booking_bot.catalog import get_service
from booking_bot.db import create_pool

from .conftest import NOW, RunningBot

MOSCOW = zoneinfo.ZoneInfo("Europe/Moscow")
DAY = dt.timedelta(days=1)


@pytest.fixture()
async def pool(seeded_tenant: object) -> AsyncIterator[asyncpg.Pool]:
    from .conftest import Tenant

    assert isinstance(seeded_tenant, Tenant)
    pool = await create_pool(seeded_tenant.dsn, seeded_tenant.client_id, max_size=6)
    await pool.executemany(
        "INSERT INTO users (telegram_id, first_name, language_code) VALUES ($1, 'u', 'en')",
        [(i,) for i in range(1, 11)],
    )
    try:
        yield pool
    finally:
        await pool.close()


async def _book_many(pool: asyncpg.Pool, count: int) -> list[bookings.Booking]:
    service = await get_service(pool, 1)
    assert service is not None
    made = []
    for i in range(count):
        start = dt.datetime(2030, 3, 5, 7, 0, tzinfo=dt.UTC) + dt.timedelta(
            hours=i
        )  # Tuesday from 10:00 Moscow
        if start.astimezone(MOSCOW).hour == 13:
            continue
        made.append(
            await bookings.create_booking(
                pool, user_id=i + 1, service=service, starts_at=start, now=NOW, tz=MOSCOW
            )
        )
    return made


async def test_two_concurrent_workers_send_each_reminder_once(pool: asyncpg.Pool) -> None:
    made = await _book_many(pool, 8)
    sent: list[int] = []

    async def send(reminder: reminders.DueReminder) -> str | None:
        await asyncio.sleep(0.01)
        sent.append(reminder.id)
        return None

    later = dt.datetime(2030, 3, 5, 6, 30, tzinfo=dt.UTC)  # every 24 h reminder and some 2 h ones are due
    counts = await asyncio.gather(*(reminders.run_once(pool, send, later, f"w{i}", DAY) for i in range(2)))
    assert len(sent) == len(set(sent)) == sum(counts)
    expected = await pool.fetchval("SELECT count(*) FROM reminders WHERE due_at <= $1", later)
    assert len(sent) == expected and expected >= len(made)
    # A restart (another pass, another worker) sends nothing again.
    assert await reminders.run_once(pool, send, later, "after-restart", DAY) == 0


async def test_reminders_are_claimed_before_sending_so_a_crash_never_duplicates(pool: asyncpg.Pool) -> None:
    await _book_many(pool, 1)

    async def crash(reminder: reminders.DueReminder) -> str | None:
        raise RuntimeError("killed mid-send")

    later = NOW + DAY
    await reminders.run_once(pool, crash, later, "doomed")
    calls: list[int] = []

    async def send(reminder: reminders.DueReminder) -> str | None:
        calls.append(reminder.id)
        return None

    await reminders.run_once(pool, send, later, "next")
    assert calls == []  # at most once: the claimed reminder is not retried


async def test_cancelled_bookings_get_no_reminders(pool: asyncpg.Pool) -> None:
    (booking,) = await _book_many(pool, 1)
    await pool.execute("UPDATE bookings SET status = 'cancelled' WHERE id = $1", booking.id)
    sent: list[int] = []

    async def send(reminder: reminders.DueReminder) -> str | None:
        sent.append(reminder.id)
        return None

    await reminders.run_once(pool, send, NOW + DAY, "w")
    assert sent == []


async def test_reminders_already_past_at_booking_time_are_not_planned(pool: asyncpg.Pool) -> None:
    service = await get_service(pool, 1)
    assert service is not None
    soon = dt.datetime(2030, 3, 4, 12, 0, tzinfo=dt.UTC)  # today 15:00 Moscow: 6 h ahead
    booking = await bookings.create_booking(
        pool, user_id=1, service=service, starts_at=soon, now=NOW, tz=MOSCOW
    )
    offsets = await pool.fetch("SELECT offset_minutes FROM reminders WHERE booking_id = $1", booking.id)
    assert [r["offset_minutes"] for r in offsets] == [120]


async def test_the_running_bot_delivers_a_reminder_to_the_customer(bot: RunningBot) -> None:
    menu = await bot.say(1001, "/start")
    calendar = await bot.press(1001, await bot.press(1001, menu, "Book"), "Haircut")
    confirm = await bot.press(1001, await bot.press(1001, calendar, "5", exact=True), "11:00", exact=True)
    await bot.book(1001, confirm)
    bot.clock.now = dt.datetime(2030, 3, 5, 6, 5, tzinfo=dt.UTC)  # 1 h 55 min before
    assert bot.app.pool is not None
    delivered = await reminders.run_once(bot.app.pool, bot.app.notifier.reminder, bot.clock(), "test")
    assert delivered == 2 - 1  # the 24 h one is more than an hour stale and dropped; the 2 h one goes out
    message = await bot.next(1001)
    assert message.text == "⏰ Reminder: Haircut on Tu 5 Mar at 11:00 (in 2 h)."
    assert [t for t, _ in message.buttons] == ["✅ I'm coming"]  # inside the 3 h cutoff


async def test_a_blocked_customer_is_marked_and_not_retried(bot: RunningBot) -> None:
    menu = await bot.say(1001, "/start")
    calendar = await bot.press(1001, await bot.press(1001, menu, "Book"), "Haircut")
    confirm = await bot.press(1001, await bot.press(1001, calendar, "5", exact=True), "11:00", exact=True)
    await bot.book(1001, confirm)
    bot.tg.block_user(bot.token, 1001)
    assert bot.app.pool is not None
    later = dt.datetime(2030, 3, 4, 8, 30, tzinfo=dt.UTC)  # the 24 h reminder is due
    assert await reminders.run_once(bot.app.pool, bot.app.notifier.reminder, later, "test") == 0
    assert await bot.pool.fetchval("SELECT blocked_at IS NOT NULL FROM users WHERE telegram_id = 1001")
    assert await bot.pool.fetchval("SELECT error FROM reminders WHERE offset_minutes = 1440") == "blocked"


async def _booked_tuesday_11(bot: RunningBot) -> None:
    menu = await bot.say(1001, "/start")
    calendar = await bot.press(1001, await bot.press(1001, menu, "Book"), "Haircut")
    confirm = await bot.press(1001, await bot.press(1001, calendar, "5", exact=True), "11:00", exact=True)
    await bot.book(1001, confirm)
    assert "Новая запись" in (await bot.next(500)).text


async def test_the_day_before_reminder_offers_coming_move_and_cancel(bot: RunningBot) -> None:
    await _booked_tuesday_11(bot)
    bot.clock.now = dt.datetime(2030, 3, 4, 8, 5, tzinfo=dt.UTC)  # 24 h before
    assert await reminders.run_once(bot.pool, bot.app.notifier.reminder, bot.clock(), "test") == 1
    message = await bot.next(1001)
    assert [t for t, _ in message.buttons] == ["✅ I'm coming", "🔁 Move", "❌ Cancel"]
    thanks = await bot.press(1001, message, "I'm coming")
    assert "See you on Tu 5 Mar at 11:00" in thanks.text
    told = await bot.next(500)
    assert "подтвердил, что придёт" in told.text and "Customer1001" in told.text
    day = await bot.press(500, await bot.say(500, "/admin", lang="en"), "Week")
    assert "11:00–12:00 Haircut — Customer1001 ✅" in day.text  # the owner sees who confirmed


async def test_a_reminder_inside_the_cutoff_only_offers_coming(bot: RunningBot) -> None:
    await _booked_tuesday_11(bot)
    bot.clock.now = dt.datetime(2030, 3, 5, 6, 5, tzinfo=dt.UTC)  # 2 h before; the cutoff is 3 h
    assert await reminders.run_once(bot.pool, bot.app.notifier.reminder, bot.clock(), "test") == 1
    message = await bot.next(1001)
    assert [t for t, _ in message.buttons] == ["✅ I'm coming"]


async def test_settings_flag_a_reminder_that_comes_inside_the_cutoff(bot: RunningBot) -> None:
    settings = await bot.press(500, await bot.say(500, "/admin", lang="en"), "Settings")
    assert "The reminder 2 h before comes when it is too late" in settings.text  # defaults: 24 h, 2 h; 3 h
    await bot.press(500, settings, "Reminders")
    await bot.say(500, "24, 4")
    settings = await bot.press(500, await bot.say(500, "/admin", lang="en"), "Settings")
    assert "too late" not in settings.text
