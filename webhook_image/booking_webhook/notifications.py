"""What a YooKassa notification means for us, confirmed against the API.

The notification body only tells us *which* object to look at; everything we act on comes
from fetching that object from the YooKassa API with our own credentials.

A payment the API confirms as paid is money taken: if it cannot be applied (its tenant is gone,
a test payment in a live shop, a price that does not match) it is still answered 200 - a retry
will not change it - but raises an alert and stays in the ledger as needing a human. Any paid
payment of one of our checkouts is applied, including one from an earlier attempt of the same
checkout (it then extends the tenant): a buyer who paid twice gets both periods, not one.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from booking_webhook.alerts import PAID_NOT_APPLIED, TEST_PAYMENT_REFUSED, raise_alert
from booking_webhook.autorenewal import saved_method
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.ledger import Ledger, api_time, money
from booking_webhook.metrics import Metrics
from booking_webhook.store import Checkout, Store
from booking_webhook.tenants import (
    ConfirmedPayment,
    ConfirmedRefund,
    PaymentOutcome,
    PaymentRejected,
    apply_payment,
    apply_refund,
    refund_days,
)
from booking_webhook.yookassa_api import PaymentNotFound, YooKassaClient

log = logging.getLogger(__name__)

PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_CANCELED = "payment.canceled"
REFUND_SUCCEEDED = "refund.succeeded"
HANDLED_EVENTS = frozenset({PAYMENT_SUCCEEDED, PAYMENT_CANCELED, REFUND_SUCCEEDED})
# Outcomes after which a redelivery needs no work. "rejected" is not one: a notification refused
# while the API said otherwise (or a forged early one) must not block the genuine one later.
FINAL_OUTCOMES = frozenset({"created", "extended", "duplicate", "canceled", "refunded"})


class Rejected(Exception):
    """The notification does not hold up against the API: acknowledge it and do nothing."""


@dataclass
class Clients:
    store: Store
    kube: Kube
    yookassa: YooKassaClient
    metrics: Metrics
    test_shop: bool = False  # YOOKASSA_TEST_SHOP: accept payments that carry `test: true`


async def _our_checkout(clients: Clients, payment: dict[str, Any]) -> Checkout:
    metadata = payment.get("metadata") or {}
    try:
        checkout_id = uuid.UUID(str(metadata.get("checkout_id")))
    except ValueError:
        raise Rejected("payment has no checkout of ours") from None
    checkout = await clients.store.checkout(checkout_id)
    if checkout is None:
        raise Rejected("payment names an unknown checkout")
    return checkout


async def _fetch_payment(clients: Clients, payment_id: str) -> dict[str, Any]:
    try:
        payment = await clients.yookassa.get_payment(payment_id)
    except PaymentNotFound:
        raise Rejected("payment unknown to the YooKassa API") from None
    if str(payment.get("id")) != payment_id:
        raise Rejected("the API answered about another payment")
    return payment


async def process(clients: Clients, event: str, object_id: str) -> tuple[str, str | None]:
    """Return (outcome, why it was rejected); raise a transient error (Kube/YooKassa unavailable)."""
    try:
        if event == PAYMENT_SUCCEEDED:
            return await _payment_succeeded(clients, object_id), None
        if event == PAYMENT_CANCELED:
            return await _payment_canceled(clients, object_id), None
        if event == REFUND_SUCCEEDED:
            return await _refund_succeeded(clients, object_id), None
    except Rejected as exc:
        log_event(
            log,
            "notification rejected",
            logging.WARNING,
            notification_event=event,
            object_id=object_id,
            reason=str(exc),
        )
        return "rejected", str(exc)
    return "ignored", None


async def _payment_succeeded(clients: Clients, payment_id: str) -> str:
    payment = await _fetch_payment(clients, payment_id)
    if payment.get("status") != "succeeded" or payment.get("paid") is False:
        raise Rejected(f"payment status is {payment.get('status')!r}, not 'succeeded'")
    checkout: Checkout | None = None
    try:
        checkout = await _our_checkout(clients, payment)
        return await _apply_paid(clients, payment, checkout)
    except (Rejected, PaymentRejected) as exc:
        await _paid_but_not_applied(clients, payment, checkout, str(exc))
        raise Rejected(str(exc)) from None


async def _apply_paid(clients: Clients, payment: dict[str, Any], checkout: Checkout) -> str:
    if payment.get("test") is True and not clients.test_shop:
        raise Rejected("a test payment, and YOOKASSA_TEST_SHOP is off")
    metadata = payment.get("metadata") or {}
    amount = payment.get("amount") if isinstance(payment.get("amount"), dict) else {}
    if metadata.get("plan") != checkout.plan:
        raise Rejected("payment plan differs from its checkout")
    value, currency = money((amount or {}).get("value")), (amount or {}).get("currency")
    if value != checkout.amount or currency != checkout.currency:
        raise Rejected("payment amount or currency differs from the plan's price")
    confirmed = ConfirmedPayment(
        id=str(payment["id"]),
        plan=checkout.plan,
        days=checkout.days,
        amount=f"{checkout.amount:.2f}",
        currency=checkout.currency,
    )
    applied = await apply_payment(clients.kube, checkout, confirmed)
    method = saved_method(payment)
    if checkout.save_payment_method and method is not None:  # the owner opted in to auto-renewal
        await clients.store.save_autorenewal(checkout, method[0], method[1], checkout.plan)
    period = (applied.period_start, applied.period_end)
    await asyncio.gather(  # two independent records of one fact: the checkout's and the ledger's
        clients.store.mark_applied(checkout.id, confirmed.id),
        Ledger(clients.store).seen(payment, checkout, applied=period),
    )
    if applied.outcome is PaymentOutcome.CREATED:
        clients.metrics.tenants_created.inc()
    elif applied.outcome is PaymentOutcome.EXTENDED:
        clients.metrics.tenants_extended.inc()
    return applied.outcome.value


async def _paid_but_not_applied(
    clients: Clients, payment: dict[str, Any], checkout: Checkout | None, reason: str
) -> None:
    """Money was taken and nothing was delivered: the ledger and an alert say so."""
    ledger = Ledger(clients.store)
    await ledger.seen(payment, checkout)
    await ledger.rejected(str(payment["id"]), reason)
    amount = payment.get("amount") if isinstance(payment.get("amount"), dict) else {}
    raise_alert(
        clients.metrics,
        TEST_PAYMENT_REFUSED if payment.get("test") is True and not clients.test_shop else PAID_NOT_APPLIED,
        "paid payment not applied",
        payment_id=str(payment["id"]),
        tenant=checkout.tenant_name if checkout else None,
        amount=str((amount or {}).get("value")),
        reason=reason,
    )


async def _payment_canceled(clients: Clients, payment_id: str) -> str:
    payment = await _fetch_payment(clients, payment_id)
    if payment.get("status") != "canceled":
        raise Rejected(f"payment status is {payment.get('status')!r}, not 'canceled'")
    checkout = await _our_checkout(clients, payment)
    reason = str((payment.get("cancellation_details") or {}).get("reason") or "canceled")[:100]
    ledger = Ledger(clients.store)
    await ledger.seen(payment, checkout)
    await ledger.canceled(payment_id, reason)
    await clients.store.mark_canceled(checkout.id, payment_id, reason)
    return "canceled"


async def _refund_succeeded(clients: Clients, refund_id: str) -> str:
    try:
        refund = await clients.yookassa.get_refund(refund_id)
    except PaymentNotFound:
        raise Rejected("refund unknown to the YooKassa API") from None
    if refund.get("status") != "succeeded":
        raise Rejected(f"refund status is {refund.get('status')!r}")
    payment = await _fetch_payment(clients, str(refund.get("payment_id") or ""))
    checkout = await _our_checkout(clients, payment)
    amount = refund.get("amount") if isinstance(refund.get("amount"), dict) else {}
    value = money((amount or {}).get("value"))
    if value is None:
        raise Rejected("refund has no amount")
    currency = str((amount or {}).get("currency") or "")
    if await clients.store.record_refund(
        refund_id,
        str(payment["id"]),
        checkout.id,
        value,
        currency,
        checkout.tenant_name,
        api_time(refund.get("created_at")),
    ):
        clients.metrics.refunds.inc()
        log_event(
            log,
            "refund recorded",
            refund_id=refund_id,
            payment_id=payment["id"],
            amount=str(value),
            tenant=checkout.tenant_name,
        )
    paid = money((payment.get("amount") or {}).get("value")) or checkout.amount
    days = refund_days(value, paid, checkout.days)
    confirmed = ConfirmedRefund(refund_id, str(payment["id"]), days, f"{value:.2f}", currency)
    applied = await apply_refund(clients.kube, checkout.tenant_name, confirmed)
    await clients.store.refund_applied(refund_id, applied.days if applied is not None else None)
    return "refunded"


async def reconcile_payment(clients: Clients, payment_id: str) -> str | None:
    """Ask the API about a payment whose notification has not arrived (yet) and act as if it had.

    Used when the buyer is back on the return page: a delayed or lost notification then costs
    nothing. Exactly-once holds because applying is idempotent.
    """
    payment = await clients.yookassa.get_payment(payment_id)
    if payment.get("status") == "succeeded":
        return (await process(clients, PAYMENT_SUCCEEDED, payment_id))[0]
    if payment.get("status") == "canceled":
        return (await process(clients, PAYMENT_CANCELED, payment_id))[0]
    return None
