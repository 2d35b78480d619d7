"""Messages the bot sends on its own: admin notifications, customer notices, reminders."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
from aiogram import Bot
from aiogram.exceptions import TelegramAPIError, TelegramForbiddenError, TelegramNetworkError
from aiogram.types import InlineKeyboardMarkup

from booking_bot import bookings
from booking_bot.bookings import Booking
from booking_bot.i18n import I18n, Texts
from booking_bot.keyboards import reminder_keyboard
from booking_bot.profile import contact_text, load_profile
from booking_bot.reminders import DueReminder
from booking_bot.schedule import load_rules
from booking_bot.users import Admins, mark_blocked

log = logging.getLogger("booking_bot.notify")

# A first booking's notice waits this long for the customer's phone, then goes out without it.
HOLD_NOTICE = dt.timedelta(minutes=10)


def moment(t: Texts, booking: Booking, *, master: bool = False) -> str:
    """ "Tu 5 Mar 11:00", with " · Anna" when a move changed the master."""
    text = f"{t.date(booking.starts_at)} {t.time(booking.starts_at)}"
    return f"{text} · {booking.staff_name or t('staff.default_name')}" if master else text


class Notifier:
    def __init__(self, bot: Bot, pool: asyncpg.Pool, admins: Admins, i18n: I18n) -> None:
        self.bot = bot
        self.pool = pool
        self.admins = admins
        self.i18n = i18n
        self._background: set[asyncio.Task[None]] = set()

    def later(self, notice: Coroutine[Any, Any, None]) -> None:
        """Send a notice in the background: a flood wait on the owner's chat must not hold up
        the customer's conversation. ``drain()`` at shutdown lets them finish."""
        task = asyncio.create_task(notice)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.warning("notice failed", extra={"event": "notice_failed", "error": type(exc).__name__})

    async def drain(self, grace: float) -> None:
        """Wait up to ``grace`` seconds for notices still being sent, then cancel the rest."""
        if not self._background:
            return
        _, pending = await asyncio.wait(set(self._background), timeout=grace)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def send(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> str | None:
        """Send a message; None when delivered, else a short error name (never raises)."""
        try:
            await self.bot.send_message(chat_id, text, reply_markup=markup)
        except TelegramForbiddenError:
            log.info("user blocked the bot", extra={"event": "user_blocked", "chat_id": chat_id})
            await mark_blocked(self.pool, chat_id)
            return "blocked"
        except (TelegramAPIError, TelegramNetworkError) as exc:
            log.warning(
                "send failed", extra={"event": "send_failed", "chat_id": chat_id, "error": type(exc).__name__}
            )
            return type(exc).__name__
        return None

    async def _language(self, telegram_id: int) -> Texts:
        code = await self.pool.fetchval("SELECT language_code FROM users WHERE telegram_id = $1", telegram_id)
        return self.i18n.for_user(code)

    async def admins_about(
        self, booking: Booking, key: str, extra: Callable[[Texts], dict[str, str]] | None = None
    ) -> None:
        """Tell every admin about a booking event (``notify.new``, ``notify.cancelled``...)."""
        for admin_id in await self.admins.all_ids():
            t = await self._language(admin_id)
            values = {
                "service": booking.service_name,
                "date": t.date(booking.starts_at),
                "time": t.time(booking.starts_at),
                "customer": customer_label(booking),
            }
            if extra:
                values.update(extra(t))
            await self.send(admin_id, t(key, **values))

    async def release_for(self, user_id: int) -> None:
        """The customer answered the phone question: their held notices go out now."""
        for booking in await bookings.release_notices(self.pool, user_id=user_id):
            await self.admins_about(booking, "notify.new")

    async def release_held(self, now: dt.datetime) -> int:
        """Notices held longer than HOLD_NOTICE go out (the customer never answered)."""
        held = await bookings.release_notices(self.pool, held_before=now - HOLD_NOTICE)
        for booking in held:
            await self.admins_about(booking, "notify.new")
        return len(held)

    async def customer_cancelled_by_admin(self, booking: Booking, business: str) -> None:
        if booking.user_id is None or booking.user_id < 0:
            return
        t = self.i18n.for_user(booking.customer_language)
        await self.send(
            booking.user_id,
            t(
                "notify.cancelled_by_admin",
                service=booking.service_name,
                date=t.date(booking.starts_at),
                time=t.time(booking.starts_at),
                business=business,
            ),
        )

    async def customer_moved_by_admin(self, before: Booking, after: Booking, business: str) -> None:
        if after.user_id is None or after.user_id < 0:
            return  # a customer who phoned: no Telegram chat to write to
        t = self.i18n.for_user(after.customer_language)
        master = before.staff_id != after.staff_id
        await self.send(
            after.user_id,
            t(
                "notify.moved_by_admin",
                business=business,
                service=after.service_name,
                old=moment(t, before, master=master),
                new=moment(t, after, master=master),
            ),
        )

    async def reminder(self, reminder: DueReminder) -> str | None:
        """The reminder, with "I'm coming" and, while still allowed, move and cancel buttons."""
        t = self.i18n.for_user(reminder.language_code)
        rules = await load_rules(self.pool)
        can_change = reminder.offset_minutes >= rules.cancel_cutoff_minutes
        text = t(
            "reminder",
            service=reminder.service_name,
            date=t.date(reminder.starts_at),
            time=t.time(reminder.starts_at),
            left=t.duration(reminder.offset_minutes),
        )
        contact = contact_text(await load_profile(self.pool), t)
        if contact:
            text = f"{text}\n{contact}"
        return await self.send(reminder.user_id, text, reminder_keyboard(t, reminder.booking_id, can_change))


def customer_label(booking: Booking) -> str:
    """Name, @username and phone as far as known: what the owner needs to reach the customer."""
    parts = [booking.customer_name or str(booking.user_id or "")]
    if booking.customer_username:
        parts.append(f"@{booking.customer_username}")
    if booking.customer_phone:
        parts.append(booking.customer_phone)
    return " · ".join(parts)
