"""Customers' own bookings: list, cancel (up to the owner's cutoff), reschedule."""

from __future__ import annotations

import logging

import asyncpg
from aiogram import F, Router
from aiogram.types import CallbackQuery

from booking_bot import bookings, keyboards
from booking_bot.callbacks import Menu, MyBooking
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.handlers.choice import resolve_choice
from booking_bot.handlers.picking import show_calendar
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier
from booking_bot.profile import with_contact
from booking_bot.schedule import load_rules
from booking_bot.users import Person
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.my_bookings")


async def list_mine(
    query: CallbackQuery, pool: asyncpg.Pool, texts: Texts, person: Person, clock: Clock
) -> None:
    items = await bookings.upcoming_for_user(pool, person.telegram_id, clock())
    if not items:
        await show(query, texts("my.empty"), keyboards.only_home(texts))
        return
    await show(query, texts("my.title"), keyboards.my_bookings(texts, items))


async def _own(pool: asyncpg.Pool, booking_id: int, person: Person) -> bookings.Booking | None:
    booking = await bookings.get_booking(pool, booking_id)
    if booking is None or booking.user_id != person.telegram_id or booking.status != "confirmed":
        return None
    return booking


async def booking_action(
    query: CallbackQuery,
    callback_data: MyBooking,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
    notifier: Notifier,
    is_admin: bool,
) -> None:
    booking = await _own(pool, callback_data.booking_id, person)
    if booking is None:
        await show(query, texts("not_found"), keyboards.only_home(texts))
        return
    values = {
        "service": booking.service_name,
        "date": texts.date(booking.starts_at),
        "time": texts.time(booking.starts_at),
    }
    action = callback_data.action
    if action == "view":
        cutoff = (await load_rules(pool)).cancel_cutoff_minutes
        await show(
            query,
            texts(
                "booking.detail", price=texts.price(booking.price), cutoff=texts.duration(cutoff), **values
            ),
            keyboards.booking_actions(texts, booking),
        )
    elif action == "cancel":
        await show(query, texts("cancel.confirm", **values), keyboards.cancel_confirm(texts, booking))
    elif action == "cancel_yes":
        cutoff = (await load_rules(pool)).cancel_cutoff_minutes
        try:
            cancelled = await bookings.cancel_booking(
                pool,
                booking.id,
                by="customer",
                user_id=person.telegram_id,
                now=clock(),
                cutoff_minutes=cutoff,
            )
        except bookings.TooLate:
            too_late = texts("too_late", cutoff=texts.duration(cutoff))
            await alert(query, await with_contact(pool, texts, too_late, limit=200))
            return
        except bookings.NotFound:
            await show(query, texts("not_found"), keyboards.only_home(texts))
            return
        log.info(
            "booking cancelled",
            extra={"event": "booking_cancelled", "booking_id": booking.id, "by": "customer"},
        )
        await show(query, texts("cancel.done", **values), keyboards.main_menu(texts, is_admin=is_admin))
        notifier.later(notifier.admins_about(cancelled, "notify.cancelled"))
    elif action == "coming":
        confirmed = await bookings.customer_confirms(pool, booking.id, person.telegram_id, clock())
        log.info("customer confirmed", extra={"event": "customer_confirmed", "booking_id": booking.id})
        await show(query, texts("reminder.thanks", **values), keyboards.main_menu(texts, is_admin=is_admin))
        if booking.customer_confirmed_at is None:
            notifier.later(notifier.admins_about(confirmed, "notify.confirmed"))
    elif action == "move":
        cutoff = (await load_rules(pool)).cancel_cutoff_minutes
        now = clock()
        if (booking.starts_at - now).total_seconds() < cutoff * 60:
            too_late = texts("too_late", cutoff=texts.duration(cutoff))
            await alert(query, await with_contact(pool, texts, too_late, limit=200))
            return
        choice = await resolve_choice(pool, 0, booking.id, person.telegram_id)
        if choice is None:
            await show(query, texts("not_found"), keyboards.only_home(texts))
            return
        await show_calendar(query, choice, 0, pool, settings, texts, now)


def create_router() -> Router:
    router = Router(name="my_bookings")
    router.callback_query.register(list_mine, Menu.filter(F.action == "my"))
    router.callback_query.register(booking_action, MyBooking.filter())
    return router
