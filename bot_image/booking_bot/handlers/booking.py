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
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton, Message

from booking_bot import bookings, keyboards, slots
from booking_bot.callbacks import (
    Admin,
    CalendarPage,
    Confirm,
    Menu,
    MyBooking,
    PickDay,
    PickService,
    PickSlot,
    PickStaff,
    pack_day,
    unpack_day,
    unpack_instant,
)
from booking_bot.catalog import get_service, list_services, service_and_performers
from booking_bot.config import Settings
from booking_bot.handlers import caller_mode
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier, moment
from booking_bot.profile import with_contact
from booking_bot.schedule import load_rules
from booking_bot.staff import list_staff
from booking_bot.users import Person, ask_for_phone_once
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.booking")
Clock = Callable[[], dt.datetime]


@dataclass(frozen=True)
class Choice:
    """What is being booked: a service for a new booking, or an existing booking being moved.

    ``staff`` is the chosen master (0: any master who performs the service); ``performers``
    are those whose calendars count.
    """

    service_id: int
    name: str
    minutes: int
    price: object
    rb: int
    staff: int = 0
    performers: tuple[slots.Performer, ...] = ()
    by_owner: bool = False  # an admin moves someone's booking: "Back" leads to the admin's screens
    masters: int = 1  # moving: how many masters perform the service (> 1: another can be chosen)

    @property
    def ignore(self) -> int | None:
        return self.rb or None


def whose(person: Person, is_admin: bool) -> int | None:
    """Whose bookings may be moved here: the customer's own; an admin's: anyone's (None)."""
    return None if is_admin else person.telegram_id


async def resolve_choice(
    pool: asyncpg.Pool, service_id: int, rb: int, user_id: int | None, staff: int = 0
) -> Choice | None:
    if rb:
        # A move keeps the booking's master unless another one is chosen explicitly (``staff``),
        # and keeps what was booked: the duration, price and buffer of the original booking.
        booking = await bookings.get_booking(pool, rb)
        if booking is None or booking.status != "confirmed" or user_id not in (None, booking.user_id):
            return None
        _, everyone = await service_and_performers(pool, booking.service_id or 0)
        own = booking.staff_id or 1
        chosen = staff or own
        if chosen != own and chosen not in {p.staff_id for p in everyone}:
            return None
        performer = slots.Performer(chosen, booking.minutes, booking.price, booking.buffer_minutes)
        return Choice(
            booking.service_id or 0,
            booking.service_name,
            booking.minutes,
            booking.price,
            rb,
            chosen,
            (performer,),
            by_owner=user_id is None,
            masters=len(everyone),
        )
    service, everyone = await service_and_performers(pool, service_id)
    if service is None or not service.is_active:
        return None
    performers = tuple(p for p in everyone if staff in (0, p.staff_id))
    if not performers:
        return None
    # One master (chosen, or the only one): their own duration and price are the ones shown.
    single = performers[0] if len(performers) == 1 else None
    minutes = single.minutes if single else service.duration_minutes
    price = single.price if single else service.price
    return Choice(service.id, service.name, minutes, price, 0, staff, performers)


def _back_from_calendar(t: Texts, choice: Choice) -> InlineKeyboardButton:
    if choice.rb and choice.by_owner:
        return InlineKeyboardButton(
            text=t("back"), callback_data=Admin(action="bcancel", arg=choice.rb).pack()
        )
    if choice.rb:
        return InlineKeyboardButton(
            text=t("back"), callback_data=MyBooking(booking_id=choice.rb, action="view").pack()
        )
    return InlineKeyboardButton(text=t("back"), callback_data=Menu(action="book").pack())


def _other_master(t: Texts, choice: Choice) -> list[InlineKeyboardButton]:
    """Moving: the booking's own master's days are shown; another master is an explicit step."""
    if not choice.rb or choice.masters < 2:
        return []
    data = PickStaff(service_id=choice.service_id, staff=-1, rb=choice.rb).pack()
    return [InlineKeyboardButton(text=t("staff.other"), callback_data=data)]


