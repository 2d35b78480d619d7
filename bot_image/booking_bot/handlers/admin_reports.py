"""Reports in the bot and the CSV export, sent as a document to the admin who asked (personal
data: the router is behind the admin filter like every admin router).

Windows are local dates in the tenant's zone: today, this week, this month, last month, or
any range the owner types. ``Admin.arg`` carries the window: 1-4 name ``reports.WINDOWS`` (0,
the menu's button: this month); a typed range is packed as ``first.toordinal() * 1000 + days``
so the CSV button repeats it.
"""

from __future__ import annotations

import datetime as dt
import logging

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup, Message

from booking_bot import keyboards, reports, slots
from booking_bot.callbacks import Admin
from booking_bot.handlers.admin import parse_date
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import Texts
from booking_bot.users import Person
from booking_bot.views import show

log = logging.getLogger("booking_bot.admin")
DEFAULT_WINDOW = reports.WINDOWS.index("month") + 1
_RANGE = 1000  # arg >= _RANGE: a typed range


class ReportInput(StatesGroup):
    range = State()


def pack_range(first: dt.date, last: dt.date) -> int:
    return first.toordinal() * _RANGE + (last - first).days


def dates(arg: int, desk: Desk) -> tuple[dt.date, dt.date]:
    """The local dates a button's ``arg`` names (an unknown one: this month)."""
    if arg >= _RANGE:
        first = dt.date.fromordinal(arg // _RANGE)
        return first, first + dt.timedelta(days=min(arg % _RANGE, reports.MAX_RANGE_DAYS - 1))
    index = arg if 1 <= arg <= len(reports.WINDOWS) else DEFAULT_WINDOW
    return reports.window(reports.WINDOWS[index - 1], slots.today_local(desk.clock(), desk.tz))


def _line(texts: Texts, name: str, line: reports.Line) -> str:
    rate = "—" if line.no_show_rate is None else f"{line.no_show_rate:.0%}"
    return texts(
        "report.line",
        name=name,
        bookings=line.bookings,
        done=line.done,
        no_shows=line.no_shows,
        cancelled=line.cancelled,
        revenue=texts.price(line.revenue),
        rate=rate,
    )


async def _report(event: CallbackQuery | Message, arg: int, desk: Desk) -> None:
    texts = desk.texts
    first, last = dates(arg, desk)
    total, per_staff = await reports.summary(desk.pool, *reports.bounds(first, last, desk.tz))
    lines = [texts("report.title", first=texts.date(first), last=texts.date(last))]
    lines.append(_line(texts, texts("report.total"), total))
    if len(per_staff) > 1:
        lines += [_line(texts, line.staff_name or texts("staff.default_name"), line) for line in per_staff]
    windows = [
        keyboards.admin_button(texts, f"report.window.{name}", "reports", i)
        for i, name in enumerate(reports.WINDOWS, start=1)
    ]
    rows = [
        windows[:2],
        windows[2:],
        [keyboards.admin_button(texts, "report.range", "reports_range")],
        [keyboards.admin_button(texts, "report.csv", "reports_csv", arg)],
        [keyboards.admin_button(texts, "back", "menu"), keyboards.home_button(texts)],
    ]
    await show(event, "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


async def report_view(query: CallbackQuery, callback_data: Admin, state: FSMContext, desk: Desk) -> None:
    await state.clear()
    arg = callback_data.arg if 1 <= callback_data.arg <= len(reports.WINDOWS) else DEFAULT_WINDOW
    await _report(query, arg, desk)


async def range_prompt(query: CallbackQuery, state: FSMContext, desk: Desk) -> None:
    await state.set_state(ReportInput.range)
    await show(query, desk.texts("report.prompt.range"), keyboards.admin_back(desk.texts, "reports"))


def parse_range(text: str) -> tuple[dt.date, dt.date] | None:
    """``01.03.2030 - 15.03.2030`` (or ISO dates; one date is a one-day range)."""
    first_text, _, last_text = text.strip().partition(" - ")
    first, last = parse_date(first_text), parse_date(last_text or first_text)
    if first is None or last is None or last < first or (last - first).days >= reports.MAX_RANGE_DAYS:
        return None
    return first, last


async def range_input(message: Message, state: FSMContext, desk: Desk) -> None:
    parsed = parse_range(message.text or "")
    if parsed is None:
        await message.answer(
            desk.texts("report.bad_range"), reply_markup=keyboards.admin_back(desk.texts, "reports")
        )
        return
    await state.clear()
    await _report(message, pack_range(*parsed), desk)


async def report_csv(
    query: CallbackQuery, callback_data: Admin, desk: Desk, bot: Bot, person: Person
) -> None:
    texts = desk.texts
    first, last = dates(callback_data.arg, desk)
    data = await reports.export_csv(desk.pool, *reports.bounds(first, last, desk.tz), desk.tz)
    name = f"bookings_{first.isoformat()}_{last.isoformat()}.csv"
    log.info(
        "csv exported",
        extra={"event": "csv_exported", "admin_id": person.telegram_id, "days": (last - first).days + 1},
    )
    await bot.send_document(
        person.telegram_id, BufferedInputFile(data, filename=name), caption=texts("report.csv_caption")
    )
    await query.answer()


def create_router() -> Router:
    router = Router(name="admin_reports")
    router.callback_query.register(report_view, Admin.filter(F.action == "reports"))
    router.callback_query.register(range_prompt, Admin.filter(F.action == "reports_range"))
    router.message.register(range_input, StateFilter(ReportInput.range), F.text)
    router.callback_query.register(report_csv, Admin.filter(F.action == "reports_csv"))
    return router
