"""The owner's desk: what every admin screen about bookings is given, in one object.

Each of those screens needed the same five injected names (pool, settings, texts, clock,
notifier) and began the same way: load the booking a button names, or answer "not found" and
stop. The admin routers' middleware (``handlers.get_routers``) builds a ``Desk`` per update
from the names aiogram injects, so a handler asks for ``desk`` and ``desk.booking(...)``.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiogram.types import CallbackQuery, TelegramObject

from booking_bot import bookings, keyboards, slots
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier
from booking_bot.views import show


@dataclass(frozen=True)
class Desk:
    pool: asyncpg.Pool
    settings: Settings
    texts: Texts
    clock: Clock
    notifier: Notifier

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return self.settings.timezone

    async def not_found(self, query: CallbackQuery) -> None:
        await show(query, self.texts("not_found"), keyboards.admin_back(self.texts))

    async def booking(
        self,
        query: CallbackQuery,
        booking_id: int,
        accept: Callable[[bookings.Booking], bool] = lambda _: True,
    ) -> bookings.Booking | None:
        """The booking a button names, if it (still) exists and ``accept``s; else "not found"
        is shown and None returned."""
        booking = await bookings.get_booking(self.pool, booking_id)
        if booking is None or not accept(booking):
            await self.not_found(query)
            return None
        return booking

    def day_offset(self, booking: bookings.Booking, now: dt.datetime | None = None) -> int:
        """The day view's offset (days from today) that shows ``booking``: where "Back" returns."""
        today = slots.today_local(now or self.clock(), self.tz)
        return (booking.starts_at.astimezone(self.tz).date() - today).days


async def inject(
    handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
    event: TelegramObject,
    data: dict[str, Any],
) -> Any:
    """Inner middleware of the admin routers: runs after their admin filter passed."""
    data["desk"] = Desk(data["pool"], data["settings"], data["texts"], data["clock"], data["notifier"])
    return await handler(event, data)
