"""The scripted people: the owner sets up a service, a customer books it, the owner sees it.

Everything goes through the fake Bot API over HTTP to the real bot process, so what is printed
is what the bot really sent; the script only chooses which button to press, by its callback
prefix (the first free day and time, whatever today is) or its label.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg

from harness.telegram import FakeTelegram, SentMessage

from .transcript import Transcript

# The bot's first answer waits for its start-up (migrations checked, aiogram imported).
FIRST_ANSWER_TIMEOUT = 60.0
ANSWER_TIMEOUT = 15.0


@dataclass(frozen=True)
class Person:
    id: int
    name: str

    def as_user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": self.name, "language_code": "en"}


OWNER = Person(500100, "Olga")
CUSTOMER = Person(700200, "Anna")


@dataclass(frozen=True)
class Outcome:
    """What the demo showed, for the caller (and the test) to check against PostgreSQL."""

    booking_confirmation: str
    owner_notification: str
    owner_week_view: str


class Chat:
    """Talks to the bot as Telegram users and prints both sides."""

    def __init__(self, tg: FakeTelegram, token: str, transcript: Transcript) -> None:
        self.tg = tg
        self.token = token
        self.transcript = transcript
        self.timeout = FIRST_ANSWER_TIMEOUT

    async def receive(self, who: Person) -> SentMessage:
        message = await self.tg.next_message(self.token, who.id, timeout=self.timeout)
        self.timeout = ANSWER_TIMEOUT
        self.transcript.shown(who.name, message)
        return message

    async def say(self, who: Person, text: str) -> SentMessage:
        self.transcript.said(who.name, text)
        self.tg.push_message(self.token, who.as_user(), text)
        return await self.receive(who)

    async def press(self, who: Person, message: SentMessage, label: str) -> SentMessage:
        return await self._press(who, message, label, message.button_data(label))

    async def press_first(self, who: Person, message: SentMessage, prefix: str) -> SentMessage:
        """The first button whose callback data starts with ``prefix`` (e.g. the first free day)."""
        for label, data in message.buttons:
            if data and data.startswith(prefix):
                return await self._press(who, message, label, data)
        raise LookupError(f"no button with callback data {prefix}* in {[t for t, _ in message.buttons]}")

    async def _press(self, who: Person, message: SentMessage, label: str, data: str) -> SentMessage:
        shown = next((text for text, d in message.buttons if d == data), label)
        self.transcript.pressed(who.name, shown)
        self.tg.push_callback(self.token, who.as_user(), message, data)
        return await self.receive(who)


async def play(chat: Chat) -> Outcome:
    t = chat.transcript
    t.heading("the owner adds a service")
    await chat.say(OWNER, "/start")
    panel = await chat.say(OWNER, "/admin")
    services = await chat.press(OWNER, panel, "Services")
    await chat.press(OWNER, services, "Add a service")
    await chat.say(OWNER, "Haircut")
    await chat.say(OWNER, "60")
    await chat.say(OWNER, "1500")

    t.heading("a customer books a haircut")
    menu = await chat.say(CUSTOMER, "/start")
    services = await chat.press(CUSTOMER, menu, "Book")
    calendar = await chat.press(CUSTOMER, services, "Haircut")
    times = await chat.press_first(CUSTOMER, calendar, "d2:")  # the first day with a free time
    confirm = await chat.press_first(CUSTOMER, times, "t2:")  # its first free time
    done = await chat.press(CUSTOMER, confirm, "Confirm")
    await chat.receive(CUSTOMER)  # asked once whether the business may have the phone number
    await chat.say(CUSTOMER, "Not now")

    t.heading("the owner is told, and sees it in the week view")
    notification = await chat.receive(OWNER)
    panel = await chat.say(OWNER, "/admin")
    week = await chat.press(OWNER, panel, "Week")
    return Outcome(
        booking_confirmation=done.text, owner_notification=notification.text, owner_week_view=week.text
    )


async def stored_bookings(database_url: str) -> list[asyncpg.Record]:
    """The bookings as the tenant's own role reads them (search_path = its schema)."""
    conn = await asyncpg.connect(database_url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT b.id, s.name AS service, b.user_id, b.starts_at, b.status"
            " FROM bookings b JOIN services s ON s.id = b.service_id ORDER BY b.id"
        )
        return rows
    finally:
        await conn.close()


def describe(row: asyncpg.Record) -> str:
    starts: dt.datetime = row["starts_at"]
    return (
        f"booking #{row['id']}: {row['service']}, {starts:%Y-%m-%d %H:%M} UTC, "
        f"customer {row['user_id']}, {row['status']}"
    )