async def list_services_screen(
    query: CallbackQuery, pool: asyncpg.Pool, texts: Texts, state: FSMContext, is_admin: bool
) -> None:
    items = await list_services(pool)
    if not items:
        await show(query, texts("services.empty"), keyboards.only_home(texts))
        return
    caller = await caller_mode.current(state, query, is_admin)
    title = (
        texts("admin.booking_for", name=caller.name, phone=caller.phone)
        if caller
        else texts("services.title")
    )
    await show(query, title, keyboards.services(texts, items))


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
        pool, first, days, choice.performers, now, tz, ignore_booking=choice.ignore
    )
    has_next = first + dt.timedelta(days=days) < today + dt.timedelta(days=horizon)
    key = "reschedule.calendar" if choice.rb else "calendar.title"
    markup = keyboards.calendar(
        texts,
        service_id=choice.service_id,
        rb=choice.rb,
        staff=choice.staff,
        page=page,
        first=first,
        states=states,
        has_next=has_next,
        back=_back_from_calendar(texts, choice),
        extra=_other_master(texts, choice),
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
    is_admin: bool,
) -> None:
    choice = await resolve_choice(pool, callback_data.service_id, callback_data.rb, whose(person, is_admin))
    if choice is None:
        await alert(query, texts("not_found"))
        return
    if not choice.rb and len(choice.performers) > 1:
        # The master step appears only when there is a choice.
        names = {m.id: m.name or texts("staff.default_name") for m in await list_staff(pool)}
        members = [(p.staff_id or 0, names.get(p.staff_id or 0, "")) for p in choice.performers]
        await show(
            query,
            texts("staff.title", service=choice.name),
            keyboards.staff_choice(texts, choice.service_id, members),
        )
        return
    await show_calendar(query, choice, 0, pool, settings, texts, clock())


async def pick_staff(
    query: CallbackQuery,
    callback_data: PickStaff,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    clock: Clock,
    is_admin: bool,
) -> None:
    rb, staff = callback_data.rb, max(callback_data.staff, 0)
    choice = await resolve_choice(pool, callback_data.service_id, rb, whose(person, is_admin), staff)
    if choice is None:
        await alert(query, texts("not_found"))
        return
    if rb and callback_data.staff < 0:
        _, everyone = await service_and_performers(pool, choice.service_id)
        names = {m.id: m.name or texts("staff.default_name") for m in await list_staff(pool)}
        members = [(p.staff_id or 0, names.get(p.staff_id or 0, "")) for p in everyone]
        await show(
            query,
            texts("staff.move_title", service=choice.name),
            keyboards.move_staff_choice(texts, choice.service_id, rb, choice.staff, members),
        )
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
    is_admin: bool,
) -> None:
    choice = await resolve_choice(
        pool, callback_data.service_id, callback_data.rb, whose(person, is_admin), callback_data.staff
    )
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
    is_admin: bool,
) -> None:
    choice = await resolve_choice(
        pool, callback_data.service_id, callback_data.rb, whose(person, is_admin), callback_data.staff
    )
    if choice is None:
        await alert(query, texts("not_found"))
        return
    now = clock()
    day = unpack_day(callback_data.day)
    starts = await slots.slots_for_day(
        pool, day, choice.performers, now, settings.timezone, ignore_booking=choice.ignore
    )
    page = keyboards.page_of(slots.today_local(now, settings.timezone), day)
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=CalendarPage(
            service_id=choice.service_id, page=page, rb=choice.rb, staff=choice.staff
        ).pack(),
    )
    key = "slots.title" if starts else "slots.none"
    await show(
        query,
        texts(key, service=choice.name, date=texts.date(day)),
        keyboards.slots(
            texts, service_id=choice.service_id, rb=choice.rb, staff=choice.staff, starts=starts, back=back
        ),
    )


