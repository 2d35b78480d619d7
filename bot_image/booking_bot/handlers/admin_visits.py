"""The owner's day: visits that have begun (done / no-show), moving any booking, the client
card with its note and block list, and booking for a customer who phoned."""

from __future__ import annotations

import logging

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from booking_bot import bookings, customers, keyboards
from booking_bot.callbacks import Admin
from booking_bot.catalog import list_services
from booking_bot.clock import Clock
from booking_bot.handlers import caller_mode
from booking_bot.handlers.admin import booking_line
from booking_bot.handlers.choice import resolve_choice
from booking_bot.handlers.desk import Desk
from booking_bot.handlers.picking import show_calendar
from booking_bot.i18n import Texts
from booking_bot.views import show

log = logging.getLogger("booking_bot.admin")


class VisitInput(StatesGroup):
    caller = State()
    note = State()


async def visit_view(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    """A visit that has begun: record how it went (it is not cancelled any more)."""
    booking = await desk.booking(query, callback_data.arg, lambda b: b.kind == "customer")
    if booking is None:
        return
    texts, back = desk.texts, desk.day_offset(booking)
    text = texts("admin.visit", line=f"{texts.date(booking.starts_at)} {booking_line(texts, booking)}")
    rows = [
        [
            keyboards.admin_button(texts, "admin.btn.done", "done", booking.id),
            keyboards.admin_button(texts, "admin.btn.no_show", "no_show", booking.id),
        ],
        [keyboards.admin_button(texts, "admin.btn.client", "client", booking.user_id or 0)],
        [keyboards.admin_button(texts, "back", "day", back)],
    ]
    await show(query, text, InlineKeyboardMarkup(inline_keyboard=rows))


async def outcome(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    now = desk.clock()
    try:
        booking = await bookings.record_outcome(desk.pool, callback_data.arg, callback_data.action, now)
    except bookings.NotFound:
        await desk.not_found(query)
        return
    log.info(
        "visit outcome", extra={"event": "visit_outcome", "booking_id": booking.id, "outcome": booking.status}
    )
    back = desk.day_offset(booking, now)
    texts = desk.texts
    await show(query, texts(f"admin.outcome.{booking.status}"), keyboards.admin_back(texts, "day", back))


async def move_booking(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    """The owner moves any customer's booking: the customer's own calendar screens, then the
    customer is told (see handlers.confirming.confirm)."""
    choice = await resolve_choice(desk.pool, 0, callback_data.arg, None)
    if choice is None:
        await desk.not_found(query)
        return
    await show_calendar(query, choice, 0, desk.pool, desk.settings, desk.texts, desk.clock())


async def _card_screen(
    event: CallbackQuery | Message, user_id: int, pool: asyncpg.Pool, texts: Texts, clock: Clock
) -> None:
    card = await customers.card(pool, user_id, clock())
    if card is None:
        await show(event, texts("not_found"), keyboards.admin_back(texts))
        return
    contact = " · ".join(p for p in (f"@{card.username}" if card.username else "", card.phone or "") if p)
    text = texts(
        "admin.card",
        name=card.name or str(card.user_id),
        contact=contact or "—",
        visits=card.visits,
        no_shows=card.no_shows,
        cancelled=card.cancelled,
        upcoming=card.upcoming,
        note=card.note or "—",
    )
    if card.offline:
        text += "\n" + texts("admin.card_offline")
    if card.refused:
        text += "\n" + texts("admin.card_refused")
    rows = [
        [keyboards.admin_button(texts, "admin.btn.note", "client_note", card.user_id)],
        [
            keyboards.admin_button(
                texts,
                "admin.btn.unrefuse" if card.refused else "admin.btn.refuse",
                "client_refuse",
                card.user_id,
            )
        ],
        [keyboards.admin_button(texts, "back", "day"), keyboards.home_button(texts)],
    ]
    await show(event, text, InlineKeyboardMarkup(inline_keyboard=rows))


async def client_card(
    query: CallbackQuery,
    callback_data: Admin,
    state: FSMContext,
    pool: asyncpg.Pool,
    texts: Texts,
    clock: Clock,
) -> None:
    await state.clear()
    await _card_screen(query, callback_data.arg, pool, texts, clock)


async def client_refuse(
    query: CallbackQuery, callback_data: Admin, pool: asyncpg.Pool, texts: Texts, clock: Clock
) -> None:
    card = await customers.card(pool, callback_data.arg, clock())
    if card is None:
        await show(query, texts("not_found"), keyboards.admin_back(texts))
        return
    await customers.set_refused(pool, card.user_id, not card.refused)
    log.info(
        "customer refused" if not card.refused else "customer accepted", extra={"event": "client_refused"}
    )
    await _card_screen(query, card.user_id, pool, texts, clock)


async def note_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    await state.set_state(VisitInput.note)
    await state.update_data(client=callback_data.arg)
    await show(query, texts("admin.prompt.note"), keyboards.admin_back(texts, "client", callback_data.arg))


async def note_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, clock: Clock
) -> None:
    user_id = int((await state.get_data()).get("client", 0))
    await customers.set_note(pool, user_id, (message.text or "").strip())
    await state.clear()
    await _card_screen(message, user_id, pool, texts, clock)


async def caller_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(VisitInput.caller)
    await show(query, texts("admin.prompt.caller"), keyboards.admin_back(texts))


async def caller_input(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    parsed = customers.parse_name_and_phone(message.text or "")
    if parsed is None:
        await message.answer(texts("admin.bad_caller"), reply_markup=keyboards.admin_back(texts))
        return
    user_id = await customers.add_offline(pool, *parsed)
    # The service/day/time screens that follow are the customer's own, editing this one
    # message; Confirm pressed there books for the caller (handlers.caller_mode).
    items = await list_services(pool)
    screen = await message.answer(
        texts("admin.booking_for", name=parsed[0], phone=parsed[1]),
        reply_markup=keyboards.services(texts, items),
    )
    await caller_mode.begin(state, caller_mode.Caller(user_id, *parsed), screen)


def create_router() -> Router:
    router = Router(name="admin_visits")
    router.callback_query.register(visit_view, Admin.filter(F.action == "visit"))
    router.callback_query.register(outcome, Admin.filter(F.action.in_(set(bookings.OUTCOMES))))
    router.callback_query.register(move_booking, Admin.filter(F.action == "bmove"))
    router.callback_query.register(client_card, Admin.filter(F.action == "client"))
    router.callback_query.register(client_refuse, Admin.filter(F.action == "client_refuse"))
    router.callback_query.register(note_prompt, Admin.filter(F.action == "client_note"))
    router.message.register(note_input, StateFilter(VisitInput.note), F.text)
    router.callback_query.register(caller_prompt, Admin.filter(F.action == "caller"))
    router.message.register(caller_input, StateFilter(VisitInput.caller), F.text)
    return router
