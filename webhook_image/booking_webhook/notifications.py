"""What a YooKassa notification means for us, confirmed against the API.

The notification body only tells us *which* object to look at; everything we act on comes
from fetching that object from the YooKassa API with our own credentials.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from booking_contract.kube import KubeError
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.metrics import Metrics
from booking_webhook.store import Checkout, Store
from booking_webhook.tenants import ConfirmedPayment, PaymentOutcome, PaymentRejected, apply_payment
from booking_webhook.yookassa_api import PaymentNotFound, YooKassaClient, YooKassaError

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
    """The long-lived clients a notification is checked and applied with, one set per process."""

    store: Store
    kube: Kube
    yookassa: YooKassaClient
    metrics: Metrics


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


async def _our_checkout(clients: Clients, payment: dict[str, Any]) -> Checkout:
    metadata = payment.get("metadata") or {}
    try:
        checkout_id = uuid.UUID(str(metadata.get("checkout_id")))
    except ValueError:
        raise Rejected("payment has no checkout of ours") from None
    checkout = await clients.store.checkout(checkout_id)
    if checkout is None:
        raise Rejected("payment names an unknown checkout")
    if checkout.payment_id not in (None, payment.get("id")):
        raise Rejected("checkout belongs to another payment")
    return checkout


async def _fetch_payment(clients: Clients, payment_id: str) -> dict[str, Any]:
    try:
        return await clients.yookassa.get_payment(payment_id)
    except PaymentNotFound:
        raise Rejected("payment unknown to the YooKassa API") from None


async def process(clients: Clients, event: str, object_id: str) -> tuple[str, str | None]:
    """Return (outcome, why it was rejected); raise a transient error (Kube/YooKassa unavailable)."""
    try:
        if event == PAYMENT_SUCCEEDED:
            return await _payment_succeeded(clients, object_id), None
        if event == PAYMENT_CANCELED:
            return await _payment_canceled(clients, object_id), None
        if event == REFUND_SUCCEEDED:
            return await _refund_succeeded(clients, object_id), None
    except (Rejected, PaymentRejected) as exc:
        # PaymentRejected: the money arrived but cannot be applied (tenant gone, wrong owner):
        # a human must refund or apply it, so it is an error, not a warning.
        log_event(
            log,
            "notification rejected",
            logging.ERROR if isinstance(exc, PaymentRejected) else logging.WARNING,
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
    checkout = await _our_checkout(clients, payment)
    metadata = payment.get("metadata") or {}
    amount = payment.get("amount") or {}
    if metadata.get("plan") != checkout.plan:
        raise Rejected("payment plan differs from its checkout")
    if _decimal(amount.get("value")) != checkout.amount or amount.get("currency") != checkout.currency:
        raise Rejected("payment amount or currency differs from the plan's price")
    confirmed = ConfirmedPayment(
        id=str(payment["id"]),
        plan=checkout.plan,
        days=checkout.days,
        amount=f"{checkout.amount:.2f}",
        currency=checkout.currency,
    )
    outcome = await apply_payment(clients.kube, checkout, confirmed)
    if checkout.payment_id is None:
        await clients.store.attach_payment(checkout.id, confirmed.id, None)
    await clients.store.set_checkout_status(checkout.id, "applied")
    if outcome is PaymentOutcome.CREATED:
        clients.metrics.tenants_created.inc()
    elif outcome is PaymentOutcome.EXTENDED:
        clients.metrics.tenants_extended.inc()
    return outcome.value


async def _payment_canceled(clients: Clients, payment_id: str) -> str:
    payment = await _fetch_payment(clients, payment_id)
    if payment.get("status") != "canceled":
        raise Rejected(f"payment status is {payment.get('status')!r}, not 'canceled'")
    checkout = await _our_checkout(clients, payment)
    if checkout.status != "applied":
        reason = str((payment.get("cancellation_details") or {}).get("reason") or "canceled")[:100]
        await clients.store.set_checkout_status(checkout.id, "canceled", reason)
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
    amount = refund.get("amount") or {}
    value = _decimal(amount.get("value"))
    if value is None:
        raise Rejected("refund has no amount")
    if await clients.store.record_refund(
        refund_id, str(payment["id"]), checkout.id, value, str(amount.get("currency") or "")
    ):
        clients.metrics.refunds.inc()
        log_event(log, "refund recorded", refund_id=refund_id, payment_id=payment["id"], amount=str(value))
    return "refunded"


async def recover_once(clients: Clients, older_than_seconds: float) -> int:
    """Finish notifications that were recorded but never completed (a crash, or a 503 that
    YooKassa stopped redelivering). Safe to run next to live traffic: applying is idempotent."""
    finished = 0
    for row in await clients.store.unfinished_notifications(older_than_seconds):
        try:
            outcome, reason = await process(clients, row["event"], row["object_id"])
        except (KubeError, YooKassaError, TimeoutError):
            continue
        await clients.store.finish_notification(int(row["id"]), outcome, reason)
        clients.metrics.notifications.labels(event=row["event"], outcome=f"recovered_{outcome}").inc()
        finished += 1
    return finished


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
