"""The screens after "Confirm" succeeded, and who else is told: a booking made, or moved.

Each outcome answers the customer (or the owner) in the message of the flow and hands the
notices to the notifier's background queue, so a flood-limited admin chat never delays the
answer. A new customer's first booking asks for a phone number first; the owner's notice waits
for that answer (``bookings.hold_notice``), so that it carries the number.
"""

from __future__ import annotations

import datetime as dt
import logging

import asyncpg
from aiogram.types import CallbackQuery, Message

from booking_bot import bookings, keyboards
from booking_bot.config import Settings
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier, moment
from booking_bot.profile import with_contact
from booking_bot.users import Person, ask_for_phone_once
from booking_bot.views import show

log = logging.getLogger("booking_bot.booking")


def booked_text(texts: Texts, booking: bookings.Booking) -> str:
    text = texts(
        "booked",
        service=booking.service_name,
        date=texts.date(booking.starts_at),
        time=texts.time(booking.starts_at),
    )
    if booking.staff_name:
        text += "\n" + texts("staff.line", name=booking.staff_name)
    return text


async def booked_for_caller(query: CallbackQuery, after: bookings.Booking, texts: Texts) -> None:
    """The owner booked for a customer who phoned: nobody is told, the customer has no chat."""
    log.info("booking created", extra={"event": "booking_created", "booking_id": after.id, "by": "admin"})
    text = texts("admin.booked_for", name=after.customer_name, phone=after.customer_phone or "")
    await show(query, text + "\n" + booked_text(texts, after), keyboards.admin_back(texts, "menu"))


async def booked(
    query: CallbackQuery,
    after: bookings.Booking,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    notifier: Notifier,
    is_admin: bool,
    now: dt.datetime,
) -> None:
    log.info("booking created", extra={"event": "booking_created", "booking_id": after.id})
    text = await with_contact(pool, texts, booked_text(texts, after))
    await show(query, text, keyboards.main_menu(texts, is_admin=is_admin))
    if await ask_for_phone_once(pool, person.telegram_id) and isinstance(query.message, Message):
        # The owner's notice waits for the answer, so that it carries the phone number.
        await bookings.hold_notice(pool, after.id, now)
        await query.message.answer(
            texts("phone.ask", business=settings.business_name), reply_markup=keyboards.share_phone(texts)
        )
    else:
        # The admins' notice goes out in the background (it may have to wait out flood control).
        notifier.later(notifier.admins_about(after, "notify.new"))


async def moved(
    query: CallbackQuery,
    before: bookings.Booking,
    after: bookings.Booking,
    settings: Settings,
    texts: Texts,
    notifier: Notifier,
    is_admin: bool,
    by_owner: bool,
) -> None:
    """A move: the customer is told when the owner moved it, the admins when the customer did."""
    if before.starts_at == after.starts_at and before.staff_id == after.staff_id:
        # Moved to the time it already had (or a second tap on the move): nothing changed.
        await show(
            query,
            texts("reschedule.same", date=texts.date(after.starts_at), time=texts.time(after.starts_at)),
            keyboards.main_menu(texts, is_admin=is_admin),
        )
        return
    log.info(
        "booking rescheduled",
        extra={
            "event": "booking_rescheduled",
            "booking_id": after.id,
            "by": "admin" if by_owner else "customer",
        },
    )
    master = before.staff_id != after.staff_id
    await show(
        query,
        texts(
            "rescheduled",
            service=after.service_name,
            old=moment(texts, before, master=master),
            new=moment(texts, after, master=master),
        ),
        keyboards.main_menu(texts, is_admin=is_admin),
    )
    if by_owner:
        notifier.later(notifier.customer_moved_by_admin(before, after, settings.business_name))
    else:
        notifier.later(
            notifier.admins_about(
                after,
                "notify.rescheduled",
                lambda t: {
                    "old": moment(t, before, master=master),
                    "time": moment(t, after, master=master).removeprefix(t.date(after.starts_at) + " "),
                },
            )
        )
