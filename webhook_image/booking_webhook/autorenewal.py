"""Auto-renewal: charging an owner's saved payment method before the paid period ends.

The owner opts in when paying (`save_payment_method`); when YooKassa confirms the payment with a
saved method, the webhook records it in `platform.autorenewals`. `AUTORENEW_LEAD` before
`spec.paidUntil` the sales bot's pass makes **one** renewal checkout for that period - a unique
index on (tenant, the paidUntil it is for) makes a repeated or concurrent pass, or a restart,
find the same row - and charges the method (`payment_method_id`, no buyer in the loop). The
result comes back as an ordinary `payment.succeeded` / `payment.canceled` and goes through the
webhook's exactly-once path, which moves `paidUntil` and so starts the next period. A declined
charge is retried with a new Idempotence-Key after `RETRY_AFTER`, at most `MAX_ATTEMPTS` times
per period, and only once the previous attempt is known to be canceled, so two charges of one
period can never both go through; an attempt whose creation was never answered is repeated
with its own key (YooKassa returns the same payment).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from booking_contract.times import parse_time
from booking_webhook.checkout import Buyer, create_payment, renewal_fields
from booking_webhook.core.config import Settings
from booking_webhook.core.logging import log_event
from booking_webhook.kube import Kube
from booking_webhook.ledger import IDEMPOTENCE_KEY_REUSE_FOR, Ledger
from booking_webhook.store import Checkout, Store
from booking_webhook.yookassa_api import YooKassaClient

log = logging.getLogger(__name__)

AUTORENEW_LEAD = datetime.timedelta(days=2)  # the 3-day reminder announces the charge first
RETRY_AFTER = datetime.timedelta(hours=6)
MAX_ATTEMPTS = 3


def saved_method(payment: dict[str, Any]) -> tuple[str, str | None] | None:
    """The payment's method if YooKassa saved it for later charges."""
    method = payment.get("payment_method") if isinstance(payment.get("payment_method"), dict) else None
    if not method or method.get("saved") is not True or not method.get("id"):
        return None
    return str(method["id"]), str(method.get("title") or "") or None


async def _period_checkout(
    store: Store, settings: Settings, row: Any, first: Checkout, paid_until: str
) -> Checkout:
    """The one charge checkout of the period ending at `paid_until` (made once, then found)."""
    plan_name = str(row["plan"]) if str(row["plan"]) in settings.plans else first.plan
    buyer = Buyer(
        telegram_user_id=first.telegram_user_id,
        chat_id=first.chat_id,
        company_name=first.company_name,
        receipt_email=first.receipt_email,
        receipt_phone=first.receipt_phone,
        language=first.language,
    )
    fields = renewal_fields(settings, buyer, plan_name, first)
    fields.update(payment_method_id=str(row["payment_method_id"]), auto_for_paid_until=paid_until)
    return await store.create_auto_checkout(**fields)


async def _charge(
    store: Store, yookassa: YooKassaClient, settings: Settings, checkout: Checkout, now: datetime.datetime
) -> str:
    """Charge the period's checkout unless an attempt is paid, still open, or due later."""
    if checkout.status == "applied":
        return "paid"
    ledger = Ledger(store)
    attempt = await ledger.current_attempt(checkout)
    if attempt is not None and attempt.payment_id is not None:
        status = (await yookassa.get_payment(attempt.payment_id)).get("status")
        if status == "succeeded":
            return "paid"  # the webhook applies it (or reconciliation, if its notification is lost)
        if status != "canceled":
            return "waiting"
        if await ledger.attempt_count(checkout) >= MAX_ATTEMPTS:
            return "given_up"
        if now - attempt.created_at < RETRY_AFTER:
            return "waiting"
    elif attempt is not None and now - attempt.created_at >= IDEMPOTENCE_KEY_REUSE_FOR:
        return "given_up"  # a creation never answered for a day: leave it to the owner
    await create_payment(store, yookassa, settings, checkout)
    return "charged"


async def charge_due(
    store: Store,
    kube: Kube,
    yookassa: YooKassaClient,
    settings: Settings,
    now: datetime.datetime | None = None,
) -> int:
    """One pass over the namespace's enabled auto-renewals; returns how many charges it made."""
    now = now or datetime.datetime.now(tz=datetime.UTC)
    charged = 0
    for row in await store.autorenewals(settings.tenant_namespace):
        first = await store.checkout(row["checkout_id"])
        tenant = await kube.get_tenant(str(row["tenant_name"]))
        if first is None or tenant is None or (tenant.get("spec") or {}).get("suspended"):
            continue
        paid_until = str((tenant.get("spec") or {}).get("paidUntil") or "")
        end = parse_time(paid_until)
        if end is None or end - now > AUTORENEW_LEAD:
            continue
        checkout = await _period_checkout(store, settings, row, first, paid_until)
        result = await _charge(store, yookassa, settings, checkout, now)
        log_event(log, "auto-renewal pass", tenant=checkout.tenant_name, paid_until=paid_until, result=result)
        charged += result == "charged"
    return charged
