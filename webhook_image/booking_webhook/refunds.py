"""Issuing a refund through YooKassa: `python -m booking_webhook refund <payment id> [amount]`.

The request's Idempotence-Key is stored in `platform.refund_requests` before YooKassa is asked,
and the same command run again (after a timeout, a lost answer) reuses it, so it never refunds
twice. Nothing changes in the tenant here: the effect - `paidUntil` shortened by the refund's
share of the payment's days (`tenants.refund_days`) - comes from the `refund.succeeded`
notification (or the reconciliation pass), the one path every refund takes, including those
made in the YooKassa dashboard. When the answer already says `succeeded` the webhook's path is
run at once, so the owner's period is right before the command returns.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from booking_webhook.checkout import CheckoutError, receipt
from booking_webhook.core.config import Settings
from booking_webhook.core.logging import log_event
from booking_webhook.ledger import Ledger, money
from booking_webhook.store import Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)


class RefundRefused(Exception):
    """The refund cannot be asked for (unknown payment, not paid, more than is left)."""


@dataclass(frozen=True)
class RefundRequest:
    payment_id: str
    amount: Decimal | None  # None: everything not refunded yet
    reason: str


async def issue_refund(
    store: Store, yookassa: YooKassaClient, settings: Settings, request: RefundRequest
) -> dict[str, Any]:
    """Ask YooKassa to refund (part of) one of our payments; returns the refund object."""
    ledger = Ledger(store)
    row = await ledger.payment(request.payment_id)
    if row is None or row["checkout_id"] is None:
        raise RefundRefused(f"payment {request.payment_id} is not in the ledger")
    payment = await yookassa.get_payment(request.payment_id)
    if payment.get("status") != "succeeded":
        raise RefundRefused(f"payment status is {payment.get('status')!r}, not 'succeeded'")
    paid = money((payment.get("amount") or {}).get("value")) or Decimal(0)
    refunded = money((payment.get("refunded_amount") or {}).get("value")) or Decimal(0)
    left = paid - refunded
    amount = left if request.amount is None else request.amount
    if amount <= 0 or amount > left or amount != amount.quantize(Decimal("0.01")):
        raise RefundRefused(f"refund amount must be 0.01..{left:.2f}")
    currency = str((payment.get("amount") or {}).get("currency"))
    body: dict[str, Any] = {
        "payment_id": request.payment_id,
        "amount": {"value": f"{amount:.2f}", "currency": currency},
        "description": request.reason[:250],
    }
    if settings.yookassa_receipt_enabled:
        checkout = await store.checkout(row["checkout_id"])
        if checkout is None:
            raise RefundRefused("the payment's checkout is gone")
        try:
            body["receipt"] = receipt(
                settings, checkout, f"Возврат: {checkout.company_name}, тариф {checkout.plan}", body["amount"]
            )
        except CheckoutError as exc:
            raise RefundRefused(str(exc)) from None
    key = await ledger.open_refund_request(request.payment_id, amount, currency, request.reason)
    refund = await yookassa.create_refund(body, str(key))
    await ledger.refund_request_done(key, refund)
    log_event(
        log,
        "refund requested",
        payment_id=request.payment_id,
        refund_id=refund.get("id"),
        amount=f"{amount:.2f}",
        status=refund.get("status"),
        tenant=row["tenant_name"],
    )
    return refund
