"""The owner's surface: bookings of a day/week, cancelling one, blocking a slot, settings, admins.

Only reachable through routers the factory guards with the admin filter; see
``handlers.refusal`` for what non-admins get instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo

import asyncpg
from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageOriginHiddenUser,
    MessageOriginUser,
)

from booking_bot import bookings, commands, keyboards, reminders, schedule, slots
from booking_bot.callbacks import Admin, Menu
from booking_bot.clock import Clock
from booking_bot.config import Settings
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import I18n, Texts
from booking_bot.notify import customer_label
from booking_bot.users import Admins, Person
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.admin")

SETTINGS = ("min_notice_minutes", "cancel_cutoff_minutes", "slot_step_minutes", "horizon_days")


class AdminInput(StatesGroup):
    block = State()
    setting = State()
    reminders = State()
    add_admin = State()


# Telegram's limits: 4096 characters per message, 100 buttons per keyboard.
MAX_TEXT = 3900
MAX_CANCEL_BUTTONS = 90


def fit(lines: list[str], texts: Texts) -> str:
    """Join lines up to Telegram's message size; say how many did not fit."""
    kept: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        if size + len(line) + 1 > MAX_TEXT:
            kept.append(texts("admin.more", count=len(lines) - index))
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


# ---- menu ---------------------------------------------------------------------------------------
async def admin_menu(
    event: Message | CallbackQuery, state: FSMContext, texts: Texts, settings: Settings
) -> None:
    await state.clear()
    await show(event, texts("admin.title", business=settings.business_name), keyboards.admin_menu(texts))


async def admin_menu_button(
    query: CallbackQuery, state: FSMContext, texts: Texts, settings: Settings
) -> None:
    await admin_menu(query, state, texts, settings)


# ---- bookings -------------------------------------------------------------------------------------
def booking_line(t: Texts, b: bookings.Booking) -> str:
    span = f"{t.time(b.starts_at)}–{t.time(b.ends_at)}"
    if b.kind == "block":
        return t("admin.block_line", span=span, note=b.note)
    mark = {"done": " ✔", "no_show": " 🚫"}.get(b.status, " ✅" if b.customer_confirmed_at else "")
    line = t("admin.booking_line", span=span, service=b.service_name, customer=customer_label(b)) + mark
    return f"{line} · {b.staff_name}" if b.staff_name else line


