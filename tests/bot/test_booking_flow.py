"""Customers over the fake Bot API, the bot polling for real, real PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt

import asyncpg
import pytest

from harness.operator_process import eventually
from harness.telegram import FakeTelegram, SentMessage

from .conftest import OWNER, RunningBot, Tenant, person, run_bot, seed

ANN, BOB = 1001, 1002


async def _rows(tenant: Tenant) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(tenant.dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            f'SELECT b.*, s.name AS service FROM "{tenant.client_id}".bookings b'
            f' JOIN "{tenant.client_id}".services s ON s.id = b.service_id ORDER BY b.id'
        )
        return rows
    finally:
        await conn.close()


async def _to_confirm(bot: RunningBot, user: int, day: str = "5", time: str = "11:00") -> SentMessage:
    menu = await bot.say(user, "/start")
    services = await bot.press(user, menu, "Book")
    calendar = await bot.press(user, services, "Haircut")
    slots = await bot.press(user, calendar, day, exact=True)
    return await bot.press(user, slots, time, exact=True)


async def test_start_greets_with_the_business_name_and_a_menu(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    assert "Salon Test" in menu.text
    assert [text for text, _ in menu.buttons] == ["📅 Book", "🗒 My bookings"]


async def test_russian_is_the_default_language(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start", lang="de")
    assert "Здравствуйте" in menu.text
    assert "📅 Записаться" in [text for text, _ in menu.buttons]


async def test_whole_booking_conversation_ends_in_a_confirmed_row(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    services = await bot.press(ANN, menu, "Book")
    assert "Haircut · 1 h · 1 500 ₽" in [text for text, _ in services.buttons]
    calendar = await bot.press(ANN, services, "Haircut")
    labels = [text for text, _ in calendar.buttons]
    assert "✖" in labels  # the weekend is visibly closed
    slots = await bot.press(ANN, calendar, "5", exact=True)  # Tuesday 5 March 2030
    times = [text for text, _ in slots.buttons]
    assert times[:3] == ["10:00", "10:30", "11:00"]
    assert "13:00" not in times and "12:30" not in times  # lunch 13:00-14:00
    confirm = await bot.press(ANN, slots, "11:00", exact=True)
    assert "Tu 5 Mar at 11:00" in confirm.text
    done = await bot.book(ANN, confirm)
    assert "You are booked" in done.text

    rows = await _rows(bot.tenant)
    assert len(rows) == 1
    row = rows[0]
    assert (row["service"], row["user_id"], row["status"]) == ("Haircut", ANN, "confirmed")
    assert row["starts_at"] == dt.datetime(2030, 3, 5, 8, 0, tzinfo=dt.UTC)  # 11:00 Moscow, stored UTC
    assert row["ends_at"] - row["starts_at"] == dt.timedelta(hours=1)
    owner_note = await bot.next(OWNER)  # the owner never wrote to the bot: default language, Russian
    assert owner_note.text.startswith("🆕 Новая запись\nHaircut\nВт, 5 марта 11:00\nCustomer1001")


async def test_minimum_notice_hides_todays_early_slots(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    slots = await bot.press(ANN, calendar, "4", exact=True)  # today, 09:00 now, notice 2 h
    assert slots.buttons[0][0] == "11:00"


async def test_customer_cancels_from_my_bookings(bot: RunningBot) -> None:
    await bot.book(ANN, await _to_confirm(bot, ANN))
    assert "Новая запись" in (await bot.next(OWNER)).text
    menu = await bot.say(ANN, "/start")
    mine = await bot.press(ANN, menu, "My bookings")
    assert "Tu 5 Mar 11:00 · Haircut" in [t for t, _ in mine.buttons]
    detail = await bot.press(ANN, mine, "Haircut")
    sure = await bot.press(ANN, detail, "Cancel")
    done = await bot.press(ANN, sure, "Yes, cancel")
    assert "Cancelled" in done.text
    rows = await _rows(bot.tenant)
    assert [r["status"] for r in rows] == ["cancelled"]
    assert rows[0]["cancelled_by"] == "customer"
    assert "Клиент отменил запись" in (await bot.next(OWNER)).text
    # The slot is free again.
    confirm = await _to_confirm(bot, BOB)
    assert "Confirm" in confirm.buttons[0][0]


async def test_customer_reschedules_and_keeps_one_booking(bot: RunningBot) -> None:
    await bot.book(ANN, await _to_confirm(bot, ANN))
    menu = await bot.say(ANN, "/start")
    detail = await bot.press(ANN, await bot.press(ANN, menu, "My bookings"), "Haircut")
    calendar = await bot.press(ANN, detail, "Move")
    slots = await bot.press(ANN, calendar, "6", exact=True)
    confirm = await bot.press(ANN, slots, "15:00", exact=True)
    assert "Move Haircut" in confirm.text
    done = await bot.book(ANN, confirm)
    assert "Moved" in done.text
    rows = await _rows(bot.tenant)
    assert len(rows) == 1
    assert rows[0]["starts_at"] == dt.datetime(2030, 3, 6, 12, 0, tzinfo=dt.UTC)
    assert rows[0]["reschedule_count"] == 1
    # The old time is bookable again.
    again = await _to_confirm(bot, BOB)
    assert "11:00" in again.text


async def test_cancel_is_refused_after_the_cutoff(bot: RunningBot) -> None:
    await bot.book(ANN, await _to_confirm(bot, ANN))
    bot.clock.now = dt.datetime(2030, 3, 5, 6, 30, tzinfo=dt.UTC)  # 1.5 h before, cutoff is 3 h
    menu = await bot.say(ANN, "/start")
    detail = await bot.press(ANN, await bot.press(ANN, menu, "My bookings"), "Haircut")
    sure = await bot.press(ANN, detail, "Cancel")
    bot.click(ANN, sure, sure.button_data("Yes, cancel"))
    assert "no longer be changed" in await bot.alert(ANN)
    assert [r["status"] for r in await _rows(bot.tenant)] == ["confirmed"]


async def test_slot_race_gives_one_booking_and_offers_the_next_slots(bot: RunningBot) -> None:
    ann_confirm, bob_confirm = await asyncio.gather(_to_confirm(bot, ANN), _to_confirm(bot, BOB))
    bot.click(ANN, ann_confirm, ann_confirm.button_data("Confirm"))
    bot.click(BOB, bob_confirm, bob_confirm.button_data("Confirm"))
    ann_result, bob_result = await asyncio.gather(bot.next(ANN), bot.next(BOB))
    results = sorted([ann_result, bob_result], key=lambda m: "booked" not in m.text)
    winner, loser = results
    assert "You are booked" in winner.text
    assert "just taken" in loser.text
    offered = [t for t, _ in loser.buttons if ":" in t]
    assert offered[:2] == ["Tu 5 Mar 12:00", "Tu 5 Mar 14:00"]  # 11:30 overlaps, 13:00 is lunch
    rows = await _rows(bot.tenant)
    assert len(rows) == 1
    # The loser takes the next offered slot straight away.
    confirm = await bot.press(loser.chat_id, loser, offered[0], exact=True)
    assert "You are booked" in (await bot.book(loser.chat_id, confirm)).text


async def test_a_blocked_owner_does_not_break_booking(telegram: FakeTelegram, seeded_tenant: Tenant) -> None:
    telegram_blocked = OWNER
    async with run_bot(telegram, seeded_tenant, owner=OWNER) as bot:
        telegram.block_user(bot.token, telegram_blocked)
        done = await bot.book(ANN, await _to_confirm(bot, ANN))
        assert "You are booked" in done.text


async def test_flood_control_is_waited_out(bot: RunningBot) -> None:
    bot.tg.fail_next("sendMessage", bot.token, error_code=429, retry_after=1)
    menu = await bot.say(ANN, "/start")
    assert "Salon Test" in menu.text
    assert len(bot.tg.calls_of("sendMessage", bot.token)) == 2


async def test_a_bot_api_server_error_is_retried(bot: RunningBot) -> None:
    bot.tg.fail_next("sendMessage", bot.token, error_code=502, description="Bad Gateway")
    menu = await bot.say(ANN, "/start")
    assert "Salon Test" in menu.text
    assert len(bot.tg.calls_of("sendMessage", bot.token)) == 2


async def test_polling_survives_a_failing_get_updates(bot: RunningBot) -> None:
    polls = len(bot.tg.calls_of("getUpdates", bot.token))  # the last one is still long-polling
    bot.tg.fail_next("getUpdates", bot.token, error_code=502, description="Bad Gateway")

    async def polled_again_after_the_failure() -> bool:
        return len(bot.tg.calls_of("getUpdates", bot.token)) >= polls + 2

    await eventually(polled_again_after_the_failure, what="the failed poll and one after it")
    menu = await bot.say(ANN, "/start")
    assert "Salon Test" in menu.text
    assert len(bot.tg.calls_of("getUpdates", bot.token)) >= 3  # before, the failed one, after


async def test_a_failing_update_does_not_kill_the_bot(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    bot.click(ANN, menu, "k2:1:99999999999999:0:0")  # a forged instant: the handler raises
    assert await bot.alert(ANN) == "Something went wrong. Please try again."
    bot.click(ANN, menu, "k2:999:notanumber:0:0")  # garbage callback data: no handler matches
    bot.drain(ANN)
    again = await bot.say(ANN, "/start")
    assert "Salon Test" in again.text


async def test_a_failing_edit_falls_back_to_a_new_message(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    bot.tg.fail_next(
        "editMessageText", bot.token, error_code=400, description="Bad Request: message to edit not found"
    )
    services = await bot.press(ANN, menu, "Book")
    assert services.method == "sendMessage" and services.text == "Choose a service:"


async def test_hidden_services_are_not_offered(telegram: FakeTelegram, seeded_tenant: Tenant) -> None:
    conn = await asyncpg.connect(seeded_tenant.dsn)
    await conn.execute("UPDATE services SET is_active = false WHERE name = 'Manicure'")
    await conn.close()
    async with run_bot(telegram, seeded_tenant) as bot:
        services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
        assert not any("Manicure" in t for t, _ in services.buttons)


async def test_two_tenants_migrated_separately_keep_their_bookings_apart(
    telegram: FakeTelegram, seeded_tenant: Tenant, pg_server: object
) -> None:
    from harness.postgres import PgServer

    from .conftest import create_tenant, drop_tenant

    assert isinstance(pg_server, PgServer)
    other = await create_tenant(pg_server)
    try:
        await seed(other)
        async with run_bot(telegram, seeded_tenant) as one, run_bot(telegram, other) as two:
            await one.book(ANN, await _to_confirm(one, ANN))
            await two.book(ANN, await _to_confirm(two, ANN))
        assert len(await _rows(seeded_tenant)) == 1
        assert len(await _rows(other)) == 1
    finally:
        await drop_tenant(pg_server, other.client_id)


async def test_phone_is_asked_once_after_the_first_booking_and_reaches_the_owner(bot: RunningBot) -> None:
    done = await bot.press(ANN, await _to_confirm(bot, ANN), "Confirm")
    assert "You are booked" in done.text
    question = await bot.next(ANN)
    assert question.reply_markup is not None
    share = question.reply_markup["keyboard"][0][0]
    assert share["request_contact"] is True
    bot.tg.push_update(
        bot.token,
        {
            "message": {
                "message_id": 900,
                "date": 0,
                "chat": {"id": ANN, "type": "private"},
                "from": person(ANN),
                "contact": {"phone_number": "+7 (900) 123-45-67", "first_name": "Ann", "user_id": ANN},
            }
        },
    )
    thanks = await bot.next(ANN)
    assert thanks.text == "Thank you! Your number is saved."
    assert thanks.reply_markup == {"remove_keyboard": True}
    assert "Salon Test" in (await bot.next(ANN)).text  # and the menu again
    assert await bot.pool.fetchval("SELECT phone FROM users WHERE telegram_id = $1", ANN) == "+79001234567"
    # The second booking does not ask again.
    second = await _to_confirm(bot, ANN, day="6")
    assert "You are booked" in (await bot.book(ANN, second, first=False)).text
    assert "Новая запись" in (await bot.next(OWNER)).text
    second_note = await bot.next(OWNER)
    assert "Customer1001 · +79001234567" in second_note.text  # the owner can call back
    # The second booking's notice went out, which the bot does only when it asks no phone question.
    assert bot.drain(ANN) == []
    week = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Week")
    assert "Customer1001 · +79001234567" in week.text


async def test_someone_elses_contact_is_not_saved(bot: RunningBot) -> None:
    await bot.book(ANN, await _to_confirm(bot, ANN))
    bot.tg.push_update(
        bot.token,
        {
            "message": {
                "message_id": 901,
                "date": 0,
                "chat": {"id": ANN, "type": "private"},
                "from": person(ANN),
                "contact": {"phone_number": "+70000000000", "first_name": "Bob", "user_id": BOB},
            }
        },
    )
    assert "your own number" in (await bot.next(ANN)).text
    assert await bot.pool.fetchval("SELECT phone FROM users WHERE telegram_id = $1", ANN) is None


async def test_the_calendar_pages_forward_to_the_horizon(bot: RunningBot) -> None:
    await bot.pool.execute("UPDATE settings SET horizon_days = 35")  # through Sunday 7 April
    calendar = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    assert calendar.buttons[0][0] == "March 2030"
    later = await bot.press(ANN, calendar, "»", exact=True)
    assert later.buttons[0][0] == "April 2030"
    labels = [t for t, _ in later.buttons]
    assert labels[8:15] == ["1", "2", "3", "4", "5", "6", "✖"], labels  # Sunday 7: closed
    assert labels[15:22] == [" "] * 7 and "»" not in labels  # nothing beyond the horizon
    back = await bot.press(ANN, later, "«", exact=True)
    assert back.buttons[0][0] == "March 2030"


async def test_a_customer_at_the_upcoming_limit_is_told_to_cancel_one_first(bot: RunningBot) -> None:
    confirm = await _to_confirm(bot, ANN)  # creates the user row on the way
    first = dt.datetime(2030, 3, 11, 7, 0, tzinfo=dt.UTC)
    await bot.pool.executemany(
        "INSERT INTO bookings (service_id, user_id, starts_at, ends_at) VALUES (1, $1, $2, $3)",
        [(ANN, first + dt.timedelta(days=d), first + dt.timedelta(days=d, hours=1)) for d in range(5)],
    )
    answer = await bot.press(ANN, confirm, "Confirm")
    assert answer.text.startswith("You already have 5 upcoming bookings")


def _contact(bot: RunningBot, user: int, phone: str) -> None:
    bot.tg.push_message(
        bot.token,
        person(user),
        "",
        extra={"contact": {"phone_number": phone, "first_name": "Ann", "user_id": user}},
    )


async def test_a_second_tap_on_confirm_does_not_say_the_slot_was_taken(bot: RunningBot) -> None:
    confirm = await _to_confirm(bot, ANN)
    data = confirm.button_data("Confirm")
    bot.click(ANN, confirm, data)
    bot.click(ANN, confirm, data)  # a double tap: both updates reach the bot
    shown = [await bot.next(ANN) for _ in range(3)]  # booked, the phone question, the second tap
    texts = [m.text for m in shown]
    assert not any("taken" in t for t in texts), texts
    assert texts[0].startswith("You are booked") and texts[2].startswith("You are booked"), texts
    assert len(await _rows(bot.tenant)) == 1


async def test_moving_a_booking_to_its_own_time_changes_nothing_and_tells_nobody(bot: RunningBot) -> None:
    await bot.book(ANN, await _to_confirm(bot, ANN))
    assert "Новая запись" in (await bot.next(OWNER)).text
    menu = await bot.say(ANN, "/start")
    detail = await bot.press(ANN, await bot.press(ANN, menu, "My bookings"), "Haircut")
    calendar = await bot.press(ANN, detail, "Move")
    slots = await bot.press(ANN, calendar, "5", exact=True)
    confirm = await bot.press(ANN, slots, "11:00", exact=True)  # its own time is offered as free
    done = await bot.press(ANN, confirm, "Confirm")
    assert "already" in done.text and "11:00" in done.text, done.text
    rows = await _rows(bot.tenant)
    assert rows[0]["reschedule_count"] == 0
    # No "11:00 -> 11:00" notice. A notice goes out in the background, after the answer above, so
    # no later event proves its absence: watched for half a second (a regression shows up there).
    with pytest.raises(TimeoutError):
        await bot.next(OWNER, timeout=0.5)


async def _book_unanswered(bot: RunningBot, user: int) -> None:
    """A first booking whose phone question stays unanswered (for now)."""
    assert "You are booked" in (await bot.press(user, await _to_confirm(bot, user), "Confirm")).text
    assert "phone number" in (await bot.next(user)).text


async def test_the_owners_notice_of_a_first_booking_carries_the_shared_phone(bot: RunningBot) -> None:
    await _book_unanswered(bot, ANN)
    # Held until the customer answers the phone question; an unheld notice would go out in the
    # background, which no later event orders against: watched for a moment.
    with pytest.raises(TimeoutError):
        await bot.next(OWNER, timeout=0.3)
    _contact(bot, ANN, "+7 900 123-45-67")
    note = await bot.next(OWNER)
    assert note.text.startswith("🆕 Новая запись")
    assert "Customer1001 · +79001234567" in note.text


async def test_the_owner_hears_of_a_first_booking_when_the_phone_is_skipped(bot: RunningBot) -> None:
    await _book_unanswered(bot, ANN)
    await bot.say(ANN, "Not now")
    note = await bot.next(OWNER)
    assert note.text.startswith("🆕 Новая запись") and "Customer1001" in note.text


async def test_a_held_notice_goes_out_when_the_customer_never_answers(bot: RunningBot) -> None:
    await _book_unanswered(bot, ANN)
    assert await bot.app.notifier.release_held(bot.clock.now) == 0  # too early: still waiting
    later = bot.clock.now + dt.timedelta(minutes=11)
    assert await bot.app.notifier.release_held(later) == 1
    assert "Новая запись" in (await bot.next(OWNER)).text
    assert await bot.app.notifier.release_held(later) == 0  # once
