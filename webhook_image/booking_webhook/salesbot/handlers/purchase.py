"""Buying a bot or renewing one: plan -> company -> time zone -> bot token (or a managed bot)
-> payment link."""

from __future__ import annotations

import contextlib
import datetime
import logging
import uuid

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandStart
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, ReplyKeyboardRemove

from booking_contract import crd
from booking_contract.kube import KubeError
from booking_contract.telegram import TelegramUnavailable, TokenRejected, looks_like_token
from booking_webhook.checkout import (
    EMAIL_RE,
    AlreadyPaid,
    Buyer,
    CheckoutError,
    create_payment,
    normalize_phone,
    start_new,
    start_renewal,
)
from booking_webhook.core.logging import log_event
from booking_webhook.salesbot import keyboards, texts, zones
from booking_webhook.salesbot.deps import SalesDeps
from booking_webhook.salesbot.tokens import check_token
from booking_webhook.store import Checkout
from booking_webhook.yookassa_api import YooKassaError, YooKassaUnavailable

log = logging.getLogger(__name__)
# A pending payment is offered again on /start for this long (YooKassa cancels it later anyway).
PENDING_PAYMENT_SHOWN_FOR = datetime.timedelta(hours=1)
# The "Повторить" (Retry) button works this long after the checkout was made; later the owner starts
# again (the token Secret of an unpaid checkout is removed after 7 days).
RETRY_ALLOWED_FOR = datetime.timedelta(days=2)


class Purchase(StatesGroup):
    company = State()
    zone = State()
    token = State()
    email = State()


def router() -> Router:
    r = Router(name="purchase")
    r.message.register(start, CommandStart())
    r.message.register(start, Command("buy"))
    r.callback_query.register(choose_plan, keyboards.PlanChoice.filter())
    r.callback_query.register(choose_renewal, keyboards.RenewChoice.filter())
    r.callback_query.register(retry_payment, keyboards.RetryPayment.filter())
    r.callback_query.register(auto_renewal_choice, keyboards.AutoRenewalChoice.filter())
    r.message.register(company_name, Purchase.company, F.text)
    r.callback_query.register(zone_button, Purchase.zone, keyboards.ZoneChoice.filter())
    r.message.register(zone_typed, Purchase.zone, F.text)
    r.message.register(managed_bot_created, Purchase.token, F.managed_bot_created)
    r.message.register(bot_token, Purchase.token, F.text)
    r.message.register(receipt_email, Purchase.email, F.text)
    return r


def _code(event: Message | CallbackQuery) -> str | None:
    """The language of whom the bot answers (texts.py: Russian unless en*)."""
    return event.from_user.language_code if event.from_user else None


async def start(message: Message, state: FSMContext, deps: SalesDeps) -> None:
    await state.clear()
    code = _code(message)
    markup = keyboards.plans(deps.settings.plans)
    if message.from_user is not None:
        latest = await deps.store.latest_checkout(message.from_user.id)
        if latest is not None and latest.status == "pending" and latest.confirmation_url:
            age = datetime.datetime.now(tz=datetime.UTC) - latest.created_at
            if age < PENDING_PAYMENT_SHOWN_FOR:
                markup.inline_keyboard.append(
                    keyboards.continue_payment(latest.confirmation_url, latest.company_name, code)
                )
        owned = await _existing_tenants(deps, message.from_user.id)
        markup.inline_keyboard.extend(
            keyboards.renewals([(c.tenant_name, c.company_name) for c in owned.values()], code)
        )
    await message.answer(texts.text(code, "greeting"), reply_markup=markup)


async def _existing_tenants(deps: SalesDeps, user_id: int) -> dict[str, Checkout]:
    """The owner's tenants that still exist: a renewal of a deleted tenant could not be applied."""
    owned: dict[str, Checkout] = {}
    for checkout in await deps.store.owner_tenants(user_id, deps.settings.tenant_namespace):
        try:
            if await deps.kube.get_tenant(checkout.tenant_name) is not None:
                owned[checkout.tenant_name] = checkout
        except KubeError:
            continue
    return owned


async def choose_renewal(query: CallbackQuery, callback_data: keyboards.RenewChoice, deps: SalesDeps) -> None:
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.answer(
            texts.text(_code(query), "greeting"),
            reply_markup=keyboards.plans(deps.settings.plans, callback_data.tenant),
        )


