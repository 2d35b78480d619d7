"""What a customer is booking, rebuilt from the callback data of every screen of the flow.

A screen's buttons carry only ids (service, master, ``rb``: the booking being moved, 0 for a new
booking), never what was shown: every press reads the service, its performers or the booking
again, so a service hidden or a master removed meanwhile answers "not found" instead of booking
what no longer exists. A move keeps what was booked (duration, price, buffer, master) unless
another master is chosen explicitly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import asyncpg
from aiogram.types import CallbackQuery

from booking_bot import bookings, slots
from booking_bot.catalog import service_and_performers
from booking_bot.i18n import Texts
from booking_bot.users import Person
from booking_bot.views import alert


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


class ChoiceData(Protocol):
    """What every button of the flow carries (``callbacks.PickService`` ... ``Confirm``)."""

    @property
    def service_id(self) -> int: ...

    @property
    def rb(self) -> int: ...


async def chosen(
    query: CallbackQuery,
    data: ChoiceData,
    pool: asyncpg.Pool,
    texts: Texts,
    person: Person,
    is_admin: bool,
    staff: int = 0,
) -> Choice | None:
    """The Choice a pressed button names, or None once "not found" has been shown to the user."""
    choice = await resolve_choice(pool, data.service_id, data.rb, whose(person, is_admin), staff)
    if choice is None:
        await alert(query, texts("not_found"))
    return choice
