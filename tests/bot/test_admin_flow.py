"""The owner runs the business from Telegram; everyone else gets no admin surface."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import asyncpg

from harness.telegram import FakeTelegram

from .conftest import OWNER, RunningBot, Tenant, person, run_bot

ANN, STRANGER, HELPER = 1001, 1003, 777


async def _fetch(tenant: Tenant, sql: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(tenant.dsn)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(sql)
        return rows
    finally:
        await conn.close()


async def test_only_admins_get_the_admin_command_in_their_menu(bot: RunningBot) -> None:
    calls = bot.tg.calls_of("setMyCommands", bot.token)
    default = [c.params for c in calls if c.params["scope"] == {"type": "default"}]
    assert all("admin" not in [cmd["command"] for cmd in p["commands"]] for p in default)
    owner_scope = [c.params for c in calls if c.params["scope"] == {"type": "chat", "chat_id": OWNER}]
    assert "admin" in [cmd["command"] for cmd in owner_scope[0]["commands"]]


async def test_owner_sees_the_manage_button_and_customers_do_not(bot: RunningBot) -> None:
    owner_menu = await bot.say(OWNER, "/start")
    assert "⚙️ Manage" in [t for t, _ in owner_menu.buttons]
    customer_menu = await bot.say(ANN, "/start")
    assert "⚙️ Manage" not in [t for t, _ in customer_menu.buttons]


async def test_non_admin_admin_command_is_refused(bot: RunningBot) -> None:
    answer = await bot.say(STRANGER, "/admin")
    assert answer.text == "This command is not available."
    assert answer.buttons == []


async def test_non_admin_pressing_admin_buttons_changes_nothing(bot: RunningBot) -> None:
    menu = await bot.say(STRANGER, "/start")
    bot.click(STRANGER, menu, "a1:svc_toggle:1")  # forged: hide service 1
    assert await bot.alert(STRANGER) == "This command is not available."
    rows = await _fetch(bot.tenant, "SELECT is_active FROM services WHERE id = 1")
    assert rows[0]["is_active"] is True


async def test_owner_adds_a_service_step_by_step(bot: RunningBot) -> None:
    panel = await bot.say(OWNER, "/admin", lang="en")
    services = await bot.press(OWNER, panel, "Services")
    prompt = await bot.press(OWNER, services, "Add a service")
    assert "name" in prompt.text
    assert "minutes" in (await bot.say(OWNER, "Beard trim")).text
    assert "multiple of 5" in (await bot.say(OWNER, "17")).text  # refused, asked again
    assert "price" in (await bot.say(OWNER, "30")).text
    assert "added" in (await bot.say(OWNER, "700,50")).text
    rows = await _fetch(
        bot.tenant, "SELECT name, duration_minutes, price FROM services WHERE name = 'Beard trim'"
    )
    assert [(r["duration_minutes"], r["price"]) for r in rows] == [(30, Decimal("700.50"))]
    customer_services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
    assert any("Beard trim" in t for t, _ in customer_services.buttons)


async def test_owner_hides_a_service(bot: RunningBot) -> None:
    services = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services")
    detail = await bot.press(OWNER, services, "Manicure")
    hidden = await bot.press(OWNER, detail, "Hide")
    assert "Hidden from customers" in hidden.text
    customer_services = await bot.press(ANN, await bot.say(ANN, "/start"), "Book")
    assert not any("Manicure" in t for t, _ in customer_services.buttons)


async def test_owner_changes_working_hours_and_closes_a_day(bot: RunningBot) -> None:
    hours = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Working hours")
    prompt = await bot.press(OWNER, hours, "Tuesday")
    assert "Tuesday" in prompt.text
    assert "Saved" in (await bot.say(OWNER, "12:00-16:00")).text
    wednesday = await bot.press(
        OWNER, await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Working hours"), "Wednesday"
    )
    assert wednesday.text
    await bot.say(OWNER, "off")
    rows = await _fetch(bot.tenant, "SELECT weekday, opens_at, closes_at FROM working_hours ORDER BY weekday")
    by_day = {r["weekday"]: (r["opens_at"], r["closes_at"]) for r in rows}
    assert by_day[2] == (dt.time(12, 0), dt.time(16, 0))
    assert 3 not in by_day
    calendar = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    slots = await bot.press(ANN, calendar, "5", exact=True)
    assert slots.buttons[0][0] == "12:00"
    first_week = [text for text, _ in calendar.buttons[8:15]]  # after the month and weekday header rows
    assert first_week[:3] == ["4", "5", "✖"]  # Wednesday 6 is now closed


async def test_owner_adds_a_day_off_and_a_break(bot: RunningBot) -> None:
    days_off = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Days off")
    await bot.press(OWNER, days_off, "Add days off")
    assert "Saved" in (await bot.say(OWNER, "05.03.2030")).text
    breaks = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Breaks")
    pick = await bot.press(OWNER, breaks, "Add a break")
    await bot.press(OWNER, pick, "Thursday")
    assert "Saved" in (await bot.say(OWNER, "10:00-11:00")).text
    assert [r["day"] for r in await _fetch(bot.tenant, "SELECT day FROM days_off")] == [dt.date(2030, 3, 5)]
    calendar = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    labels = [t for t, _ in calendar.buttons]
    assert "5" not in labels and "4" in labels  # Tuesday 5 is now closed
    slots = await bot.press(ANN, calendar, "7", exact=True)
    assert slots.buttons[0][0] == "11:00"


async def test_owner_sees_the_days_bookings_and_cancels_one_and_the_customer_is_told(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "4", exact=True), "15:00", exact=True)
    await bot.book(ANN, confirm)
    await bot.next(OWNER)  # the new-booking note
    day = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Today")
    assert "15:00–16:00 Haircut — Customer1001" in day.text
    sure = await bot.press(OWNER, day, "❌ 15:00")
    done = await bot.press(OWNER, sure, "tell the customer")
    assert "Cancelled" in done.text
    told = await bot.next(ANN)
    assert "had to cancel your booking: Haircut" in told.text
    rows = await _fetch(bot.tenant, "SELECT status, cancelled_by FROM bookings")
    assert [(r["status"], r["cancelled_by"]) for r in rows] == [("cancelled", "admin")]


async def test_owner_blocks_a_slot_and_customers_cannot_book_it(bot: RunningBot) -> None:
    prompt = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Block a time")
    assert "2026-12-01" in prompt.text
    assert "Blocked" in (await bot.say(OWNER, "2030-03-05 10:00 120 supplier visit")).text
    await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Block a time")
    assert "overlaps" in (await bot.say(OWNER, "05.03.2030 11:00 30")).text
    calendar = await bot.press(ANN, await bot.press(ANN, await bot.say(ANN, "/start"), "Book"), "Haircut")
    slots = await bot.press(ANN, calendar, "5", exact=True)
    assert slots.buttons[0][0] == "12:00"


async def test_new_reminder_times_apply_to_upcoming_bookings(bot: RunningBot) -> None:
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    slots = await bot.press(ANN, calendar, "6", exact=True)
    await bot.book(ANN, await bot.press(ANN, slots, "11:00", exact=True))
    assert "Новая запись" in (await bot.next(OWNER)).text  # the owner's notice comes first
    settings = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Settings")
    await bot.press(OWNER, settings, "Reminders")
    assert "Saved" in (await bot.say(OWNER, "3")).text
    rows = await _fetch(bot.tenant, "SELECT offset_minutes, due_at FROM reminders")
    assert [(r["offset_minutes"], r["due_at"]) for r in rows] == [
        (180, dt.datetime(2030, 3, 6, 5, 0, tzinfo=dt.UTC))
    ]


async def test_owner_changes_settings(bot: RunningBot) -> None:
    settings = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Settings")
    await bot.press(OWNER, settings, "Minimum notice")
    assert "Saved" in (await bot.say(OWNER, "0")).text
    settings = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Settings")
    await bot.press(OWNER, settings, "Reminders")
    assert "Saved" in (await bot.say(OWNER, "48, 3")).text
    rows = await _fetch(bot.tenant, "SELECT min_notice_minutes, reminder_offsets_minutes FROM settings")
    assert (rows[0]["min_notice_minutes"], rows[0]["reminder_offsets_minutes"]) == (0, [2880, 180])


async def test_owner_adds_an_admin_who_then_gets_the_admin_surface(bot: RunningBot) -> None:
    assert (await bot.say(HELPER, "/admin")).text == "This command is not available."
    admins = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Admins")
    await bot.press(OWNER, admins, "Add an admin")
    assert "Saved" in (await bot.say(OWNER, str(HELPER))).text
    panel = await bot.say(HELPER, "/admin")
    assert "Managing Salon Test" in panel.text
    scoped = [
        c.params
        for c in bot.tg.calls_of("setMyCommands", bot.token)
        if c.params.get("scope", {}).get("chat_id")
    ]
    assert scoped[-1]["scope"] == {"type": "chat", "chat_id": HELPER}
    assert "admin" in [c["command"] for c in scoped[-1]["commands"]]
    admins = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Admins")
    await bot.press(OWNER, admins, f"❌ {HELPER}")
    assert (await bot.say(HELPER, "/admin")).text == "This command is not available."
    assert bot.tg.calls_of("deleteMyCommands", bot.token)[-1].params["scope"]["chat_id"] == HELPER


async def test_admins_from_the_environment_are_admins(telegram: FakeTelegram, seeded_tenant: Tenant) -> None:
    async with run_bot(telegram, seeded_tenant, admins=(HELPER,)) as bot:
        assert "Managing" in (await bot.say(HELPER, "/admin")).text
        assert "⚙️ Manage" not in [t for t, _ in (await bot.say(OWNER, "/start")).buttons]


async def test_owner_edits_a_services_name_duration_and_price(bot: RunningBot) -> None:
    services = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services")
    detail = await bot.press(OWNER, services, "Haircut")
    await bot.press(OWNER, detail, "Name")
    assert "Saved" in (await bot.say(OWNER, "Men's haircut")).text
    detail = await bot.press(
        OWNER, await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services"), "Men's haircut"
    )
    await bot.press(OWNER, detail, "Duration")
    assert "Saved" in (await bot.say(OWNER, "45")).text
    detail = await bot.press(
        OWNER, await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services"), "Men's haircut"
    )
    await bot.press(OWNER, detail, "Price")
    assert "like 1500" in (await bot.say(OWNER, "cheap")).text  # refused, asked again
    assert "Saved" in (await bot.say(OWNER, "1800")).text
    rows = await _fetch(bot.tenant, "SELECT name, duration_minutes, price FROM services WHERE id = 1")
    assert [(r["name"], r["duration_minutes"], r["price"]) for r in rows] == [
        ("Men's haircut", 45, Decimal("1800.00"))
    ]


async def test_owner_removes_a_block_from_the_day_view(bot: RunningBot) -> None:
    await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Block a time")
    await bot.say(OWNER, "2030-03-04 15:00 60")
    day = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Today")
    assert "15:00–16:00 ⛔ blocked" in day.text
    sure = await bot.press(OWNER, day, "❌ 15:00 blocked")
    await bot.press(OWNER, sure, "tell the customer")
    assert await _fetch(bot.tenant, "SELECT * FROM booked_slots") == []
    assert not bot.tg.sent_messages(bot.token, ANN)  # nobody to tell about a block


async def test_a_bad_slot_step_is_refused(bot: RunningBot) -> None:
    settings = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Settings")
    await bot.press(OWNER, settings, "Slot step")
    assert "not a valid value" in (await bot.say(OWNER, "25")).text
    assert "Saved" in (await bot.say(OWNER, "15")).text
    rows = await _fetch(bot.tenant, "SELECT slot_step_minutes FROM settings")
    assert rows[0]["slot_step_minutes"] == 15


async def test_a_busy_week_fits_in_one_telegram_message(bot: RunningBot) -> None:
    start = dt.datetime(2030, 3, 4, 7, 0, tzinfo=dt.UTC)
    await bot.pool.execute("INSERT INTO users (telegram_id, first_name) VALUES ($1, $2)", ANN, "A" * 40)
    await bot.pool.executemany(
        "INSERT INTO bookings (service_id, user_id, starts_at, ends_at) VALUES (1, $1, $2, $3)",
        [
            (ANN, start + dt.timedelta(minutes=15 * i), start + dt.timedelta(minutes=15 * i + 60))
            for i in range(400)
        ],
    )
    week = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Week")
    assert len(week.text) <= 4096
    assert "more lines" in week.text.splitlines()[-1]
    day = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Today")
    assert len(day.buttons) <= 100


async def test_an_admin_is_added_by_forwarding_their_message(bot: RunningBot) -> None:
    admins = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Admins")
    await bot.press(OWNER, admins, "Add an admin")
    origin = {"type": "user", "date": 0, "sender_user": {"id": HELPER, "is_bot": False, "first_name": "H"}}
    bot.tg.push_message(bot.token, person(OWNER), "hello", extra={"forward_origin": origin})
    assert "Saved" in (await bot.next(OWNER)).text
    assert "Managing Salon Test" in (await bot.say(HELPER, "/admin")).text


async def test_a_forward_from_a_hidden_account_explains_why_it_cannot_be_used(bot: RunningBot) -> None:
    admins = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Admins")
    await bot.press(OWNER, admins, "Add an admin")
    origin = {"type": "hidden_user", "date": 0, "sender_user_name": "Helper"}
    bot.tg.push_message(bot.token, person(OWNER), "hello", extra={"forward_origin": origin})
    answer = await bot.next(OWNER)
    assert "hides" in answer.text and "Helper" in answer.text
    assert await bot.pool.fetchval("SELECT count(*) FROM admins") == 0


async def test_a_block_can_start_at_23_45(bot: RunningBot) -> None:
    await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Block a time")
    assert "Blocked" in (await bot.say(OWNER, "2030-03-05 23:45 15")).text
    assert await bot.pool.fetchval("SELECT count(*) FROM bookings WHERE kind = 'block'") == 1


async def test_back_after_cancelling_returns_to_the_day_being_viewed(bot: RunningBot) -> None:
    await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Block a time")
    await bot.say(OWNER, "2030-03-06 15:00 60")  # Wednesday, two days ahead
    day = await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Today")
    day = await bot.press(OWNER, await bot.press(OWNER, day, "›", exact=True), "›", exact=True)
    assert "We 6 Mar" in day.text
    sure = await bot.press(OWNER, day, "❌ 15:00")
    done = await bot.press(OWNER, sure, "tell the customer")
    back = await bot.press(OWNER, done, "Back")
    assert "We 6 Mar" in back.text, back.text


async def test_owner_sets_a_buffer_after_a_service_and_it_keeps_the_next_start_away(bot: RunningBot) -> None:
    detail = await bot.press(
        OWNER, await bot.press(OWNER, await bot.say(OWNER, "/admin"), "Services"), "Haircut"
    )
    await bot.press(OWNER, detail, "Buffer after")
    assert "multiple of 5" in (await bot.say(OWNER, "7")).text
    assert "Saved" in (await bot.say(OWNER, "30")).text
    assert await bot.pool.fetchval("SELECT buffer_minutes FROM services WHERE id = 1") == 30
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    await bot.book(
        ANN, await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "10:00", exact=True)
    )
    calendar = await bot.press(1002, await bot.press(1002, await bot.say(1002, "/start"), "Book"), "Haircut")
    times = [t for t, _ in (await bot.press(1002, calendar, "5", exact=True)).buttons if ":" in t]
    assert times[:2] == ["11:30", "12:00"]  # 11:00 would start inside the 30-minute buffer