async def choose_plan(
    query: CallbackQuery, callback_data: keyboards.PlanChoice, state: FSMContext, deps: SalesDeps
) -> None:
    await query.answer()
    message, code = query.message, _code(query)
    if not isinstance(message, Message):
        return
    if callback_data.plan not in deps.settings.plans:
        await message.answer(texts.text(code, "unknown_plan"))
        return
    await state.update_data(plan=callback_data.plan, tenant=callback_data.tenant)
    if callback_data.tenant:
        owned = await _existing_tenants(deps, query.from_user.id)
        if callback_data.tenant not in owned:
            await message.answer(texts.text(code, "not_yours"))
            return
        await state.update_data(renew_checkout=str(owned[callback_data.tenant].id))
        await _after_details(message, state, deps, query.from_user.id, code)
        return
    await state.set_state(Purchase.company)
    await message.answer(texts.text(code, "ask_company"))


async def company_name(message: Message, state: FSMContext) -> None:
    company, code = (message.text or "").strip(), _code(message)
    if not 1 <= len(company) <= 128:
        await message.answer(texts.text(code, "bad_company"))
        return
    await state.update_data(company=company)
    await state.set_state(Purchase.zone)
    await message.answer(texts.text(code, "ask_zone"), reply_markup=keyboards.time_zones(code))


async def zone_button(query: CallbackQuery, callback_data: keyboards.ZoneChoice, state: FSMContext) -> None:
    await query.answer()
    if isinstance(query.message, Message) and 0 <= callback_data.index < len(zones.RUSSIA):
        zone = zones.RUSSIA[callback_data.index][0]
        await _zone_chosen(query.message, state, zone, query.from_user.language_code)


async def zone_typed(message: Message, state: FSMContext) -> None:
    name, code = (message.text or "").strip(), _code(message)
    if not crd.valid_timezone(name):
        await message.answer(texts.text(code, "bad_zone"), reply_markup=keyboards.time_zones(code))
        return
    await _zone_chosen(message, state, name, code)


async def _zone_chosen(message: Message, state: FSMContext, zone: str, code: str | None) -> None:
    await state.update_data(time_zone=zone)
    await state.set_state(Purchase.token)
    company = str((await state.get_data()).get("company") or "")
    await message.answer(
        f"{texts.text(code, 'zone_ok', zone=zone)}\n\n{texts.text(code, 'ask_token')}",
        reply_markup=keyboards.managed_bot(company, code),
    )


async def bot_token(message: Message, state: FSMContext, deps: SalesDeps, bot: Bot) -> None:
    token = (message.text or "").strip()
    await _forget(message, bot)  # the token must not stay in the chat history
    if not looks_like_token(token):
        await message.answer(texts.text(_code(message), "bad_token_shape"))
        return
    await _accept_token(message, state, deps, token)


async def managed_bot_created(message: Message, state: FSMContext, deps: SalesDeps, bot: Bot) -> None:
    created = message.managed_bot_created
    if created is None:
        return
    try:
        token = await bot.get_managed_bot_token(user_id=created.bot_user.id)
    except TelegramBadRequest:
        await message.answer(texts.text(_code(message), "token_check_failed"))
        return
    await _accept_token(message, state, deps, token)


async def _accept_token(message: Message, state: FSMContext, deps: SalesDeps, token: str) -> None:
    code = _code(message)
    try:
        me = await check_token(token, deps.settings.telegram_api_url)
    except TokenRejected:
        await message.answer(texts.text(code, "token_rejected"))
        return
    except TelegramUnavailable:
        await message.answer(texts.text(code, "token_check_failed"))
        return
    await message.answer(
        texts.text(code, "token_ok", username=me.username), reply_markup=ReplyKeyboardRemove()
    )
    await state.update_data(token=token, bot_id=me.id)
    if message.from_user is not None:
        await _after_details(message, state, deps, message.from_user.id, code)


async def receipt_email(message: Message, state: FSMContext, deps: SalesDeps) -> None:
    """The receipt's contact: an e-mail, or a phone number (54-FZ allows either)."""
    text = (message.text or "").strip()
    if EMAIL_RE.fullmatch(text):
        await state.update_data(email=text)
    elif (phone := normalize_phone(text)) is not None:
        await state.update_data(phone=phone)
    else:
        await message.answer(texts.text(_code(message), "bad_email"))
        return
    if message.from_user is not None:
        await _after_details(message, state, deps, message.from_user.id, _code(message))


