"""Choosing a booking's service, master, day and time: every screen before "Confirm".

service -> master (only when more than one performs it) -> day (an inline calendar) -> time ->
the confirmation screen. The same screens serve a move: ``rb`` in the callback data is the
booking being moved (0 for a new booking); its own cells count as free while choosing the new
time, and another master is an explicit step (``staff=-1``), offered only when one exists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import asyncpg
from aiogram import F, Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton

from booking_bot import keyboards, slots
from booking_bot.callbacks import (
    Admin,
    CalendarPage,
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
from booking_bot.catalog import list_services, service_and_performers
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.handlers import caller_mode
from booking_bot.handlers.choice import Choice, chosen
from booking_bot.i18n import Texts
from booking_bot.schedule import load_rules
from booking_bot.staff import list_staff
from booking_bot.users import Person
from booking_bot.views import show


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


async def _masters(
    pool: asyncpg.Pool, texts: Texts, performers: Iterable[slots.Performer]
) -> list[tuple[int, str]]:
    """(staff id, name) of each performer, for the master buttons."""
    names = {m.id: m.name or texts("staff.default_name") for m in await list_staff(pool)}
    return [(p.staff_id or 0, names.get(p.staff_id or 0, "")) for p in performers]


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
    choice = await chosen(query, callback_data, pool, texts, person, is_admin)
    if choice is None:
        return
    if not choice.rb and len(choice.performers) > 1:
        # The master step appears only when there is a choice.
        members = await _masters(pool, texts, choice.performers)
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
    rb = callback_data.rb
    choice = await chosen(query, callback_data, pool, texts, person, is_admin, max(callback_data.staff, 0))
    if choice is None:
        return
    if rb and callback_data.staff < 0:
        _, everyone = await service_and_performers(pool, choice.service_id)
        members = await _masters(pool, texts, everyone)
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
    choice = await chosen(query, callback_data, pool, texts, person, is_admin, callback_data.staff)
    if choice is None:
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
    choice = await chosen(query, callback_data, pool, texts, person, is_admin, callback_data.staff)
    if choice is None:
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
    choice = await chosen(query, callback_data, pool, texts, person, is_admin, callback_data.staff)
    if choice is None:
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


def create_router() -> Router:
    router = Router(name="booking.picking")
    router.callback_query.register(list_services_screen, Menu.filter(F.action == "book"))
    router.callback_query.register(pick_service, PickService.filter())
    router.callback_query.register(pick_staff, PickStaff.filter())
    router.callback_query.register(calendar_page, CalendarPage.filter())
    router.callback_query.register(pick_day, PickDay.filter())
    router.callback_query.register(pick_slot, PickSlot.filter())
    return router
