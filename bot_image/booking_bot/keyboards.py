"""Inline keyboards. Every label comes from the locale texts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from booking_bot.bookings import Booking
from booking_bot.callbacks import (
    Admin,
    CalendarPage,
    Confirm,
    Menu,
    MyBooking,
    Noop,
    PickDay,
    PickService,
    PickSlot,
    PickStaff,
    pack_day,
    pack_instant,
)
from booking_bot.catalog import Service
from booking_bot.i18n import Texts
from booking_bot.slots import DayState

CALENDAR_WEEKS = 4
# Telegram accepts at most 100 buttons per keyboard; a day of 15-minute slots around the
# clock would be 96 plus navigation.
MAX_SLOT_BUTTONS = 92


def _button(text: str, data: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data)


def home_button(t: Texts) -> InlineKeyboardButton:
    return _button(t("menu.home"), Menu(action="home").pack())


def main_menu(t: Texts, *, is_admin: bool, where: bool = False) -> InlineKeyboardMarkup:
    rows = [
        [_button(t("menu.book"), Menu(action="book").pack())],
        [_button(t("menu.my"), Menu(action="my").pack())],
    ]
    if where:
        rows.append([_button(t("menu.where"), Menu(action="where").pack())])
    if is_admin:
        rows.append([_button(t("menu.admin"), Menu(action="admin").pack())])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def share_phone(t: Texts) -> ReplyKeyboardMarkup:
    """The one reply keyboard: Telegram shares a contact only from a reply-keyboard button."""
    return ReplyKeyboardMarkup(
        keyboard=[
            [KeyboardButton(text=t("phone.share"), request_contact=True)],
            [KeyboardButton(text=t("phone.skip"))],
        ],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def only_home(t: Texts) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[home_button(t)]])


def services(t: Texts, items: Sequence[Service]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                t(
                    "service.button",
                    name=s.name,
                    duration=t.duration(s.duration_minutes),
                    price=t.price(s.price),
                ),
                PickService(service_id=s.id).pack(),
            )
        ]
        for s in items
    ]
    rows.append([home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def staff_choice(t: Texts, service_id: int, members: Sequence[tuple[int, str]]) -> InlineKeyboardMarkup:
    """The master step: each who performs the service, and "any master" first."""
    rows = [[_button(t("staff.any"), PickStaff(service_id=service_id, staff=0).pack())]]
    rows += [[_button(name, PickStaff(service_id=service_id, staff=sid).pack())] for sid, name in members]
    rows.append([_button(t("back"), Menu(action="book").pack()), home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def move_staff_choice(
    t: Texts, service_id: int, rb: int, current: int, members: Sequence[tuple[int, str]]
) -> InlineKeyboardMarkup:
    """Moving a booking to another master: the booking's own master is marked (and the default)."""
    rows = [
        [
            _button(
                ("✅ " if sid == current else "") + name,
                PickStaff(service_id=service_id, staff=sid, rb=rb).pack(),
            )
        ]
        for sid, name in members
    ]
    back = CalendarPage(service_id=service_id, page=0, rb=rb, staff=current).pack()
    rows.append([_button(t("back"), back), home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def calendar_first_day(today: dt.date, page: int) -> dt.date:
    monday = today - dt.timedelta(days=today.weekday())
    return monday + dt.timedelta(weeks=CALENDAR_WEEKS * page)


def page_of(today: dt.date, day: dt.date) -> int:
    return max(0, (day - calendar_first_day(today, 0)).days // (7 * CALENDAR_WEEKS))


def calendar(
    t: Texts,
    *,
    service_id: int,
    rb: int,
    staff: int = 0,
    page: int,
    first: dt.date,
    states: dict[dt.date, DayState],
    has_next: bool,
    back: InlineKeyboardButton,
    extra: Sequence[InlineKeyboardButton] = (),
) -> InlineKeyboardMarkup:
    last = first + dt.timedelta(days=7 * CALENDAR_WEEKS - 1)
    title = (
        t.month(first.month)
        if first.month == last.month
        else f"{t.month(first.month)} – {t.month(last.month)}"
    )
    rows: list[list[InlineKeyboardButton]] = [[_button(f"{title} {last.year}", Noop().pack())]]
    rows.append([_button(t.weekday(i), Noop().pack()) for i in range(1, 8)])
    for week in range(CALENDAR_WEEKS):
        row = []
        for weekday in range(7):
            day = first + dt.timedelta(days=7 * week + weekday)
            state = states.get(day, DayState.PAST)
            if state is DayState.FREE:
                row.append(
                    _button(
                        str(day.day),
                        PickDay(service_id=service_id, day=pack_day(day), rb=rb, staff=staff).pack(),
                    )
                )
            elif state is DayState.CLOSED:
                row.append(_button(t("calendar.closed_mark"), Noop(why="closed").pack()))
            elif state is DayState.FULL:
                row.append(_button(t("calendar.full_mark"), Noop(why="full").pack()))
            else:
                row.append(_button(" ", Noop().pack()))
        rows.append(row)
    nav = []
    if page > 0:
        nav.append(
            _button("«", CalendarPage(service_id=service_id, page=page - 1, rb=rb, staff=staff).pack())
        )
    if has_next:
        nav.append(
            _button("»", CalendarPage(service_id=service_id, page=page + 1, rb=rb, staff=staff).pack())
        )
    if nav:
        rows.append(nav)
    rows += [[button] for button in extra]
    rows.append([back, home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _rows(buttons: Sequence[InlineKeyboardButton], width: int) -> list[list[InlineKeyboardButton]]:
    return [list(buttons[i : i + width]) for i in range(0, len(buttons), width)]


def slots(
    t: Texts,
    *,
    service_id: int,
    rb: int,
    staff: int = 0,
    starts: Iterable[dt.datetime],
    back: InlineKeyboardButton,
    with_date: bool = False,
) -> InlineKeyboardMarkup:
    # Built row by row: aiogram's InlineKeyboardBuilder deep-copies the whole markup on every
    # add, which is quadratic (a day of 15-minute slots took ~0.3 s).
    buttons = [
        _button(
            f"{t.date(start)} {t.time(start)}" if with_date else t.time(start),
            PickSlot(service_id=service_id, at=pack_instant(start), rb=rb, staff=staff).pack(),
        )
        for start in starts
    ][:MAX_SLOT_BUTTONS]
    rows = _rows(buttons, 2 if with_date else 4)
    rows.append([back, home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def confirm(
    t: Texts, *, service_id: int, rb: int, staff: int = 0, at: dt.datetime, back: InlineKeyboardButton
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                _button(
                    t("confirm.yes"),
                    Confirm(service_id=service_id, at=pack_instant(at), rb=rb, staff=staff).pack(),
                )
            ],
            [back, home_button(t)],
        ]
    )


def my_bookings(t: Texts, items: Sequence[Booking]) -> InlineKeyboardMarkup:
    rows = [
        [
            _button(
                t("my.item", date=t.date(b.starts_at), time=t.time(b.starts_at), service=b.service_name),
                MyBooking(booking_id=b.id, action="view").pack(),
            )
        ]
        for b in items
    ]
    rows.append([home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def booking_actions(t: Texts, booking: Booking) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("booking.reschedule"), MyBooking(booking_id=booking.id, action="move").pack())],
            [_button(t("booking.cancel"), MyBooking(booking_id=booking.id, action="cancel").pack())],
            [_button(t("back"), Menu(action="my").pack()), home_button(t)],
        ]
    )


def reminder_keyboard(t: Texts, booking_id: int, can_change: bool) -> InlineKeyboardMarkup:
    """Under a reminder: "I'm coming" always; move and cancel only before the cutoff."""
    rows = [[_button(t("reminder.coming"), MyBooking(booking_id=booking_id, action="coming").pack())]]
    if can_change:
        rows.append(
            [
                _button(t("booking.reschedule"), MyBooking(booking_id=booking_id, action="move").pack()),
                _button(t("booking.cancel"), MyBooking(booking_id=booking_id, action="cancel").pack()),
            ]
        )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cancel_confirm(t: Texts, booking: Booking) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [_button(t("cancel.yes"), MyBooking(booking_id=booking.id, action="cancel_yes").pack())],
            [_button(t("back"), MyBooking(booking_id=booking.id, action="view").pack())],
        ]
    )


# ---- admin ------------------------------------------------------------------------------------
def admin_button(t: Texts, key: str, action: str, arg: int = 0) -> InlineKeyboardButton:
    return _button(t(key), Admin(action=action, arg=arg).pack())


def admin_menu(t: Texts) -> InlineKeyboardMarkup:
    keys = [
        ("admin.btn.today", "day"),
        ("admin.btn.week", "week"),
        ("admin.btn.services", "services"),
        ("admin.btn.staff", "staff"),
        ("admin.btn.hours", "hours"),
        ("admin.btn.breaks", "breaks"),
        ("admin.btn.days_off", "days_off"),
        ("admin.btn.block", "block"),
        ("admin.btn.caller", "caller"),
        ("admin.btn.reports", "reports"),
        ("admin.btn.settings", "settings"),
        ("admin.btn.profile", "profile"),
        ("admin.btn.admins", "admins"),
    ]
    rows = _rows([admin_button(t, key, action) for key, action in keys], 2)
    rows.append([home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def admin_list(
    t: Texts,
    items: Iterable[tuple[str, str, int]],
    *,
    extra: Iterable[tuple[str, str, int]] = (),
    back: str = "menu",
    pager: tuple[str, int, int] | None = None,
) -> InlineKeyboardMarkup:
    """One button per (label, action, arg) plus extra rows of (text key, action, arg) and a back button.

    ``pager`` = (action, page, pages) adds ‹ › buttons that call ``action`` with the page number.
    """
    rows = [[_button(label, Admin(action=action, arg=arg).pack())] for label, action, arg in items]
    if pager is not None:
        action, page, pages = pager
        nav = []
        if page > 0:
            nav.append(_button("‹", Admin(action=action, arg=page - 1).pack()))
        if page + 1 < pages:
            nav.append(_button("›", Admin(action=action, arg=page + 1).pack()))
        if nav:
            rows.append(nav)
    rows += [[admin_button(t, key, action, arg)] for key, action, arg in extra]
    rows.append([admin_button(t, "back", back), home_button(t)])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def admin_back(t: Texts, back: str = "menu", arg: int = 0) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[admin_button(t, "back", back, arg)]])