async def _after_details(
    message: Message, state: FSMContext, deps: SalesDeps, user_id: int, code: str | None
) -> None:
    data = await state.get_data()
    if deps.settings.yookassa_receipt_enabled and not (data.get("email") or data.get("phone")):
        await state.set_state(Purchase.email)
        await message.answer(texts.text(code, "ask_email"))
        return
    if deps.settings.sales_autorenewal and "auto" not in data:
        await message.answer(
            texts.text(code, "auto_question"), reply_markup=keyboards.autorenewal_choice(code)
        )
        return
    buyer = Buyer(
        telegram_user_id=user_id,
        chat_id=message.chat.id,
        company_name=str(data.get("company") or ""),
        receipt_email=data.get("email"),
        receipt_phone=data.get("phone"),
        auto_renewal=bool(data.get("auto")),
        time_zone=data.get("time_zone"),
        language=code,
    )
    try:
        if data.get("renew_checkout"):
            first = await deps.store.checkout(uuid.UUID(str(data["renew_checkout"])))
            if first is None:
                raise CheckoutError("the tenant's first checkout is gone")
            checkout = await start_renewal(deps.store, deps.settings, buyer, str(data["plan"]), first)
        else:
            checkout = await start_new(
                deps.store,
                deps.kube,
                deps.settings,
                buyer,
                str(data["plan"]),
                data["token"],
                data.get("bot_id"),
            )
    except (CheckoutError, KubeError) as exc:
        log_event(log, "checkout failed", logging.WARNING, user_id=user_id, error=type(exc).__name__)
        await message.answer(texts.text(code, "checkout_failed"))
        return
    await state.clear()  # drops the token from the FSM storage too
    await _pay(message, deps, checkout, code)


async def auto_renewal_choice(
    query: CallbackQuery, callback_data: keyboards.AutoRenewalChoice, state: FSMContext, deps: SalesDeps
) -> None:
    await query.answer()
    data = await state.get_data()
    if not isinstance(query.message, Message) or not data.get("plan"):
        return  # a tap on an old question: the conversation is over
    await state.update_data(auto=callback_data.on)
    await _after_details(query.message, state, deps, query.from_user.id, _code(query))


async def _pay(message: Message, deps: SalesDeps, checkout: Checkout, code: str | None) -> None:
    try:
        url = await create_payment(deps.store, deps.yookassa, deps.settings, checkout)
    except AlreadyPaid:
        await message.answer(texts.text(code, "already_paid"))
        return
    except YooKassaUnavailable:
        await message.answer(
            texts.text(code, "payment_unavailable"), reply_markup=keyboards.retry(str(checkout.id), code)
        )
        return
    except (YooKassaError, CheckoutError) as exc:
        log_event(log, "payment refused", logging.ERROR, checkout_id=str(checkout.id), error=str(exc)[:200])
        await message.answer(texts.text(code, "checkout_failed"))
        return
    amount = f"{checkout.amount:.2f}"
    await message.answer(
        texts.text(
            code,
            "pay",
            company=checkout.company_name,
            plan=checkout.plan,
            days=checkout.days,
            amount=amount,
            currency=checkout.currency,
        ),
        reply_markup=keyboards.pay(url, amount, checkout.currency, code),
    )


async def retry_payment(query: CallbackQuery, callback_data: keyboards.RetryPayment, deps: SalesDeps) -> None:
    await query.answer()
    try:
        checkout = await deps.store.checkout(uuid.UUID(callback_data.checkout))
    except ValueError:
        return
    if (
        checkout is None
        or checkout.telegram_user_id != query.from_user.id
        or not isinstance(query.message, Message)
    ):
        return
    code = _code(query)
    if checkout.status == "applied":
        await query.message.answer(texts.text(code, "already_paid"))
        return
    if datetime.datetime.now(tz=datetime.UTC) - checkout.created_at > RETRY_ALLOWED_FOR:
        await query.message.answer(texts.text(code, "retry_expired"))
        return
    await _pay(query.message, deps, checkout, code)  # looks the payment up first: never a second payment


async def _forget(message: Message, bot: Bot) -> None:
    with contextlib.suppress(TelegramBadRequest):
        await bot.delete_message(chat_id=message.chat.id, message_id=message.message_id)
