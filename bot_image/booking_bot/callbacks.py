"""Versioned CallbackData factories shared by the handlers and the keyboards.

They live in one module rather than next to each handler because ``keyboards`` needs them
too, and handlers import keyboards: defining them in the handler modules would make that
import circular.

The prefix carries a version digit: when a payload's shape changes, bump it, and buttons
from old messages stop matching instead of being misread. Payloads stay under Telegram's
64-byte limit (dates as ``yyyymmdd``, instants as minutes since the epoch).
"""

from __future__ import annotations

import datetime as dt

from aiogram.filters.callback_data import CallbackData


class Menu(CallbackData, prefix="m1"):
    action: str  # home | book | my | admin


class Noop(CallbackData, prefix="n1"):
    why: str = ""


class PickService(CallbackData, prefix="s1"):
    service_id: int
    rb: int = 0  # > 0: rescheduling this booking


class PickStaff(CallbackData, prefix="w2"):
    service_id: int
    staff: int  # 0: any master; with rb: -1 lists the masters to move the booking to
    rb: int = 0  # > 0: moving this booking to another master (an explicit choice)


class CalendarPage(CallbackData, prefix="c2"):
    service_id: int
    page: int
    rb: int = 0
    staff: int = 0  # 0: any master who performs the service


class PickDay(CallbackData, prefix="d2"):
    service_id: int
    day: int  # yyyymmdd
    rb: int = 0
    staff: int = 0


class PickSlot(CallbackData, prefix="t2"):
    service_id: int
    at: int  # minutes since the epoch, UTC
    rb: int = 0
    staff: int = 0


class Confirm(CallbackData, prefix="k2"):
    service_id: int
    at: int
    rb: int = 0
    staff: int = 0


class MyBooking(CallbackData, prefix="b1"):
    booking_id: int
    action: str  # view | cancel | cancel_yes | move


class Admin(CallbackData, prefix="a1"):
    action: str
    arg: int = 0


class StaffAdmin(CallbackData, prefix="f1"):
    """The owner's screens of one staff member: ``arg`` is a service id or a weekday."""

    action: str
    staff: int
    arg: int = 0


def pack_day(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def unpack_day(value: int) -> dt.date:
    return dt.date(value // 10000, value // 100 % 100, value % 100)


def pack_instant(at: dt.datetime) -> int:
    return int(at.timestamp()) // 60


def unpack_instant(value: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(value * 60, tz=dt.UTC)
