""" "Confirm": the booking is made (or moved) now, or the customer is told why not.

Everything shown before was a snapshot; the write is the check. A slot taken meanwhile offers
the next free ones, a second tap on "Confirm" meets the customer's own new booking and shows it
again, and each refusal of ``bookings`` (too late to move, refused, too many bookings) has its
own answer. What a success shows and whom it tells lives in ``handlers.booked``.
"""

from __future__ import annotations

import datetime as dt
import logging

import asyncpg
from aiogram import Router
from aiogram.fsm.context import FSMContext
from aiogram.types import CallbackQuery, InlineKeyboardButton

from booking_bot import bookings, keyboards, slots
from booking_bot.callbacks import CalendarPage, Confirm, unpack_instant
from booking_bot.catalog import get_service
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.handlers import caller_mode
from booking_bot.handlers.booked import booked, booked_for_caller, booked_text, moved
from booking_bot.handlers.choice import Choice, chosen
from booking_bot.i18n import Texts
from booking_bot.notify import Notifier
from booking_bot.profile import with_contact
from booking_bot.schedule import load_rules
from booking_bot.users import Person
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.booking")


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
    choice = await chosen(query, callback_data, pool, texts, person, is_admin, callback_data.staff)
    if choice is None:
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
            await show(query, booked_text(texts, mine), keyboards.main_menu(texts, is_admin=is_admin))
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
        await booked_for_caller(query, after, texts)
    elif before is None:
        await booked(query, after, pool, settings, texts, person, notifier, is_admin, now)
    else:
        await moved(query, before, after, settings, texts, notifier, is_admin, moved_by_owner)


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
    router = Router(name="booking.confirming")
    router.callback_query.register(confirm, Confirm.filter())
    return router
