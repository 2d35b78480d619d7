"""A checkout: one owner's intent to buy or renew, and the YooKassa payment attempts for it.

Each payment attempt's Idempotence-Key is written to the ledger before the payment is created,
so a retry after a timeout or a crash asks YooKassa for the *same* payment, never a second
one. YooKassa forgets a key after 24 hours, so a retry never relies on the key alone: when the
checkout already has a payment, that payment is looked up first and reused while it is still
payable; only a payment known to be canceled (expired) gets a new attempt with a fresh key.

A new tenant's clientId (and so its object name) is fixed here, which is what makes
concurrent notification deliveries race for one name rather than create two tenants. The
bot token goes straight into a Kubernetes Secret, in the token namespace (kube.py); the database
holds only its name.
"""

from __future__ import annotations

import datetime
import logging
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from yookassa.domain.request import PaymentRequest

from booking_contract import crd
from booking_contract.client_id import tenant_name
from booking_contract.crd import token_secret_name
from booking_webhook.core.config import Plan, Settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.ledger import IDEMPOTENCE_KEY_REUSE_FOR, Ledger
from booking_webhook.naming import new_client_id
from booking_webhook.store import Checkout, Store
from booking_webhook.yookassa_api import PaymentNotFound, YooKassaClient

log = logging.getLogger(__name__)


class CheckoutError(Exception):
    """The checkout cannot be made (unknown plan, no free clientId, ...)."""


class AlreadyPaid(CheckoutError):
    """The checkout's payment went through: there is nothing more to pay."""


EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,}$")
PHONE_RE = re.compile(r"^[1-9][0-9]{10,14}$")  # ITU-T E.164 digits, as YooKassa's receipt wants them


def normalize_phone(text: str) -> str | None:
    """'+7 (900) 123-45-67' -> '79001234567'; None if it is not a phone number."""
    digits = re.sub(r"[\s()+-]", "", text.strip())
    if digits.startswith("8") and len(digits) == 11:  # the Russian trunk prefix
        digits = "7" + digits[1:]
    return digits if PHONE_RE.fullmatch(digits) else None


@dataclass(frozen=True)
class Buyer:
    telegram_user_id: int
    chat_id: int
    company_name: str
    receipt_email: str | None = None
    receipt_phone: str | None = None
    auto_renewal: bool = False  # opted in: save the payment method and charge it before the end
    time_zone: str | None = None  # a new bot's IANA zone, checked by crd.valid_timezone
    language: str | None = None  # the owner's Telegram language_code (salesbot/texts.py)


def payment_request(settings: Settings, checkout: Checkout) -> dict[str, Any]:
    """The body of POST /v3/payments, validated by the yookassa SDK's request model."""
    amount = {"value": f"{checkout.amount:.2f}", "currency": checkout.currency}
    description = f"Бот записи «{checkout.company_name}», тариф {checkout.plan}"[:128]
    body: dict[str, Any] = {
        "amount": amount,
        "capture": True,
        "description": description,
        "metadata": {
            "checkout_id": str(checkout.id),
            "plan": checkout.plan,
            "days": str(checkout.days),
            "user_id": str(checkout.telegram_user_id),
            "kind": checkout.kind,
        },
    }
    if checkout.payment_method_id:  # an auto-renewal charge: no buyer in the loop
        body["payment_method_id"] = checkout.payment_method_id
    else:
        body["confirmation"] = {
            "type": "redirect",
            "return_url": f"{settings.public_url.rstrip('/')}/pay/return/{checkout.return_token}",
        }
    if checkout.save_payment_method:
        body["save_payment_method"] = True
    if settings.yookassa_receipt_enabled:
        body["receipt"] = receipt(settings, checkout, description, amount)
    request = PaymentRequest(body)
    request.validate()
    return {k: v for k, v in dict(request).items() if v not in ([], None)}


def receipt(
    settings: Settings, checkout: Checkout, description: str, amount: dict[str, str]
) -> dict[str, Any]:
    """The 54-FZ receipt of a payment or a refund: one service item, the customer's contact."""
    customer: dict[str, str] = {}
    if checkout.receipt_email:
        if not EMAIL_RE.fullmatch(checkout.receipt_email):
            raise CheckoutError("the receipt e-mail is malformed")
        customer["email"] = checkout.receipt_email
    if checkout.receipt_phone:
        if not PHONE_RE.fullmatch(checkout.receipt_phone):
            raise CheckoutError("the receipt phone is malformed")
        customer["phone"] = checkout.receipt_phone
    if not customer:
        raise CheckoutError("a receipt needs the customer's e-mail or phone")
    body: dict[str, Any] = {
        "customer": customer,
        "items": [
            {
                "description": description[:128],
                "quantity": "1.00",
                "amount": amount,
                "vat_code": settings.yookassa_vat_code,
                "payment_mode": settings.yookassa_receipt_payment_mode,
                "payment_subject": settings.yookassa_receipt_payment_subject,
            }
        ],
    }
    if settings.yookassa_tax_system_code is not None:
        body["tax_system_code"] = settings.yookassa_tax_system_code
    return body


def _plan(settings: Settings, plan_name: str) -> Plan:
    plan = settings.plans.get(plan_name)
    if plan is None:
        raise CheckoutError(f"unknown plan {plan_name!r}")
    return plan


