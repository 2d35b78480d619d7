"""Alerts: what needs a human, raised where an operator looks.

Money that arrived but was not applied (tenant deleted, wrong owner, a test payment in a live
shop, a price that does not match) and notifications the background pass gave up on are each
one ERROR log event (JSON, with the payment and tenant) and one increment of
`booking_webhook_alerts_total{reason}`; the ledger keeps such payments as
`status = 'succeeded' AND outcome = 'rejected'` with the reason, which
`booking_webhook_payments_needing_attention` counts. docs/payments.md has the alert rule.
"""

from __future__ import annotations

import logging
from typing import Any

from booking_webhook.core.logging import log_event
from booking_webhook.metrics import Metrics

log = logging.getLogger(__name__)

PAID_NOT_APPLIED = "paid_not_applied"
TEST_PAYMENT_REFUSED = "test_payment_refused"
NOTIFICATION_GIVEN_UP = "notification_given_up"


def raise_alert(metrics: Metrics, alert: str, event: str, **fields: Any) -> None:
    metrics.alerts.labels(reason=alert).inc()
    log_event(log, event, logging.ERROR, alert=alert, **fields)
