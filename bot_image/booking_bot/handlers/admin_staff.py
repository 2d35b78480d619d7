"""The owner manages staff ("masters"): add, rename, hide, the services each performs, their
own hours (several intervals a day) and day-specific exceptions (breaks and days off:
``admin_staff_off``). Changes that would strand bookings go through ``handlers.closing``."""

from __future__ import annotations

import logging
from decimal import Decimal

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from booking_bot import catalog, keyboards, slots, staff
from booking_bot.callbacks import Admin, StaffAdmin
from booking_bot.handlers import closing
from booking_bot.handlers.admin_schedule import parse_exception
from booking_bot.handlers.desk import Desk
from booking_bot.i18n import Texts
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.admin")

DEFAULT_WORDS = frozenset({"default", "общие", "как у салона"})
CLOSED_WORDS = frozenset({"off", "closed", "выходной", "нет", "-", "0"})


class StaffInput(StatesGroup):
    name = State()
    rename = State()
    hours = State()
    exception = State()
    terms = State()


def _b(text: str, action: str, staff_id: int, arg: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=StaffAdmin(action=action, staff=staff_id, arg=arg).pack()
    )


def display_name(t: Texts, member: staff.StaffMember) -> str:
    return member.name or t("staff.default_name")


def _back(t: Texts, staff_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_b(t("back"), "view", staff_id)]])


