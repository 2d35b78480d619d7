"""A row of `platform.checkouts` and the rule its status follows (the database enforces it)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal

import asyncpg

CHECKOUT_COLUMNS = (
    "id, kind, telegram_user_id, chat_id, plan, days, amount, currency, company_name, client_id, "
    "tenant_name, token_secret_name, receipt_email, idempotence_key, return_token, payment_id, "
    "confirmation_url, status, status_message, refunded_amount, created_at, namespace, bot_id, "
    "receipt_phone, save_payment_method, payment_method_id, auto_for_paid_until, time_zone, language"
)

# The checkout state machine: a status may be entered only from these states.
#   created --payment attached--> pending --paid--> applied (final)
#   pending --its payment canceled--> canceled --a new attempt's payment--> pending
#   created | pending | canceled --a paid payment of the checkout--> applied
CHECKOUT_TRANSITIONS: dict[str, tuple[str, ...]] = {
    "pending": ("created", "pending", "canceled"),
    "canceled": ("created", "pending"),
    "applied": ("created", "pending", "canceled"),
}


@dataclass(frozen=True)
class Checkout:
    id: uuid.UUID
    kind: str
    telegram_user_id: int
    chat_id: int
    plan: str
    days: int
    amount: Decimal
    currency: str
    company_name: str
    client_id: str
    tenant_name: str
    token_secret_name: str | None
    receipt_email: str | None
    idempotence_key: uuid.UUID
    return_token: str
    payment_id: str | None
    confirmation_url: str | None
    status: str
    status_message: str | None
    refunded_amount: Decimal
    created_at: datetime.datetime
    namespace: str | None  # the TENANT_NAMESPACE the tenant lives in
    bot_id: int | None  # the owner's bot (Telegram user id), from getMe
    receipt_phone: str | None = None
    save_payment_method: bool = False  # the owner opted in to auto-renewal with this payment
    payment_method_id: str | None = None  # an auto-renewal charge of this saved method
    auto_for_paid_until: str | None = None  # the period end an auto-renewal charge is for
    time_zone: str | None = None  # the business's IANA zone (a new bot): the tenant's spec.timezone
    language: str | None = None  # the owner's Telegram language_code: notices sent later use it

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Checkout:
        return cls(**dict(row))
