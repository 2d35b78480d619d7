"""One master's own breaks and days off: a screen of their own, paged like the business's days off.

A master's breaks apply once the master has a week of their own (the first own break starts it
from the business's week, as a first own working day does); their days off apply on top of the
business's. Adding either goes through ``handlers.closing``: bookings in the way are listed
first, and the owner cancels them (customers told) or keeps them.
"""

from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from booking_bot import keyboards, schedule, slots, staff
from booking_bot.callbacks import StaffAdmin, pack_day, unpack_day
from booking_bot.handlers import closing
from booking_bot.handlers.admin_schedule import DAYS_OFF_PAGE, parse_days
from booking_bot.handlers.desk import Desk
from booking_bot.views import alert, show

# Telegram allows 100 buttons: 20 breaks + 30 days off + paging and actions stay well below.
MAX_BREAKS = 20


class StaffOffInput(StatesGroup):
    break_time = State()
    days_off = State()


def _b(text: str, action: str, staff_id: int, arg: int = 0) -> InlineKeyboardButton:
    return InlineKeyboardButton(
        text=text, callback_data=StaffAdmin(action=action, staff=staff_id, arg=arg).pack()
    )


def _back(desk: Desk, staff_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[[_b(desk.texts("back"), "off", staff_id)]])


async def off_screen(query: CallbackQuery, staff_id: int, page: int, state: FSMContext, desk: Desk) -> None:
    await state.clear()
    texts = desk.texts
    member = await staff.get_staff(desk.pool, staff_id)
    if member is None:
        await desk.not_found(query)
        return
    today = slots.today_local(desk.clock(), desk.tz)
    breaks = await staff.list_breaks(desk.pool, staff_id)
    days = await staff.list_days_off(desk.pool, staff_id, today)
    pages = max(1, -(-len(days) // DAYS_OFF_PAGE))
    page = max(0, min(page, pages - 1))
    lines = [texts("admin.staff_off", name=member.name or texts("staff.default_name"))]
    if not member.own_hours:
        lines.append(texts("admin.staff_off_business"))
    if pages > 1:
        lines.append(texts("admin.page", page=page + 1, pages=pages))
    rows = [
        [_b(f"❌ {texts.weekday(wd)} {i.start:%H:%M}–{i.end:%H:%M}", "brk_del", staff_id, break_id)]
        for break_id, wd, i in breaks[:MAX_BREAKS]
    ]
    rows += [
        [_b(f"❌ {texts.date(day)}", "doff_del", staff_id, pack_day(day))]
        for day in days[page * DAYS_OFF_PAGE : (page + 1) * DAYS_OFF_PAGE]
    ]
    nav = []
    if page > 0:
        nav.append(_b("‹", "off", staff_id, page - 1))
    if page + 1 < pages:
        nav.append(_b("›", "off", staff_id, page + 1))
    if nav:
        rows.append(nav)
    rows.append(
        [
            _b(texts("admin.btn.add_break"), "brk_add", staff_id),
            _b(texts("admin.btn.add_day_off"), "doff_add", staff_id),
        ]
    )
    rows.append([_b(texts("back"), "view", staff_id), keyboards.home_button(texts)])
    await show(query, "\n".join(lines), InlineKeyboardMarkup(inline_keyboard=rows))


async def off_action(query: CallbackQuery, callback_data: StaffAdmin, state: FSMContext, desk: Desk) -> None:
    staff_id, action, arg, texts = callback_data.staff, callback_data.action, callback_data.arg, desk.texts
    if await staff.get_staff(desk.pool, staff_id) is None:
        await alert(query, texts("not_found"))
        return
    if action == "off":
        await off_screen(query, staff_id, arg, state, desk)
    elif action == "brk_del":
        await staff.delete_break(desk.pool, staff_id, arg)
        await off_screen(query, staff_id, 0, state, desk)
    elif action == "doff_del":
        await staff.remove_day_off(desk.pool, staff_id, unpack_day(arg))
        await off_screen(query, staff_id, 0, state, desk)
    elif action == "brk_add":
        rows = [[_b(texts.weekday(d, short=False), "brk_wd", staff_id, d)] for d in range(1, 8)]
        rows.append([_b(texts("back"), "off", staff_id)])
        await show(query, texts("admin.pick_weekday"), InlineKeyboardMarkup(inline_keyboard=rows))
    elif action == "brk_wd" and 1 <= arg <= 7:
        await state.set_state(StaffOffInput.break_time)
        await state.update_data(staff=staff_id, weekday=arg)
        prompt = texts("admin.prompt.break", weekday=texts.weekday(arg, short=False))
        await show(query, prompt, _back(desk, staff_id))
    elif action == "doff_add":
        await state.set_state(StaffOffInput.days_off)
        await state.update_data(staff=staff_id)
        await show(query, texts("admin.prompt.day_off"), _back(desk, staff_id))


async def break_input(message: Message, state: FSMContext, desk: Desk) -> None:
    data = await state.get_data()
    staff_id, weekday = int(data.get("staff", 0)), int(data.get("weekday", 0))
    interval = schedule.parse_interval(message.text or "")
    if interval is None or not 1 <= weekday <= 7:
        await message.answer(desk.texts("admin.bad_interval"), reply_markup=_back(desk, staff_id))
        return
    change = {"kind": "break", "staff": staff_id, "weekday": weekday}
    await closing.change(message, state, desk, {**change, "interval": closing.interval_text(interval)})


async def days_off_input(message: Message, state: FSMContext, desk: Desk) -> None:
    staff_id = int((await state.get_data()).get("staff", 0))
    days = parse_days(message.text or "", slots.today_local(desk.clock(), desk.tz))
    if days is None:
        await message.answer(desk.texts("admin.bad_date"), reply_markup=_back(desk, staff_id))
        return
    change = {
        "kind": "days_off",
        "staff": staff_id,
        "first": days[0].isoformat(),
        "last": days[1].isoformat(),
    }
    await closing.change(message, state, desk, change)


OFF_ACTIONS = frozenset({"off", "brk_del", "doff_del", "brk_add", "brk_wd", "doff_add"})


def create_router() -> Router:
    router = Router(name="admin_staff_off")
    router.callback_query.register(off_action, StaffAdmin.filter(F.action.in_(OFF_ACTIONS)))
    router.message.register(break_input, StateFilter(StaffOffInput.break_time), F.text)
    router.message.register(days_off_input, StateFilter(StaffOffInput.days_off), F.text)
    return router
