"""A checkout: one owner's intent to buy or renew, and the one YooKassa payment for it.

The checkout row is written before the payment is created and holds the Idempotence-Key,
so a retry after a timeout or a crash asks YooKassa for the *same* payment, never a second
one. A new tenant's clientId (and so its object name) is fixed here, which is what makes
concurrent notification deliveries race for one name rather than create two tenants. The
bot token goes straight into a Kubernetes Secret; the database holds only its name.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from yookassa.domain.request import PaymentRequest

from booking_contract.client_id import tenant_name
from booking_contract.crd import token_secret_name
from booking_webhook.core.config import Plan, Settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.naming import new_client_id
from booking_webhook.store import Checkout, Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)


class CheckoutError(Exception):
    """The checkout cannot be made (unknown plan, no free clientId, ...)."""


@dataclass(frozen=True)
class Buyer:
    telegram_user_id: int
    chat_id: int
    company_name: str
    receipt_email: str | None = None


def payment_request(settings: Settings, checkout: Checkout) -> dict[str, Any]:
    """The body of POST /v3/payments, validated by the yookassa SDK's request model."""
    amount = {"value": f"{checkout.amount:.2f}", "currency": checkout.currency}
    description = f"Бот записи «{checkout.company_name}», тариф {checkout.plan}"[:128]
    body: dict[str, Any] = {
        "amount": amount,
        "capture": True,
        "confirmation": {
            "type": "redirect",
            "return_url": f"{settings.public_url.rstrip('/')}/pay/return/{checkout.return_token}",
        },
        "description": description,
        "metadata": {
            "checkout_id": str(checkout.id),
            "plan": checkout.plan,
            "days": str(checkout.days),
            "user_id": str(checkout.telegram_user_id),
            "kind": checkout.kind,
        },
    }
    if settings.yookassa_receipt_enabled:
        if not checkout.receipt_email:
            raise CheckoutError("a receipt e-mail is required")
        body["receipt"] = {
            "customer": {"email": checkout.receipt_email},
            "items": [
                {
                    "description": description,
                    "quantity": "1.00",
                    "amount": amount,
                    "vat_code": settings.yookassa_vat_code,
                    "payment_mode": "full_payment",
                    "payment_subject": "service",
                }
            ],
        }
    request = PaymentRequest(body)
    request.validate()
    return {k: v for k, v in dict(request).items() if v not in ([], None)}


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
    client_id = await _free_client_id(store, kube)
    name = tenant_name(client_id)
    secret = token_secret_name(name)
    await kube.create_token_secret(secret, bot_token, {"bookingsaas.dev/client-id": client_id})
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
        receipt_email=buyer.receipt_email,
        idempotence_key=uuid.uuid4(),
        return_token=secrets.token_urlsafe(24),
        namespace=settings.tenant_namespace,
    )


async def start_renewal(
    store: Store, settings: Settings, buyer: Buyer, plan_name: str, tenant: Checkout
) -> Checkout:
    """Record a renewal of an existing tenant (named by the checkout that created it)."""
    plan = _plan(settings, plan_name)
    return await store.create_checkout(
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
        receipt_email=buyer.receipt_email,
        idempotence_key=uuid.uuid4(),
        return_token=secrets.token_urlsafe(24),
        namespace=settings.tenant_namespace,
    )


async def create_payment(
    store: Store, yookassa: YooKassaClient, settings: Settings, checkout: Checkout
) -> str:
    """Create (or, on a retry, get back) the checkout's payment; return its confirmation URL."""
    request = payment_request(settings, checkout)
    payment = await yookassa.create_payment(request, str(checkout.idempotence_key))
    confirmation_url = str((payment.get("confirmation") or {}).get("confirmation_url") or "")
    await store.attach_payment(checkout.id, str(payment["id"]), confirmation_url)
    log_event(
        log, "payment created", checkout_id=str(checkout.id), payment_id=payment["id"], plan=checkout.plan
    )
    return confirmation_url
