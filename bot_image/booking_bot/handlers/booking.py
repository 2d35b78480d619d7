"""Customers book: service -> date (inline calendar) -> time -> confirm.

The same screens serve rescheduling: ``rb`` in the callback data is the booking being moved
(0 for a new booking); its own cells count as free while choosing the new time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg
from aiogram import F, Router
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message

from booking_bot import bookings, keyboards, slots
from booking_bot.callbacks import (
    CalendarPage,
    Confirm,
    Menu,
    MyBooking,
    PickDay,
    PickService,
    PickSlot,
    pack_day,
    unpack_day,
    unpack_instant,
)
from booking_bot.catalog import get_service, list_services
from booking_bot.config import Settings
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier
from booking_bot.schedule import load_rules
from booking_bot.users import Person, ask_for_phone_once
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.booking")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Choice:
    """What is being booked: a service for a new booking, or an existing booking being moved."""

    service_id: int
    name: str
    minutes: int
    price: object
    rb: int

    @property
    def ignore(self) -> int | None:
        return self.rb or None


async def resolve_choice(pool: asyncpg.Pool, service_id: int, rb: int, user_id: int) -> Choice | None:
    if rb:
        booking = await bookings.get_booking(pool, rb)
        if booking is None or booking.user_id != user_id or booking.status != "confirmed":
            return None
        minutes = int((booking.ends_at - booking.starts_at).total_seconds() // 60)
        return Choice(booking.service_id or 0, booking.service_name, minutes, booking.price, rb)
    service = await get_service(pool, service_id)
    if service is None or not service.is_active:
        return None
    return Choice(service.id, service.name, service.duration_minutes, service.price, 0)


def _back_from_calendar(t: Texts, choice: Choice) -> InlineKeyboardButton:
    if choice.rb:
        return InlineKeyboardButton(
            text=t("back"), callback_data=MyBooking(booking_id=choice.rb, action="view").pack()
        )
    return InlineKeyboardButton(text=t("back"), callback_data=Menu(action="book").pack())


async def list_services_screen(query: CallbackQuery, pool: asyncpg.Pool, texts: Texts) -> None:
    items = await list_services(pool)
    if not items:
        await show(query, texts("services.empty"), keyboards.only_home(texts))
        return
    await show(query, texts("services.title"), keyboards.services(texts, items))


async def show_calendar(
    query: CallbackQuery,
    choice: Choice,
    page: int,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    now: dt.datetime,
) -> None:
    tz = settings.timezone
    today = slots.today_local(now, tz)
    horizon = (await load_rules(pool)).horizon_days
    first = keyboards.calendar_first_day(today, page)
    days = 7 * keyboards.CALENDAR_WEEKS
    states = await slots.calendar_states(
        pool, first, days, choice.minutes, now, tz, ignore_booking=choice.ignore
    )
    has_next = first + dt.timedelta(days=days) < today + dt.timedelta(days=horizon)
    key = "reschedule.calendar" if choice.rb else "calendar.title"
    markup = keyboards.calendar(
        texts,
        service_id=choice.service_id,
        rb=choice.rb,
        page=page,
        first=first,
        states=states,
        has_next=has_next,
        back=_back_from_calendar(texts, choice),
    )
    await show(query, texts(key, service=choice.name, duration=texts.duration(choice.minutes)), markup)


async def pick_service(
    query: CallbackQuery,
    callback_data: PickService,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
) -> None:
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, person.telegram_id)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    await show_calendar(query, choice, 0, pool, settings, texts, clock())


async def calendar_page(
    query: CallbackQuery,
    callback_data: CalendarPage,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
) -> None:
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, person.telegram_id)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    await show_calendar(query, choice, max(0, min(callback_data.page, 12)), pool, settings, texts, clock())


async def pick_day(
    query: CallbackQuery,
    callback_data: PickDay,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
) -> None:
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, person.telegram_id)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    now = clock()
    day = unpack_day(callback_data.day)
    starts = await slots.slots_for_day(
        pool, day, choice.minutes, now, settings.timezone, ignore_booking=choice.ignore
    )
    page = keyboards.page_of(slots.today_local(now, settings.timezone), day)
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=CalendarPage(service_id=choice.service_id, page=page, rb=choice.rb).pack(),
    )
    if not starts:
        await show(
            query,
            texts("slots.none", date=texts.date(day)),
            keyboards.slots(texts, service_id=choice.service_id, rb=choice.rb, starts=[], back=back),
        )
        return
    await show(
        query,
        texts("slots.title", service=choice.name, date=texts.date(day)),
        keyboards.slots(texts, service_id=choice.service_id, rb=choice.rb, starts=starts, back=back),
    )


async def pick_slot(
    query: CallbackQuery,
    callback_data: PickSlot,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
) -> None:
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, person.telegram_id)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    at = unpack_instant(callback_data.at)
    day = at.astimezone(settings.timezone).date()
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=PickDay(service_id=choice.service_id, day=pack_day(day), rb=choice.rb).pack(),
    )
    key = "reschedule.confirm" if choice.rb else "confirm.title"
    text = texts(
        key,
        service=choice.name,
        date=texts.date(at),
        time=texts.time(at),
        duration=texts.duration(choice.minutes),
        price=texts.price(choice.price),
    )
    await show(
        query, text, keyboards.confirm(texts, service_id=choice.service_id, rb=choice.rb, at=at, back=back)
    )


async def confirm(
    query: CallbackQuery,
    callback_data: Confirm,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
    notifier: Notifier,
    is_admin: bool,
) -> None:
    at = unpack_instant(callback_data.at)
    now = clock()
    tz = settings.timezone
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, person.telegram_id)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    try:
        if choice.rb:
            cutoff = (await load_rules(pool)).cancel_cutoff_minutes
            before, after = await bookings.reschedule_booking(
                pool,
                choice.rb,
                user_id=person.telegram_id,
                new_start=at,
                now=now,
                tz=tz,
                cutoff_minutes=cutoff,
            )
        else:
            service = await get_service(pool, choice.service_id)
            if service is None:  # deleted by an admin since the customer chose it
                await alert(query, texts("not_found"))
                return
            after = await bookings.create_booking(
                pool, user_id=person.telegram_id, service=service, starts_at=at, now=now, tz=tz
            )
            before = None
    except bookings.SlotTaken:
        log.info("slot taken", extra={"event": "slot_taken", "user_id": person.telegram_id})
        await _offer_next(query, choice, at, pool, settings, texts, now)
        return
    except bookings.TooLate:
        cutoff = (await load_rules(pool)).cancel_cutoff_minutes
        await show(query, texts("too_late", cutoff=texts.duration(cutoff)), keyboards.only_home(texts))
        return
    except bookings.TooManyBookings:
        await show(
            query,
            texts("too_many", limit=bookings.MAX_UPCOMING_PER_CUSTOMER),
            keyboards.main_menu(texts, is_admin=is_admin),
        )
        return
    except bookings.BookingError:
        await show(query, texts("slot_unavailable"), keyboards.only_home(texts))
        return
    if before is None:
        log.info("booking created", extra={"event": "booking_created", "booking_id": after.id})
        await show(
            query,
            texts(
                "booked",
                service=after.service_name,
                date=texts.date(after.starts_at),
                time=texts.time(after.starts_at),
            ),
            keyboards.main_menu(texts, is_admin=is_admin),
        )
        # The admins' notice goes out in the background (it may have to wait out flood control).
        if await ask_for_phone_once(pool, person.telegram_id) and isinstance(query.message, Message):
            await query.message.answer(
                texts("phone.ask", business=settings.business_name), reply_markup=keyboards.share_phone(texts)
            )
        notifier.later(notifier.admins_about(after, "notify.new"))
    else:
        log.info("booking rescheduled", extra={"event": "booking_rescheduled", "booking_id": after.id})
        old = f"{texts.date(before.starts_at)} {texts.time(before.starts_at)}"
        await show(
            query,
            texts(
                "rescheduled",
                service=after.service_name,
                old=old,
                new=f"{texts.date(after.starts_at)} {texts.time(after.starts_at)}",
            ),
            keyboards.main_menu(texts, is_admin=is_admin),
        )
        moved_from = before.starts_at
        notifier.later(
            notifier.admins_about(
                after, "notify.rescheduled", lambda t: {"old": f"{t.date(moved_from)} {t.time(moved_from)}"}
            )
        )


async def _offer_next(
    query: CallbackQuery,
    choice: Choice,
    at: dt.datetime,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    now: dt.datetime,
) -> None:
    """The slot went to someone else: offer the next free ones."""
    tz = settings.timezone
    following = await slots.next_free_slots(pool, at, choice.minutes, now, tz, ignore_booking=choice.ignore)
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=CalendarPage(service_id=choice.service_id, page=0, rb=choice.rb).pack(),
    )
    key = "slot_taken" if following else "slot_taken.none"
    await show(
        query,
        texts(key, date=texts.date(at), time=texts.time(at)),
        keyboards.slots(
            texts, service_id=choice.service_id, rb=choice.rb, starts=following, back=back, with_date=True
        ),
    )


def create_router() -> Router:
    router = Router(name="booking")
    router.callback_query.register(list_services_screen, Menu.filter(F.action == "book"))
    router.callback_query.register(pick_service, PickService.filter())
    router.callback_query.register(calendar_page, CalendarPage.filter())
    router.callback_query.register(pick_day, PickDay.filter())
    router.callback_query.register(pick_slot, PickSlot.filter())
    router.callback_query.register(confirm, Confirm.filter())
    return router