async def day_view(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    texts, tz, now = desk.texts, desk.tz, desk.clock()
    offset = callback_data.arg
    day = slots.today_local(now, tz) + dt.timedelta(days=offset)
    start, end = _day_bounds(day, day, tz)
    items = await bookings.between(desk.pool, start, end)
    lines = [texts("admin.day_title", date=texts.date(day))]
    lines += [booking_line(texts, b) for b in items] or [texts("admin.nothing")]
    rows = [[_day_button(texts, b, now)] for b in items[:MAX_CANCEL_BUTTONS]]
    rows.append(
        [
            InlineKeyboardButton(text="‹", callback_data=Admin(action="day", arg=offset - 1).pack()),
            InlineKeyboardButton(
                text=texts("admin.btn.today"), callback_data=Admin(action="day", arg=0).pack()
            ),
            InlineKeyboardButton(text="›", callback_data=Admin(action="day", arg=offset + 1).pack()),
        ]
    )
    rows.append([keyboards.admin_button(texts, "back", "menu")])
    await show(query, fit(lines, texts), InlineKeyboardMarkup(inline_keyboard=rows))


def _day_button(texts: Texts, b: bookings.Booking, now: dt.datetime) -> InlineKeyboardButton:
    """A booking that has begun gets its outcome recorded; a future one can be cancelled or moved."""
    label = f"{texts.time(b.starts_at)} {b.service_name or texts('admin.blocked')}"
    if b.kind == "customer" and b.starts_at <= now:
        return InlineKeyboardButton(text=f"🕘 {label}", callback_data=Admin(action="visit", arg=b.id).pack())
    return InlineKeyboardButton(text=f"❌ {label}", callback_data=Admin(action="bcancel", arg=b.id).pack())


def _day_bounds(first: dt.date, last: dt.date, tz: zoneinfo.ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(first, dt.time.min).replace(tzinfo=tz)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time.min).replace(tzinfo=tz)
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


async def week_view(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    texts, tz = desk.texts, desk.tz
    first = slots.today_local(desk.clock(), tz) + dt.timedelta(weeks=callback_data.arg)
    last = first + dt.timedelta(days=6)
    start, end = _day_bounds(first, last, tz)
    items = await bookings.between(desk.pool, start, end)
    lines = [texts("admin.week_title", first=texts.date(first), last=texts.date(last))]
    current: dt.date | None = None
    for b in items:
        day = b.starts_at.astimezone(tz).date()
        if day != current:
            lines.append(f"\n{texts.date(day)}")
            current = day
        lines.append(booking_line(texts, b))
    if not items:
        lines.append(texts("admin.nothing"))
    rows = [
        [
            InlineKeyboardButton(
                text="‹", callback_data=Admin(action="week", arg=callback_data.arg - 1).pack()
            ),
            InlineKeyboardButton(
                text="›", callback_data=Admin(action="week", arg=callback_data.arg + 1).pack()
            ),
        ],
        [keyboards.admin_button(texts, "back", "menu")],
    ]
    await show(query, fit(lines, texts), InlineKeyboardMarkup(inline_keyboard=rows))


async def cancel_booking(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    booking = await desk.booking(query, callback_data.arg, lambda b: b.status == "confirmed")
    if booking is None:
        return
    texts = desk.texts
    text = texts(
        "admin.cancel_confirm", line=f"{texts.date(booking.starts_at)} {booking_line(texts, booking)}"
    )
    back = desk.day_offset(booking)
    rows = [[keyboards.admin_button(texts, "admin.btn.cancel_yes", "bcancel_yes", booking.id)]]
    if booking.kind == "customer":
        rows.append(
            [
                keyboards.admin_button(texts, "admin.btn.move", "bmove", booking.id),
                keyboards.admin_button(texts, "admin.btn.client", "client", booking.user_id or 0),
            ]
        )
    rows.append([keyboards.admin_button(texts, "back", "day", back)])
    markup = InlineKeyboardMarkup(inline_keyboard=rows)
    await show(query, text, markup)


async def cancel_booking_yes(query: CallbackQuery, callback_data: Admin, desk: Desk) -> None:
    texts, notifier = desk.texts, desk.notifier
    try:
        booking = await bookings.cancel_booking(desk.pool, callback_data.arg, by="admin", now=desk.clock())
    except bookings.NotFound:
        await desk.not_found(query)
        return
    except bookings.InThePast:
        await show(query, texts("admin.in_the_past"), keyboards.admin_back(texts, "visit", callback_data.arg))
        return
    log.info(
        "booking cancelled", extra={"event": "booking_cancelled", "booking_id": booking.id, "by": "admin"}
    )
    await show(query, texts("admin.cancelled"), keyboards.admin_back(texts, "day", desk.day_offset(booking)))
    if booking.kind == "customer":
        notifier.later(notifier.customer_cancelled_by_admin(booking, desk.settings.business_name))


# ---- block a slot -------------------------------------------------------------------------------
_BLOCK = re.compile(r"^\s*(\d{4}-\d{2}-\d{2}|\d{1,2}\.\d{1,2}\.\d{4})\s+(\d{1,2}:\d{2})\s+(\d{1,3})\s*(.*)$")


def parse_date(text: str) -> dt.date | None:
    text = text.strip()
    try:
        if "." in text:
            d, m, y = (int(p) for p in text.split("."))
            return dt.date(y, m, d)
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


async def block_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(AdminInput.block)
    await show(query, texts("admin.block_prompt"), keyboards.admin_back(texts))


async def block_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, settings: Settings, texts: Texts
) -> None:
    match = _BLOCK.match(message.text or "")
    day = parse_date(match.group(1)) if match else None
    at = schedule.parse_time(match.group(2)) if match else None
    minutes = int(match.group(3)) if match else 0
    if match is None or day is None or at is None or not 15 <= minutes <= 720:
        await message.answer(texts("admin.block_bad"), reply_markup=keyboards.admin_back(texts))
        return
    start = slots.local_instant(day, at, settings.timezone)
    if start is None:
        await message.answer(texts("admin.block_bad"), reply_markup=keyboards.admin_back(texts))
        return
    try:
        await bookings.block_slot(pool, starts_at=start, minutes=minutes, note=match.group(4).strip()[:100])
    except bookings.SlotTaken:
        await message.answer(texts("admin.block_taken"), reply_markup=keyboards.admin_back(texts))
        return
    await state.clear()
    log.info("slot blocked", extra={"event": "slot_blocked"})
    await message.answer(
        texts(
            "admin.blocked_ok", date=texts.date(day), time=texts.time(start), duration=texts.duration(minutes)
        ),
        reply_markup=keyboards.admin_back(texts),
    )


# ---- settings ---------------------------------------------------------------------------------------
async def settings_view(query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    await state.clear()
    current = await schedule.load_rules(pool)
    text = texts(
        "admin.settings",
        notice=texts.duration(current.min_notice_minutes),
        cutoff=texts.duration(current.cancel_cutoff_minutes),
        step=texts.duration(current.slot_step_minutes),
        horizon=current.horizon_days,
        reminders=", ".join(texts.duration(m) for m in current.reminder_offsets_minutes) or "—",
    )
    late = [m for m in current.reminder_offsets_minutes if m < current.cancel_cutoff_minutes]
    if late:
        text += "\n" + texts(
            "admin.reminder_inside_cutoff",
            reminders=", ".join(texts.duration(m) for m in late),
            cutoff=texts.duration(current.cancel_cutoff_minutes),
        )
    items = [(texts(f"admin.set.{name}"), "set", i) for i, name in enumerate(SETTINGS)]
    items.append((texts("admin.set.reminders"), "set_reminders", 0))
    await show(query, text, keyboards.admin_list(texts, items))


async def setting_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    if not 0 <= callback_data.arg < len(SETTINGS):
        await alert(query, texts("not_found"))
        return
    name = SETTINGS[callback_data.arg]
    await state.set_state(AdminInput.setting)
    await state.update_data(setting=name)
    await show(query, texts(f"admin.prompt.{name}"), keyboards.admin_back(texts, "settings"))


def _setting_valid(name: str, value: int) -> bool:
    if name == "slot_step_minutes":
        return value in schedule.SLOT_STEPS
    if name == "horizon_days":
        return 1 <= value <= 180
    return 0 <= value <= 60 * 24 * 30


async def setting_input(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    name = str((await state.get_data()).get("setting", ""))
    try:
        value = int((message.text or "").strip())
    except ValueError:
        value = -1
    if name not in SETTINGS or not _setting_valid(name, value):
        await message.answer(texts("admin.bad_number"), reply_markup=keyboards.admin_back(texts, "settings"))
        return
    await schedule.update_setting(pool, name, value)
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "settings"))


async def reminders_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(AdminInput.reminders)
    await show(query, texts("admin.prompt.reminders"), keyboards.admin_back(texts, "settings"))


async def reminders_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, clock: Clock
) -> None:
    text = (message.text or "").strip()
    try:
        hours = [float(p) for p in re.split(r"[,\s]+", text) if p] if text not in ("0", "-") else []
    except ValueError:
        hours = [-1.0]
    minutes = [round(h * 60) for h in hours]
    if any(m < 5 or m > 60 * 24 * 14 for m in minutes) or len(minutes) > 5:
        await message.answer(texts("admin.bad_number"), reply_markup=keyboards.admin_back(texts, "settings"))
        return
    await reminders.set_offsets(pool, minutes, clock())
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "settings"))


