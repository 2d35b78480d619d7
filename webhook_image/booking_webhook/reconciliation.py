"""Reconciliation: what YooKassa says was paid (or refunded), compared with what was applied.

A notification can be lost for good (YooKassa gives up after 24 hours of failed deliveries, a
misconfigured URL, a firewall). So every `WEBHOOK_RECONCILE_INTERVAL` one replica (a PostgreSQL
advisory lock picks it) lists the shop's succeeded payments and refunds created in the last
`WEBHOOK_RECONCILE_LOOKBACK_HOURS` (`GET /v3/payments?created_at.gte=...&status=succeeded`,
page by page through `next_cursor`) and feeds each one of ours that the ledger does not show as
settled through the same path a notification takes: recorded in `platform.notifications`
(source address NULL), confirmed with the API, applied exactly once.
"""

from __future__ import annotations

import datetime
import logging

from booking_webhook.core.logging import log_event
from booking_webhook.ledger import Ledger
from booking_webhook.notifications import (
    FINAL_OUTCOMES,
    PAYMENT_SUCCEEDED,
    REFUND_SUCCEEDED,
    Clients,
    process,
)

log = logging.getLogger(__name__)

RECONCILE_LOCK = 0x426F6F6C  # pg_advisory_lock key: one reconciling replica at a time


async def reconcile_once(clients: Clients, lookback: datetime.timedelta) -> int:
    """One pass; returns how many payments and refunds it had to deliver itself."""
    async with clients.store.try_lock(RECONCILE_LOCK) as got:
        if not got:
            clients.metrics.reconcile_passes.labels(result="skipped").inc()
            return 0
        since = datetime.datetime.now(tz=datetime.UTC) - lookback
        ledger = Ledger(clients.store)
        delivered = 0
        async for payment in clients.yookassa.list_payments(since, status="succeeded"):
            payment_id = str(payment["id"])
            metadata = payment.get("metadata")
            if not isinstance(metadata, dict) or not metadata.get("checkout_id"):
                continue  # not made by this platform
            if await ledger.is_settled(payment_id):
                continue
            delivered += await _deliver(clients, PAYMENT_SUCCEEDED, payment_id)
        async for refund in clients.yookassa.list_refunds(since, status="succeeded"):
            refund_id = str(refund["id"])
            if await ledger.payment(str(refund.get("payment_id"))) is None:
                continue  # a refund of a payment that is not ours
            if await clients.store.refund_is_applied(refund_id):
                continue
            delivered += await _deliver(clients, REFUND_SUCCEEDED, refund_id)
        clients.metrics.payments_needing_attention.set(await ledger.needing_attention())
        clients.metrics.reconcile_passes.labels(result="ok").inc()
        return delivered


async def _deliver(clients: Clients, event: str, object_id: str) -> int:
    """Process one found object; an error of this one leaves it to the recovery pass (its row
    stays unfinished) and the pass goes on with the rest."""
    notification_id, previous = await clients.store.record_notification(
        event, object_id, None, {"type": "reconciliation", "event": event, "object": {"id": object_id}}
    )
    try:
        outcome, reason = await process(clients, event, object_id)
    except Exception as exc:  # any error of this object: the others still get their turn
        error = f"{type(exc).__name__}: {exc}"[:300]
        if previous not in FINAL_OUTCOMES:
            await clients.store.finish_notification(notification_id, "retry", error)
        clients.metrics.reconciled.labels(outcome="retry").inc()
        log_event(
            log,
            "reconciliation deferred",
            logging.WARNING,
            notification_event=event,
            object_id=object_id,
            error=error,
        )
        return 0
    if previous not in FINAL_OUTCOMES:
        await clients.store.finish_notification(notification_id, outcome, reason)
    clients.metrics.reconciled.labels(outcome=outcome).inc()
    log_event(
        log,
        "notification reconciled",
        logging.WARNING if previous not in FINAL_OUTCOMES else logging.INFO,
        notification_event=event,
        object_id=object_id,
        outcome=outcome,
        reason=reason,
    )
    return 1