async def pick_slot(
    query: CallbackQuery,
    callback_data: PickSlot,
    pool: asyncpg.Pool,
    settings: Settings,
    texts: Texts,
    person: Person,
    is_admin: bool,
    state: FSMContext,
) -> None:
    choice = await resolve_choice(
        pool, callback_data.service_id, callback_data.rb, whose(person, is_admin), callback_data.staff
    )
    if choice is None:
        await alert(query, texts("not_found"))
        return
    at = unpack_instant(callback_data.at)
    day = at.astimezone(settings.timezone).date()
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=PickDay(
            service_id=choice.service_id, day=pack_day(day), rb=choice.rb, staff=choice.staff
        ).pack(),
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
    caller = None if choice.rb else await caller_mode.current(state, query, is_admin)
    if caller:
        text += "\n" + caller.line(texts)
    markup = keyboards.confirm(
        texts, service_id=choice.service_id, rb=choice.rb, staff=choice.staff, at=at, back=back
    )
    await show(query, text, markup)


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
    state: FSMContext,
) -> None:
    at = unpack_instant(callback_data.at)
    now = clock()
    tz = settings.timezone
    choice = await resolve_choice(
        pool, callback_data.service_id, callback_data.rb, whose(person, is_admin), callback_data.staff
    )
    if choice is None:
        await alert(query, texts("not_found"))
        return
    # The owner books for a customer who phoned (handlers.caller_mode): that customer is the user.
    on_behalf = None if choice.rb else await caller_mode.current(state, query, is_admin)
    caller = on_behalf.user_id if on_behalf else 0
    customer = caller or person.telegram_id
    moved_by_owner = False
    try:
        if choice.rb:
            current = await bookings.get_booking(pool, choice.rb)
            moved_by_owner = is_admin and current is not None and current.user_id != person.telegram_id
            cutoff = (await load_rules(pool)).cancel_cutoff_minutes
            before, after = await bookings.reschedule_booking(
                pool,
                choice.rb,
                user_id=None if moved_by_owner else person.telegram_id,
                new_start=at,
                now=now,
                tz=tz,
                cutoff_minutes=cutoff,
                staff_id=choice.staff or None,
            )
        else:
            service = await get_service(pool, choice.service_id)
            if service is None:  # deleted by an admin since the customer chose it
                await alert(query, texts("not_found"))
                return
            after = await bookings.create_booking(
                pool,
                user_id=customer,
                service=service,
                starts_at=at,
                now=now,
                tz=tz,
                staff_id=choice.staff or None,
                by_owner=bool(caller),
                performers=choice.performers,
            )
            before = None
    except (bookings.SlotTaken, bookings.Overlaps) as exc:
        mine = None if choice.rb else await bookings.own_booking_at(pool, customer, choice.service_id, at)
        if mine is not None:
            # A second tap on Confirm meets the customer's own new booking: say it again.
            await show(query, _booked_text(texts, mine), keyboards.main_menu(texts, is_admin=is_admin))
            return
        if isinstance(exc, bookings.Overlaps):
            await show(query, texts("overlaps"), keyboards.main_menu(texts, is_admin=is_admin))
            return
        log.info("slot taken", extra={"event": "slot_taken", "user_id": person.telegram_id})
        await _offer_next(query, choice, at, pool, settings, texts, now)
        return
    except bookings.TooLate:
        cutoff = (await load_rules(pool)).cancel_cutoff_minutes
        text = await with_contact(pool, texts, texts("too_late", cutoff=texts.duration(cutoff)))
        await show(query, text, keyboards.only_home(texts))
        return
    except bookings.Refused:
        await show(query, await with_contact(pool, texts, texts("refused")), keyboards.only_home(texts))
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
    if caller:
        await caller_mode.end(state)
        log.info("booking created", extra={"event": "booking_created", "booking_id": after.id, "by": "admin"})
        text = texts("admin.booked_for", name=after.customer_name, phone=after.customer_phone or "")
        await show(query, text + "\n" + _booked_text(texts, after), keyboards.admin_back(texts, "menu"))
    elif before is None:
        log.info("booking created", extra={"event": "booking_created", "booking_id": after.id})
        text = await with_contact(pool, texts, _booked_text(texts, after))
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
    elif before.starts_at == after.starts_at and before.staff_id == after.staff_id:
        # Moved to the time it already had (or a second tap on the move): nothing changed.
        await show(
            query,
            texts("reschedule.same", date=texts.date(after.starts_at), time=texts.time(after.starts_at)),
            keyboards.main_menu(texts, is_admin=is_admin),
        )
    else:
        log.info(
            "booking rescheduled",
            extra={
                "event": "booking_rescheduled",
                "booking_id": after.id,
                "by": "admin" if moved_by_owner else "customer",
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
        if moved_by_owner:
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


def _booked_text(texts: Texts, booking: bookings.Booking) -> str:
    text = texts(
        "booked",
        service=booking.service_name,
        date=texts.date(booking.starts_at),
        time=texts.time(booking.starts_at),
    )
    if booking.staff_name:
        text += "\n" + texts("staff.line", name=booking.staff_name)
    return text


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
    following = await slots.next_free_slots(
        pool, at, choice.performers, now, tz, ignore_booking=choice.ignore
    )
    back = InlineKeyboardButton(
        text=texts("back"),
        callback_data=CalendarPage(
            service_id=choice.service_id, page=0, rb=choice.rb, staff=choice.staff
        ).pack(),
    )
    key = "slot_taken" if following else "slot_taken.none"
    await show(
        query,
        texts(key, date=texts.date(at), time=texts.time(at)),
        keyboards.slots(
            texts,
            service_id=choice.service_id,
            rb=choice.rb,
            staff=choice.staff,
            starts=following,
            back=back,
            with_date=True,
        ),
    )


def create_router() -> Router:
    router = Router(name="booking")
    router.callback_query.register(list_services_screen, Menu.filter(F.action == "book"))
    router.callback_query.register(pick_service, PickService.filter())
    router.callback_query.register(pick_staff, PickStaff.filter())
    router.callback_query.register(calendar_page, CalendarPage.filter())
    router.callback_query.register(pick_day, PickDay.filter())
    router.callback_query.register(pick_slot, PickSlot.filter())
    router.callback_query.register(confirm, Confirm.filter())
    return router