# ---- admins -------------------------------------------------------------------------------------------
async def admins_view(query: CallbackQuery, state: FSMContext, admins: Admins, texts: Texts) -> None:
    await state.clear()
    fixed = sorted(admins.from_env)
    added = await admins.added()
    text = texts("admin.admins", fixed=", ".join(map(str, fixed)) or "—")
    items = [
        (f"❌ {admin_id}", "admin_del", admin_id) for admin_id in added if admin_id not in admins.from_env
    ]
    await show(
        query, text, keyboards.admin_list(texts, items, extra=[("admin.btn.add_admin", "admin_add", 0)])
    )


async def admin_add_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(AdminInput.add_admin)
    await show(query, texts("admin.prompt.add_admin"), keyboards.admin_back(texts, "admins"))


async def admin_add_input(
    message: Message, state: FSMContext, admins: Admins, texts: Texts, person: Person, bot: Bot, i18n: I18n
) -> None:
    # Bot API 7 replaced forward_from with forward_origin; only a MessageOriginUser names the
    # sender. Someone who hides their account in forwards arrives as MessageOriginHiddenUser.
    origin = message.forward_origin
    if isinstance(origin, MessageOriginHiddenUser):
        await message.answer(
            texts("admin.forward_hidden", name=origin.sender_user_name),
            reply_markup=keyboards.admin_back(texts, "admins"),
        )
        return
    forwarded = origin.sender_user.id if isinstance(origin, MessageOriginUser) else None
    try:
        new_id = forwarded or int((message.text or "").strip())
    except ValueError:
        new_id = 0
    if new_id <= 0:
        await message.answer(texts("admin.bad_number"), reply_markup=keyboards.admin_back(texts, "admins"))
        return
    await admins.add(new_id, person.telegram_id)
    await commands.set_admin_commands(bot, i18n, new_id)
    await state.clear()
    log.info("admin added", extra={"event": "admin_added", "admin_id": new_id})
    await message.answer(texts("admin.saved"), reply_markup=keyboards.admin_back(texts, "admins"))