async def staff_list(query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    await state.clear()
    members = await staff.list_staff(pool, include_hidden=True)
    rows = [[_b(("" if m.is_active else "🙈 ") + display_name(texts, m), "view", m.id)] for m in members[:90]]
    rows.append([keyboards.admin_button(texts, "admin.btn.add_staff", "staff_add")])
    rows.append([keyboards.admin_button(texts, "back", "menu"), keyboards.home_button(texts)])
    await show(query, texts("admin.staff"), InlineKeyboardMarkup(inline_keyboard=rows))


async def add_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(StaffInput.name)
    await show(query, texts("admin.prompt.staff_name"), keyboards.admin_back(texts, "staff"))


async def add_name(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    name = (message.text or "").strip()
    if not 1 <= len(name) <= 100:
        await message.answer(texts("admin.bad_text"), reply_markup=keyboards.admin_back(texts, "staff"))
        return
    member = await staff.add_staff(pool, name)
    await state.clear()
    log.info("staff added", extra={"event": "staff_added", "staff_id": member.id})
    await message.answer(texts("admin.staff_added", name=name), reply_markup=_back(texts, member.id))


async def _member_screen(
    event: CallbackQuery | Message, staff_id: int, pool: asyncpg.Pool, texts: Texts
) -> None:
    member = await staff.get_staff(pool, staff_id)
    if member is None:
        await show(event, texts("not_found"), keyboards.admin_back(texts, "staff"))
        return
    services = await catalog.list_services(pool, include_hidden=True)
    performed = await staff.performed_services(pool, staff_id)
    names = ", ".join(s.name for s in services if s.id in performed) or "—"
    if member.own_hours:
        week = await staff.weekday_hours(pool, staff_id)
        hours = "; ".join(
            f"{texts.weekday(d)} " + ", ".join(f"{i.start:%H:%M}-{i.end:%H:%M}" for i in week[d])
            for d in sorted(week)
        ) or texts("admin.closed")
    else:
        hours = texts("admin.staff_business_hours")
    text = texts(
        "admin.staff_member",
        name=display_name(texts, member),
        status=texts("admin.visible" if member.is_active else "admin.hidden"),
        services=names,
        hours=hours,
    )
    rows = [
        [
            _b(texts("admin.btn.rename"), "rename", staff_id),
            _b(texts("admin.btn.staff_services"), "svcs", staff_id),
        ],
        [_b(texts("admin.btn.hours"), "hours", staff_id), _b(texts("admin.btn.exception"), "exc", staff_id)],
        [_b(texts("admin.btn.staff_off"), "off", staff_id)],
        [_b(texts("admin.btn.hide" if member.is_active else "admin.btn.show"), "toggle", staff_id)],
        [keyboards.admin_button(texts, "back", "staff"), keyboards.home_button(texts)],
    ]
    await show(event, text, InlineKeyboardMarkup(inline_keyboard=rows))


async def member_action(
    query: CallbackQuery,
    callback_data: StaffAdmin,
    state: FSMContext,
    pool: asyncpg.Pool,
    texts: Texts,
    desk: Desk,
) -> None:
    staff_id, action = callback_data.staff, callback_data.action
    if await staff.get_staff(pool, staff_id) is None:
        await alert(query, texts("not_found"))
        return
    if action == "view":
        await state.clear()
        await _member_screen(query, staff_id, pool, texts)
    elif action == "toggle":
        member = await staff.get_staff(pool, staff_id)
        if member is None:
            return
        active = await staff.list_staff(pool)
        if member.is_active and len(active) <= 1:
            await alert(query, texts("admin.staff_last"))  # someone must take the bookings
            return
        if member.is_active:  # hiding leaves the master's upcoming bookings without a master
            await closing.change(query, state, desk, {"kind": "hide", "staff": staff_id})
            return
        await staff.update_staff(pool, staff_id, is_active=True)
        await _member_screen(query, staff_id, pool, texts)
    elif action == "rename":
        await state.set_state(StaffInput.rename)
        await state.update_data(staff=staff_id)
        await show(query, texts("admin.prompt.staff_name"), _back(texts, staff_id))
    elif action in ("svcs", "svc"):
        if action == "svc":
            await staff.toggle_service(pool, staff_id, callback_data.arg)
        performed = await staff.performed_services(pool, staff_id)
        terms = await staff.own_terms(pool, staff_id)
        rows = []
        for s in (await catalog.list_services(pool, include_hidden=True))[:45]:
            label = ("✅ " if s.id in performed else "▫️ ") + s.name
            minutes, price = terms.get(s.id, (None, None))
            if minutes or price is not None:
                label += (
                    f" · {texts.duration(minutes or s.duration_minutes)} · {texts.price(price or s.price)}"
                )
            rows.append([_b(label, "svc", staff_id, s.id), _b("⚙️", "terms", staff_id, s.id)])
        rows.append([_b(texts("back"), "view", staff_id)])
        await show(query, texts("admin.staff_services"), InlineKeyboardMarkup(inline_keyboard=rows))
    elif action == "hours":
        rows = [[_b(texts.weekday(d, short=False), "hours_day", staff_id, d)] for d in range(1, 8)]
        rows.append([_b(texts("admin.btn.business_hours"), "hours_reset", staff_id)])
        rows.append([_b(texts("back"), "view", staff_id)])
        await show(query, texts("admin.pick_weekday"), InlineKeyboardMarkup(inline_keyboard=rows))
    elif action == "hours_reset":
        await closing.change(query, state, desk, {"kind": "reset", "staff": staff_id})
    elif action == "hours_day" and 1 <= callback_data.arg <= 7:
        await state.set_state(StaffInput.hours)
        await state.update_data(staff=staff_id, weekday=callback_data.arg)
        prompt = texts("admin.prompt.staff_hours", weekday=texts.weekday(callback_data.arg, short=False))
        await show(query, prompt, _back(texts, staff_id))
    elif action == "terms":
        await state.set_state(StaffInput.terms)
        await state.update_data(staff=staff_id, service=callback_data.arg)
        await show(query, texts("admin.prompt.terms"), _back(texts, staff_id))
    elif action == "exc":
        await state.set_state(StaffInput.exception)
        await state.update_data(staff=staff_id)
        await show(query, texts("admin.prompt.exception"), _back(texts, staff_id))


def _parse_terms(text: str) -> tuple[int | None, Decimal | None] | None:
    """``"45 2500"`` -> (45, 2500); ``"-"`` -> the service's own duration and price again."""
    if text.strip() == "-":
        return None, None
    parts = text.split()
    if len(parts) != 2:
        return None
    minutes, price = catalog.parse_duration(parts[0]), catalog.parse_price(parts[1])
    if minutes is None or price is None:
        return None
    return minutes, price


async def text_input(
    message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts, desk: Desk
) -> None:
    current = await state.get_state()
    data = await state.get_data()
    staff_id = int(data.get("staff", 0))
    text = (message.text or "").strip()
    back = _back(texts, staff_id)
    if current == StaffInput.rename.state:
        if not 1 <= len(text) <= 100:
            await message.answer(texts("admin.bad_text"), reply_markup=back)
            return
        await staff.update_staff(pool, staff_id, name=text)
    elif current == StaffInput.terms.state:
        parsed = _parse_terms(text)
        if parsed is None:
            await message.answer(texts("admin.bad_terms"), reply_markup=back)
            return
        await staff.set_own_terms(
            pool, staff_id, int(data.get("service", 0)), minutes=parsed[0], price=parsed[1]
        )
    elif current == StaffInput.hours.state:
        lowered = text.lower()
        intervals = [] if lowered in CLOSED_WORDS else staff.parse_intervals(text)
        weekday = int(data.get("weekday", 0))
        if intervals is None or not 1 <= weekday <= 7:
            await message.answer(texts("admin.bad_intervals"), reply_markup=back)
            return
        change = {"kind": "hours", "staff": staff_id, "weekday": weekday}
        await closing.change(message, state, desk, {**change, "intervals": closing.intervals_text(intervals)})
        return
    else:
        exception = parse_exception(text, slots.today_local(desk.clock(), desk.tz))
        if exception is None:
            await message.answer(texts("admin.bad_exception"), reply_markup=back)
            return
        change = {"kind": "exception", "staff": staff_id, "day": exception[0].isoformat()}
        await closing.change(
            message, state, desk, {**change, "intervals": closing.intervals_text(exception[1])}
        )
        return
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=back)


def create_router() -> Router:
    router = Router(name="admin_staff")
    router.callback_query.register(staff_list, Admin.filter(F.action == "staff"))
    router.callback_query.register(add_prompt, Admin.filter(F.action == "staff_add"))
    router.message.register(add_name, StateFilter(StaffInput.name), F.text)
    router.callback_query.register(member_action, StaffAdmin.filter())
    router.message.register(
        text_input,
        StateFilter(StaffInput.rename, StaffInput.hours, StaffInput.exception, StaffInput.terms),
        F.text,
    )
    return router