async def _free_client_id(store: Store, kube: Kube) -> str:
    for _ in range(5):
        client_id = new_client_id()
        if (
            not await store.client_id_taken(client_id)
            and await kube.get_tenant(tenant_name(client_id)) is None
        ):
            return client_id
    raise CheckoutError("no free clientId")


async def start_new(
    store: Store,
    kube: Kube,
    settings: Settings,
    buyer: Buyer,
    plan_name: str,
    bot_token: str,
    bot_id: int | None = None,
) -> Checkout:
    """Record a purchase of a new bot; store its token in a Secret. No payment yet."""
    plan = _plan(settings, plan_name)
    if buyer.time_zone is not None and not crd.valid_timezone(buyer.time_zone):
        raise CheckoutError(f"unknown time zone {buyer.time_zone!r}")
    client_id = await _free_client_id(store, kube)
    name = tenant_name(client_id)
    secret = token_secret_name(name)
    await kube.create_token_secret(secret, bot_token, name, client_id)
    return await store.create_checkout(
        id=uuid.uuid4(),
        kind="new",
        telegram_user_id=buyer.telegram_user_id,
        chat_id=buyer.chat_id,
        plan=plan_name,
        days=plan.days,
        amount=plan.amount,
        currency=plan.currency,
        company_name=buyer.company_name,
        client_id=client_id,
        tenant_name=name,
        token_secret_name=secret,
        bot_id=bot_id,
        time_zone=buyer.time_zone,
        language=buyer.language,
        receipt_email=buyer.receipt_email,
        receipt_phone=buyer.receipt_phone,
        save_payment_method=buyer.auto_renewal,
        idempotence_key=uuid.uuid4(),
        return_token=secrets.token_urlsafe(24),
        namespace=settings.tenant_namespace,
    )


def renewal_fields(settings: Settings, buyer: Buyer, plan_name: str, tenant: Checkout) -> dict[str, Any]:
    """The row of a renewal checkout of `tenant` (named by the checkout that created it)."""
    plan = _plan(settings, plan_name)
    return dict(
        id=uuid.uuid4(),
        kind="renewal",
        telegram_user_id=buyer.telegram_user_id,
        chat_id=buyer.chat_id,
        plan=plan_name,
        days=plan.days,
        amount=plan.amount,
        currency=plan.currency,
        company_name=tenant.company_name,
        client_id=tenant.client_id,
        tenant_name=tenant.tenant_name,
        token_secret_name=tenant.token_secret_name,
        language=buyer.language,
        receipt_email=buyer.receipt_email,
        receipt_phone=buyer.receipt_phone,
        save_payment_method=buyer.auto_renewal,
        idempotence_key=uuid.uuid4(),
        return_token=secrets.token_urlsafe(24),
        namespace=settings.tenant_namespace,
    )


async def start_renewal(
    store: Store, settings: Settings, buyer: Buyer, plan_name: str, tenant: Checkout
) -> Checkout:
    """Record a renewal of an existing tenant, bought by its owner."""
    return await store.create_checkout(**renewal_fields(settings, buyer, plan_name, tenant))


def _confirmation_url(payment: dict[str, Any]) -> str:
    return str((payment.get("confirmation") or {}).get("confirmation_url") or "")


async def create_payment(
    store: Store, yookassa: YooKassaClient, settings: Settings, checkout: Checkout
) -> str:
    """Create the checkout's payment, or on a retry get the existing one back; return its
    confirmation URL. Raises AlreadyPaid when a payment of the checkout has gone through."""
    current = await store.checkout(checkout.id) or checkout
    if current.status == "applied":
        raise AlreadyPaid("the checkout is paid")
    request = payment_request(settings, current)  # validated (receipt too) before anything is created
    ledger = Ledger(store)
    attempt = await ledger.current_attempt(current)
    payment_id = (attempt.payment_id if attempt else None) or current.payment_id
    if payment_id is not None:
        try:
            existing = await yookassa.get_payment(payment_id)
        except PaymentNotFound:
            existing = {"status": "canceled"}
        status = existing.get("status")
        if status in ("pending", "waiting_for_capture") and (
            _confirmation_url(existing) or current.payment_method_id
        ):
            url = _confirmation_url(existing)
            await store.attach_payment(current.id, payment_id, url)
            return url
        if status == "succeeded":
            raise AlreadyPaid("the checkout's payment has succeeded")
        key = uuid.uuid4()  # canceled (or expired): a new attempt, with a key of its own
    elif (
        attempt is not None
        and attempt.idempotence_key is not None
        and (datetime.datetime.now(tz=datetime.UTC) - attempt.created_at < IDEMPOTENCE_KEY_REUSE_FOR)
    ):
        key = attempt.idempotence_key  # the same request again: YooKassa answers the same payment
    elif attempt is None:
        key = current.idempotence_key
    else:
        # The last creation never answered and its key is about to be forgotten: whatever it may
        # have created was never shown to the buyer, so it cannot be paid.
        key = uuid.uuid4()
    await ledger.open_attempt(current, key)
    payment = await yookassa.create_payment(request, str(key))
    await ledger.attempt_created(key, payment)
    url = _confirmation_url(payment)
    await store.attach_payment(current.id, str(payment["id"]), url)
    log_event(
        log,
        "payment created",
        checkout_id=str(current.id),
        payment_id=payment["id"],
        plan=current.plan,
        tenant=current.tenant_name,
    )
    return url