async def admin_delete(
    query: CallbackQuery, callback_data: Admin, state: FSMContext, admins: Admins, texts: Texts, bot: Bot
) -> None:
    if callback_data.arg in admins.from_env:
        await alert(query, texts("not_found"))
        return
    await admins.remove(callback_data.arg)
    await commands.clear_admin_commands(bot, callback_data.arg)
    log.info("admin removed", extra={"event": "admin_removed", "admin_id": callback_data.arg})
    await admins_view(query, state, admins, texts)


def create_router() -> Router:
    router = Router(name="admin")
    router.message.register(admin_menu, Command("admin"))
    router.callback_query.register(admin_menu_button, Menu.filter(F.action == "admin"))
    router.callback_query.register(admin_menu_button, Admin.filter(F.action == "menu"))
    router.callback_query.register(day_view, Admin.filter(F.action == "day"))
    router.callback_query.register(week_view, Admin.filter(F.action == "week"))
    router.callback_query.register(cancel_booking, Admin.filter(F.action == "bcancel"))
    router.callback_query.register(cancel_booking_yes, Admin.filter(F.action == "bcancel_yes"))
    router.callback_query.register(block_prompt, Admin.filter(F.action == "block"))
    router.message.register(block_input, StateFilter(AdminInput.block), F.text)
    router.callback_query.register(settings_view, Admin.filter(F.action == "settings"))
    router.callback_query.register(setting_prompt, Admin.filter(F.action == "set"))
    router.message.register(setting_input, StateFilter(AdminInput.setting), F.text)
    router.callback_query.register(reminders_prompt, Admin.filter(F.action == "set_reminders"))
    router.message.register(reminders_input, StateFilter(AdminInput.reminders), F.text)
    router.callback_query.register(admins_view, Admin.filter(F.action == "admins"))
    router.callback_query.register(admin_add_prompt, Admin.filter(F.action == "admin_add"))
    router.message.register(admin_add_input, StateFilter(AdminInput.add_admin))
    router.callback_query.register(admin_delete, Admin.filter(F.action == "admin_del"))
    return router
