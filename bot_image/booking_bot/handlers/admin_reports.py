"""Reports in the bot and the CSV export, sent as a document to the admin who asked (personal
data: the router is behind the admin filter like every admin router)."""

from __future__ import annotations

import datetime as dt
import logging

from aiogram import Bot, F, Router
from aiogram.types import BufferedInputFile, CallbackQuery, InlineKeyboardMarkup

from booking_bot import keyboards, reports, slots
from booking_bot.callbacks import Admin
from booking_bot.config import Settings
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import Texts
from booking_bot.users import Person
from booking_bot.views import show

log = logging.getLogger("booking_bot.admin")
PERIODS = (7, 30, 90)


def _bounds(
    days: int, now: dt.datetime, settings: Settings
) -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    """The last ``days`` local days up to and including today."""
    tz = settings.timezone
    last = slots.today_local(now, tz)
    first = last - dt.timedelta(days=days - 1)
    start = dt.datetime.combine(first, dt.time.min).replace(tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min).replace(tzinfo=tz).astimezone(dt.UTC)
    return first, last, start, end


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


async def report_view(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    texts = desk.texts
    days = callback_data.arg if callback_data.arg in PERIODS else PERIODS[0]
    first, last, start, end = _bounds(days, desk.clock(), desk.settings)
    total, per_staff = await reports.summary(desk.pool, start, end)
    lines = [texts("report.title", first=texts.date(first), last=texts.date(last))]
    lines.append(_line(texts, texts("report.total"), total))
    if len(per_staff) > 1:
        lines += [_line(texts, line.staff_name or texts("staff.default_name"), line) for line in per_staff]
    rows = [
        [keyboards.admin_button(texts, f"report.days.{d}", "reports", d) for d in PERIODS],
        [keyboards.admin_button(texts, "report.csv", "reports_csv", days)],
        [keyboards.admin_button(texts, "back", "menu"), keyboards.home_button(texts)],
    ]
    await show(query, "\n\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


async def report_csv(
    query: CallbackQuery, callback_data: Admin, desk: Desk, bot: Bot, person: Person
) -> None:
    texts = desk.texts
    days = callback_data.arg if callback_data.arg in PERIODS else PERIODS[0]
    first, last, start, end = _bounds(days, desk.clock(), desk.settings)
    data = await reports.export_csv(desk.pool, start, end, desk.tz)
    name = f"bookings_{first.isoformat()}_{last.isoformat()}.csv"
    log.info("csv exported", extra={"event": "csv_exported", "admin_id": person.telegram_id, "days": days})
    await bot.send_document(
        person.telegram_id, BufferedInputFile(data, filename=name), caption=texts("report.csv_caption")
    )
    await query.answer()


def create_router() -> Router:
    router = Router(name="admin_reports")
    router.callback_query.register(report_view, Admin.filter(F.action == "reports"))
    router.callback_query.register(report_csv, Admin.filter(F.action == "reports_csv"))
    return router
