"""Keyboards and versioned callback data of the sales bot."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    KeyboardButtonRequestManagedBot,
    ReplyKeyboardMarkup,
)

from booking_webhook.core.config import Plan
from booking_webhook.salesbot import texts, zones


class PlanChoice(CallbackData, prefix="plan1"):
    plan: str
    tenant: str = ""  # empty: a new bot; else the tenant (object name) to renew


class RenewChoice(CallbackData, prefix="renew1"):
    tenant: str


class RetryPayment(CallbackData, prefix="retry1"):
    checkout: str


class AutoRenewalChoice(CallbackData, prefix="auto1"):
    on: bool


class AutoRenewalOff(CallbackData, prefix="autooff1"):
    tenant: str


class ZoneChoice(CallbackData, prefix="zone1"):
    index: int  # into zones.RUSSIA


def time_zones(language_code: str | None) -> InlineKeyboardMarkup:
    """Russia's zones, two a row; any other zone is typed."""
    buttons = [
        InlineKeyboardButton(text=zones.label(i, language_code), callback_data=ZoneChoice(index=i).pack())
        for i in range(len(zones.RUSSIA))
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons[i : i + 2] for i in range(0, len(buttons), 2)])


def autorenewal_choice(code: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.text(code, "auto_yes"), callback_data=AutoRenewalChoice(on=True).pack()
                )
            ],
            [
                InlineKeyboardButton(
                    text=texts.text(code, "auto_no"), callback_data=AutoRenewalChoice(on=False).pack()
                )
            ],
        ]
    )


def autorenewals_off(tenants: list[tuple[str, str]], code: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=f"{texts.text(code, 'auto_off_button')}: {company}"[:64],
                    callback_data=AutoRenewalOff(tenant=name).pack(),
                )
            ]
            for name, company in tenants
        ]
    )


def plans(plans: dict[str, Plan], tenant: str = "") -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                text=f"{plan.title or name} — {plan.amount_str} {plan.currency}",
                callback_data=PlanChoice(plan=name, tenant=tenant).pack(),
            )
        ]
        for name, plan in plans.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def renewals(tenants: list[tuple[str, str]], code: str | None) -> list[list[InlineKeyboardButton]]:
    return [
        [
            InlineKeyboardButton(
                text=f"{texts.text(code, 'renew_offer')}: {company}"[:64],
                callback_data=RenewChoice(tenant=name).pack(),
            )
        ]
        for name, company in tenants
    ]


def managed_bot(company: str, code: str | None) -> ReplyKeyboardMarkup:
    button = KeyboardButton(
        text=texts.text(code, "managed_button"),
        request_managed_bot=KeyboardButtonRequestManagedBot(request_id=1, suggested_name=company[:64]),
    )
    return ReplyKeyboardMarkup(keyboard=[[button]], resize_keyboard=True, one_time_keyboard=True)


def pay(url: str, amount: str, currency: str, code: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.text(code, "pay_button", amount=amount, currency=currency), url=url
                )
            ]
        ]
    )


def renew_now(plan_name: str, plan: Plan, tenant: str, code: str | None = None) -> InlineKeyboardMarkup:
    """One tap from a reminder to the payment link of a renewal on the same plan; ``code``: the
    owner's language as their checkout recorded it."""
    text = texts.text(
        code, "renew_now", title=plan.title or plan_name, amount=plan.amount_str, currency=plan.currency
    )
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=text[:64], callback_data=PlanChoice(plan=plan_name, tenant=tenant).pack()
                )
            ]
        ]
    )


def retry(checkout_id: str, code: str | None) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(
                    text=texts.text(code, "retry_button"),
                    callback_data=RetryPayment(checkout=checkout_id).pack(),
                )
            ]
        ]
    )


def continue_payment(url: str, company: str, code: str | None) -> list[InlineKeyboardButton]:
    return [InlineKeyboardButton(text=f"{texts.text(code, 'continue_payment')}: {company}"[:64], url=url)]
