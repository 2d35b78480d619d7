"""/autorenew: which bots renew themselves, and switching it off (one tap per bot)."""

from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from booking_webhook.salesbot import keyboards, texts
from booking_webhook.salesbot.deps import SalesDeps


def router() -> Router:
    r = Router(name="autorenewal")
    r.message.register(show, Command("autorenew"))
    r.callback_query.register(switch_off, keyboards.AutoRenewalOff.filter())
    return r


async def show(message: Message, deps: SalesDeps) -> None:
    if message.from_user is None:
        return
    code = message.from_user.language_code
    rows = await deps.store.autorenewals(deps.settings.tenant_namespace, owner=message.from_user.id)
    if not rows:
        await message.answer(texts.text(code, "auto_none"))
        return
    tenants = [(str(r["tenant_name"]), str(r["company_name"])) for r in rows]
    await message.answer(
        texts.text(code, "auto_list"), reply_markup=keyboards.autorenewals_off(tenants, code)
    )


async def switch_off(query: CallbackQuery, callback_data: keyboards.AutoRenewalOff, deps: SalesDeps) -> None:
    await query.answer()
    namespace = deps.settings.tenant_namespace
    rows = {
        str(r["tenant_name"]): r for r in await deps.store.autorenewals(namespace, owner=query.from_user.id)
    }
    row = rows.get(callback_data.tenant)
    if row is None or not isinstance(query.message, Message):
        return  # not the owner's, or already off
    await deps.store.disable_autorenewal(namespace, callback_data.tenant, query.from_user.id)
    code = query.from_user.language_code
    await query.message.answer(texts.text(code, "auto_off_done", company=row["company_name"]))
