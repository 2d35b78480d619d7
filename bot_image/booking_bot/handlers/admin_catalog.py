"""The owner manages services: add, rename, change duration or price, hide/show."""

from __future__ import annotations

import logging

import asyncpg
from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from booking_bot import catalog, keyboards
from booking_bot.callbacks import Admin
from booking_bot.i18n import Texts
from booking_bot.views import alert, show

log = logging.getLogger("booking_bot.admin")


class ServiceInput(StatesGroup):
    name = State()
    duration = State()
    price = State()
    edit_name = State()
    edit_duration = State()
    edit_price = State()
    edit_buffer = State()


async def services_view(query: CallbackQuery, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    await state.clear()
    items = await catalog.list_services(pool, include_hidden=True)
    labels = [
        (
            ("" if s.is_active else "🙈 ")
            + texts(
                "service.button",
                name=s.name,
                duration=texts.duration(s.duration_minutes),
                price=texts.price(s.price),
            ),
            "svc",
            s.id,
        )
        for s in items
    ]
    await show(
        query,
        texts("admin.services"),
        keyboards.admin_list(texts, labels, extra=[("admin.btn.add_service", "svc_add", 0)]),
    )


async def service_view(
    query: CallbackQuery, callback_data: Admin, state: FSMContext, pool: asyncpg.Pool, texts: Texts
) -> None:
    await state.clear()
    service = await catalog.get_service(pool, callback_data.arg)
    if service is None:
        await alert(query, texts("not_found"))
        return
    text = texts(
        "admin.service",
        name=service.name,
        duration=texts.duration(service.duration_minutes),
        price=texts.price(service.price),
        status=texts("admin.visible" if service.is_active else "admin.hidden"),
    )
    if service.buffer_minutes:
        text += "\n" + texts("admin.service_buffer", buffer=texts.duration(service.buffer_minutes))
    extra = [
        ("admin.btn.rename", "svc_name", service.id),
        ("admin.btn.duration", "svc_dur", service.id),
        ("admin.btn.price", "svc_price", service.id),
        ("admin.btn.buffer", "svc_buffer", service.id),
        ("admin.btn.hide" if service.is_active else "admin.btn.show", "svc_toggle", service.id),
    ]
    await show(query, text, keyboards.admin_list(texts, [], extra=extra, back="services"))


async def add_prompt(query: CallbackQuery, state: FSMContext, texts: Texts) -> None:
    await state.set_state(ServiceInput.name)
    await show(query, texts("admin.prompt.service_name"), keyboards.admin_back(texts, "services"))


async def add_name(message: Message, state: FSMContext, texts: Texts) -> None:
    name = (message.text or "").strip()
    if not 1 <= len(name) <= 100:
        await message.answer(texts("admin.bad_text"), reply_markup=keyboards.admin_back(texts, "services"))
        return
    await state.update_data(name=name)
    await state.set_state(ServiceInput.duration)
    await message.answer(texts("admin.prompt.duration"), reply_markup=keyboards.admin_back(texts, "services"))


async def add_duration(message: Message, state: FSMContext, texts: Texts) -> None:
    minutes = catalog.parse_duration(message.text or "")
    if minutes is None:
        await message.answer(
            texts("admin.bad_duration"), reply_markup=keyboards.admin_back(texts, "services")
        )
        return
    await state.update_data(duration=minutes)
    await state.set_state(ServiceInput.price)
    await message.answer(texts("admin.prompt.price"), reply_markup=keyboards.admin_back(texts, "services"))


async def add_price(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    price = catalog.parse_price(message.text or "")
    if price is None:
        await message.answer(texts("admin.bad_price"), reply_markup=keyboards.admin_back(texts, "services"))
        return
    data = await state.get_data()
    service = await catalog.add_service(pool, str(data["name"]), int(data["duration"]), price)
    await state.clear()
    log.info("service added", extra={"event": "service_added", "service_id": service.id})
    await message.answer(
        texts("admin.service_added", name=service.name),
        reply_markup=keyboards.admin_list(
            texts, [], extra=[("admin.btn.add_service", "svc_add", 0)], back="services"
        ),
    )


_EDITS = {
    "svc_name": ServiceInput.edit_name,
    "svc_dur": ServiceInput.edit_duration,
    "svc_price": ServiceInput.edit_price,
    "svc_buffer": ServiceInput.edit_buffer,
}
_PROMPTS = {
    "svc_name": "admin.prompt.service_name",
    "svc_dur": "admin.prompt.duration",
    "svc_price": "admin.prompt.price",
    "svc_buffer": "admin.prompt.buffer",
}


async def edit_prompt(query: CallbackQuery, callback_data: Admin, state: FSMContext, texts: Texts) -> None:
    await state.set_state(_EDITS[callback_data.action])
    await state.update_data(service_id=callback_data.arg)
    await show(
        query, texts(_PROMPTS[callback_data.action]), keyboards.admin_back(texts, "svc", callback_data.arg)
    )


async def edit_input(message: Message, state: FSMContext, pool: asyncpg.Pool, texts: Texts) -> None:
    current = await state.get_state()
    service_id = int((await state.get_data()).get("service_id", 0))
    text = message.text or ""
    back = keyboards.admin_back(texts, "svc", service_id)
    if current == ServiceInput.edit_name.state:
        name = text.strip()
        if not 1 <= len(name) <= 100:
            await message.answer(texts("admin.bad_text"), reply_markup=back)
            return
        await catalog.update_service(pool, service_id, name=name)
    elif current == ServiceInput.edit_duration.state:
        minutes = catalog.parse_duration(text)
        if minutes is None:
            await message.answer(texts("admin.bad_duration"), reply_markup=back)
            return
        await catalog.update_service(pool, service_id, duration_minutes=minutes)
    elif current == ServiceInput.edit_buffer.state:
        buffer = catalog.parse_buffer(text)
        if buffer is None:
            await message.answer(texts("admin.bad_buffer"), reply_markup=back)
            return
        await catalog.update_service(pool, service_id, buffer_minutes=buffer)
    else:
        price = catalog.parse_price(text)
        if price is None:
            await message.answer(texts("admin.bad_price"), reply_markup=back)
            return
        await catalog.update_service(pool, service_id, price=price)
    await state.clear()
    await message.answer(texts("admin.saved"), reply_markup=back)


async def toggle(
    query: CallbackQuery, callback_data: Admin, state: FSMContext, pool: asyncpg.Pool, texts: Texts
) -> None:
    service = await catalog.get_service(pool, callback_data.arg)
    if service is None:
        await alert(query, texts("not_found"))
        return
    await catalog.update_service(pool, service.id, is_active=not service.is_active)
    await service_view(query, callback_data, state, pool, texts)


def create_router() -> Router:
    router = Router(name="admin_catalog")
    router.callback_query.register(services_view, Admin.filter(F.action == "services"))
    router.callback_query.register(service_view, Admin.filter(F.action == "svc"))
    router.callback_query.register(add_prompt, Admin.filter(F.action == "svc_add"))
    router.message.register(add_name, StateFilter(ServiceInput.name), F.text)
    router.message.register(add_duration, StateFilter(ServiceInput.duration), F.text)
    router.message.register(add_price, StateFilter(ServiceInput.price), F.text)
    router.callback_query.register(edit_prompt, Admin.filter(F.action.in_(set(_EDITS))))
    router.message.register(
        edit_input,
        StateFilter(
            ServiceInput.edit_name,
            ServiceInput.edit_duration,
            ServiceInput.edit_price,
            ServiceInput.edit_buffer,
        ),
        F.text,
    )
    router.callback_query.register(toggle, Admin.filter(F.action == "svc_toggle"))
    return router
