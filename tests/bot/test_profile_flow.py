"""The business profile and time zone: the owner sets them, customers see them."""

from __future__ import annotations

import datetime as dt

from harness.telegram import FakeTelegram

from .conftest import OWNER, RunningBot, Tenant, person, run_bot

ANN = 1001


async def _set(bot: RunningBot, button: str, value: str) -> str:
    screen = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Business profile")
    await bot.press(OWNER, screen, button)
    return (await bot.say(OWNER, value)).text


async def test_the_owner_sets_address_phone_and_location_and_customers_see_them(bot: RunningBot) -> None:
    assert "Lenina 1, Kazan" in await _set(bot, "Address", "Lenina 1, Kazan")
    assert "not look like a phone" in await _set(bot, "Phone", "call me")
    assert "+78431234567" in await _set(bot, "Phone", "+7 843 123-45-67")
    screen = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Business profile")
    await bot.press(OWNER, screen, "Map location")
    bot.tg.push_message(
        bot.token, person(OWNER), "", extra={"location": {"latitude": 55.796, "longitude": 49.108}}
    )
    assert "55.79600, 49.10800" in (await bot.next(OWNER)).text
    menu = await bot.say(ANN, "/start")
    assert "📍 Lenina 1, Kazan" in menu.text and "☎️ +78431234567" in menu.text
    bot.click(ANN, menu, menu.button_data("How to find us"))
    venue = await bot.next(ANN)
    assert venue.method == "sendVenue"
    assert venue.raw["venue"]["address"] == "Lenina 1, Kazan"
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    assert "📍 Lenina 1, Kazan" in (await bot.book(ANN, confirm)).text


async def test_the_owners_time_zone_moves_every_slot(bot: RunningBot) -> None:
    assert "Unknown time zone" in await _set(bot, "Time zone", "Mars/Olympus")
    assert "Asia/Yekaterinburg" in await _set(bot, "Time zone", "Asia/Yekaterinburg")  # UTC+5
    menu = await bot.say(ANN, "/start")
    calendar = await bot.press(ANN, await bot.press(ANN, menu, "Book"), "Haircut")
    confirm = await bot.press(ANN, await bot.press(ANN, calendar, "5", exact=True), "11:00", exact=True)
    assert "Tu 5 Mar at 11:00" in confirm.text
    await bot.book(ANN, confirm)
    assert "Tu 5 Mar 11:00" in (await bot.next(OWNER)).text  # the owner's notice, in the new zone
    starts = await bot.pool.fetchval("SELECT starts_at FROM bookings")
    assert starts == dt.datetime(2030, 3, 5, 6, 0, tzinfo=dt.UTC)  # 11:00 in Yekaterinburg
    assert await bot.pool.fetchval("SELECT timezone FROM settings") == "Asia/Yekaterinburg"
    assert "subscription" in await _set(bot, "Time zone", "-")  # back to TENANT_TIMEZONE


async def _book_eleven_on_tuesday(bot: RunningBot, user: int) -> dt.datetime:
    menu = await bot.say(user, "/start")
    calendar = await bot.press(user, await bot.press(user, menu, "Book"), "Haircut")
    confirm = await bot.press(user, await bot.press(user, calendar, "5", exact=True), "11:00", exact=True)
    assert "Tu 5 Mar at 11:00" in confirm.text
    await bot.book(user, confirm)
    assert "5 " in (notice := (await bot.next(OWNER)).text) and "11:00" in notice  # same zone
    starts: dt.datetime = await bot.pool.fetchval(
        "SELECT starts_at FROM bookings WHERE user_id = $1 AND status = 'confirmed'", user
    )
    return starts


async def test_a_new_bot_offers_slots_in_the_zone_of_its_tenant(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    async with run_bot(telegram, seeded_tenant, owner=OWNER, timezone="Asia/Yekaterinburg") as bot:
        assert await _book_eleven_on_tuesday(bot, ANN) == dt.datetime(2030, 3, 5, 6, 0, tzinfo=dt.UTC)
        assert await bot.pool.fetchval("SELECT timezone FROM settings") is None  # nothing stored


async def test_the_owners_zone_in_the_bot_wins_over_the_tenants_after_a_restart(
    telegram: FakeTelegram, seeded_tenant: Tenant
) -> None:
    async with run_bot(telegram, seeded_tenant, owner=OWNER, timezone="Asia/Yekaterinburg") as bot:
        assert "Asia/Vladivostok" in await _set(bot, "Time zone", "Asia/Vladivostok")
    # The bot starts again with the tenant's zone (a restart, a new pod, a move between runtimes).
    async with run_bot(telegram, seeded_tenant, owner=OWNER, timezone="Asia/Yekaterinburg") as bot:
        assert await _book_eleven_on_tuesday(bot, ANN) == dt.datetime(2030, 3, 5, 1, 0, tzinfo=dt.UTC)
        screen = await bot.press(OWNER, await bot.say(OWNER, "/admin", lang="en"), "Business profile")
        assert "Asia/Vladivostok" in screen.text
        await bot.press(OWNER, screen, "Time zone")
        await bot.say(OWNER, "-")  # back to the tenant's zone
        assert await _book_eleven_on_tuesday(bot, 1002) == dt.datetime(2030, 3, 5, 6, 0, tzinfo=dt.UTC)
